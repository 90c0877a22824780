/* phx-agent.c — PhxAgent puts the agent together: the budget, the registry, the families
 * with their state (handles, freezer), the dispatcher, the channel and the D-Bus face; it
 * hands each new connection to the dispatcher, keeps the agent's observable state as GObject
 * properties, and runs the way out (thaw first, then the last replies, then "shutdown"). It
 * holds no command logic and nothing calls up into it: it listens to signals. */
#define G_LOG_DOMAIN "phx-agent"

#include "config.h"

#include <glib/gi18n.h>

#include "cmd-agent.h"
#include "cmd-cpumem.h"
#include "cmd-exec.h"
#include "cmd-freeze.h"
#include "cmd-handles.h"
#include "phx-agent.h"
#include "phx-budget.h"
#include "phx-dbus.h"
#include "phx-dispatcher.h"
#include "phx-freeze-state.h"
#include "phx-limits.h"
#include "phx-registry.h"

struct _PhxAgent {
        GObject parent_instance;
        PhxBudget *budget;
        PhxRegistry *registry;
        PhxFreezeState *freezer;
        PhxFilesFamily *files;
        PhxAgentFamily *agent_family;
        PhxDispatcher *dispatcher;
        PhxChannel *channel;     /* the first channel: Method and Path on D-Bus */
        GPtrArray *channels;     /* every PhxChannel, the first included */
        PhxDbus *dbus;
        guint64 started_at;
        gboolean shutting_down;
        guint64 commands_served;
        guint64 commands_failed;
        char *last_command;
};

enum {
        PROP_0,
        PROP_VERSION,
        PROP_METHOD,
        PROP_PATH,
        PROP_HOST_CONNECTED,
        PROP_FROZEN,
        PROP_OPEN_HANDLES,
        PROP_COMMANDS_SERVED,
        PROP_COMMANDS_FAILED,
        PROP_LAST_COMMAND,
        PROP_FROZEN_SINCE,
        PROP_STARTED_AT,
        PROP_CHANNELS,
        N_PROPS
};
static GParamSpec *props[N_PROPS];

enum { SIGNAL_SHUTDOWN, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxAgent, phx_agent, G_TYPE_OBJECT)

static void
finish_shutdown (PhxAgent *self, gboolean thawed)
{
        gint64 deadline = g_get_monotonic_time () + PHX_EXIT_LINGER_MS * 1000;

        /* give the last replies (agent-shutdown's own) a bounded chance to leave */
        for (guint i = 0; i < self->channels->len; i++)
                phx_channel_linger (g_ptr_array_index (self->channels, i),
                                    (guint) MAX (deadline - g_get_monotonic_time (), 0) / 1000);
        g_signal_emit (self, signals[SIGNAL_SHUTDOWN], 0, thawed);
}

static void
on_exit_thawed (GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(PhxAgent) self = user_data;
        g_autoptr(JsonNode) result = NULL;
        g_autoptr(GError) error = NULL;

        result = phx_dispatcher_call_finish (PHX_DISPATCHER (source), res, &error);
        if (result == NULL)
                g_warning (_("thaw before exit failed: %s"), error->message);
        finish_shutdown (self, result != NULL);
}

static gboolean
start_shutdown (gpointer user_data)
{
        PhxAgent *self = user_data;

        /* Never leave the guest frozen: a freeze in progress is waited for (the thaw takes
         * the freeze lane behind it), then everything is thawed. */
        if (phx_freeze_state_get_gate_closed (self->freezer))
                phx_dispatcher_call (self->dispatcher, "fs-unfreeze", NULL, on_exit_thawed, g_object_ref (self));
        else
                finish_shutdown (self, TRUE);
        return G_SOURCE_REMOVE;
}

/* By agent-shutdown or a signal: "shutdown" is emitted once the guest is thawed and the last
 * replies had their chance; its argument says whether the thaw (if one was needed) worked. */
void
phx_agent_shutdown (PhxAgent *self)
{
        if (self->shutting_down)
                return;
        self->shutting_down = TRUE;
        /* at once, so no request that arrives from now on is answered by an agent on its way out */
        for (guint i = 0; i < self->channels->len; i++)
                phx_channel_stop (g_ptr_array_index (self->channels, i));
        /* from the loop: agent-shutdown's own reply is queued first */
        g_idle_add_full (G_PRIORITY_DEFAULT, start_shutdown, g_object_ref (self), g_object_unref);
}

static void
on_shutdown_requested (PhxAgentFamily *family, gpointer user_data)
{
        g_message (_("agent-shutdown requested, exiting"));
        phx_agent_shutdown (user_data);
}

static void
on_auto_thawed (GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(JsonNode) result = NULL;
        g_autoptr(GError) error = NULL;

        result = phx_dispatcher_call_finish (PHX_DISPATCHER (source), res, &error);
        if (result == NULL)
                g_warning (_("auto-thaw: %s; trying again later"), error->message);
}

static void
on_thaw_due (PhxFreezeState *freezer, gpointer user_data)
{
        PhxAgent *self = user_data;

        phx_dispatcher_call (self->dispatcher, "fs-unfreeze", NULL, on_auto_thawed, NULL);
}

static void
on_command_finished (PhxDispatcher *dispatcher, guint ok, const char *name, gpointer user_data)
{
        PhxAgent *self = user_data;

        /* No notify per request (a notify costs more than the ping it counts): these three
         * properties are read when wanted, and D-Bus is told once per request. */
        self->commands_served++;
        if (!ok)
                self->commands_failed++;
        if (name != NULL && g_strcmp0 (name, self->last_command) != 0) {
                g_free (self->last_command);
                self->last_command = g_strdup (name);
        }
        if (self->dbus != NULL)
                phx_dbus_counters_changed (self->dbus);
}

static void
on_connection (PhxChannel *channel, PhxConnection *connection, gpointer user_data)
{
        PhxAgent *self = user_data;

        phx_dispatcher_add_connection (self->dispatcher, connection);
}

/* A part's property of the same name changed: so did the agent's (for D-Bus and logs). */
static void
relay_notify (GObject *part, GParamSpec *pspec, gpointer user_data)
{
        g_object_notify (user_data, pspec->name);
}

/* A channel's host came or went: so did a row of the channel list. */
static void
on_channel_host (GObject *channel, GParamSpec *pspec, gpointer user_data)
{
        g_object_notify_by_pspec (user_data, props[PROP_CHANNELS]);
}

static void
relay (PhxAgent *self, gpointer part, const char *property)
{
        g_autofree char *signal = g_strconcat ("notify::", property, NULL);

        g_signal_connect_object (part, signal, G_CALLBACK (relay_notify), self, 0);
}

/* One channel more; all of them share the dispatcher (one freeze state, one handle table),
 * and each connection's replies go back on it. */
static gboolean
add_channel (PhxAgent *self, const PhxAgentOptions *options, PhxMethod method, const char *path,
             GError **error)
{
        PhxChannel *channel = phx_channel_new (method, path, options->socket_mode, self->budget, error);

        if (channel == NULL)
                return FALSE;
        if (options->request_max > 0)
                phx_channel_set_request_max (channel, options->request_max);
        phx_channel_set_clients (channel, options->clients_max > 0 ? options->clients_max : PHX_CLIENTS_DEFAULT,
                                 options->client_idle_timeout, options->client_stall_timeout);
        phx_channel_set_vsock_any_peer (channel, options->vsock_any_peer);
        g_ptr_array_add (self->channels, channel);
        return TRUE;
}

PhxAgent *
phx_agent_new (const PhxAgentOptions *options, GError **error)
{
        g_autoptr(PhxAgent) self = g_object_new (PHX_TYPE_AGENT, NULL);
        g_autoptr(GError) local = NULL;
        g_autoptr(GPtrArray) families = g_ptr_array_new_with_free_func (g_object_unref);
        guint n_types;
        const GType *types = phx_family_types (&n_types);

        self->registry = phx_registry_new ();
        if (options->dialects != 0)
                phx_registry_set_dialects (self->registry, options->dialects);
        if (!phx_registry_set_enabled (self->registry, options->allow_commands, options->block_commands, error))
                return NULL;
        self->freezer = phx_freeze_state_new (options->freeze_backend != NULL ? options->freeze_backend
                                                                         : phx_freeze_backend_real (),
                                         options->fsfreeze_hook, options->runtime_dir, options->freeze_timeout);
        if (!phx_freeze_state_restore (self->freezer, error))
                return NULL;
        /* Not fatal: everything but fs-freeze works, and fs-freeze refuses (before any
         * FIFREEZE) rather than write its marker to a disk it is freezing. */
        if (options->freeze_backend == NULL && !phx_freeze_check_runtime_dir (options->runtime_dir, &local))
                g_warning (_("%s; fs-freeze will refuse to run"), local->message);
        self->files = phx_files_family_new (PHX_HANDLES_MAX, options->runtime_dir);
        self->agent_family = phx_agent_family_new (self->registry);
        for (guint i = 0; i < n_types; i++) {
                if (types[i] == PHX_TYPE_FILES_FAMILY)
                        g_ptr_array_add (families, g_object_ref (self->files));
                else if (types[i] == PHX_TYPE_AGENT_FAMILY)
                        g_ptr_array_add (families, g_object_ref (self->agent_family));
                else if (types[i] == PHX_TYPE_EXEC_FAMILY)
                        g_ptr_array_add (families, phx_exec_family_new (options->exec_capture_max));
                else if (types[i] == PHX_TYPE_FREEZE_FAMILY)
                        g_ptr_array_add (families, phx_freeze_family_new (self->freezer));
                else if (types[i] == PHX_TYPE_CPUMEM_FAMILY)
                        g_ptr_array_add (families, phx_cpumem_family_new (options->online_hotplug));
                else
                        g_ptr_array_add (families, g_object_new (types[i], NULL));
        }
        self->dispatcher = phx_dispatcher_new (self->registry, families, self->freezer, self->budget);
        if (!add_channel (self, options, options->method, options->path, error))
                return NULL;
        for (guint i = 0; options->channels != NULL && options->channels[i] != NULL; i++) {
                PhxMethod method;
                const char *path;

                if (!phx_method_split (options->channels[i], &method, &path)) {
                        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                     _("channel '%s' is not METHOD:PATH"), options->channels[i]);
                        return NULL;
                }
                if (!add_channel (self, options, method, path, error))
                        return NULL;
        }
        self->channel = g_ptr_array_index (self->channels, 0);

        g_signal_connect_object (self->dispatcher, "command-finished", G_CALLBACK (on_command_finished), self, 0);
        g_signal_connect_object (self->agent_family, "shutdown-requested", G_CALLBACK (on_shutdown_requested),
                                 self, 0);
        g_signal_connect_object (self->freezer, "thaw-due", G_CALLBACK (on_thaw_due), self, 0);
        for (guint i = 0; i < self->channels->len; i++) {
                g_signal_connect_object (g_ptr_array_index (self->channels, i), "connection",
                                         G_CALLBACK (on_connection), self, 0);
                relay (self, g_ptr_array_index (self->channels, i), "host-connected");
                g_signal_connect_object (g_ptr_array_index (self->channels, i), "notify::host-connected",
                                         G_CALLBACK (on_channel_host), self, 0);
        }
        relay (self, self->freezer, "frozen");
        relay (self, self->freezer, "frozen-since");
        relay (self, self->files, "open-handles");
        if (options->dbus)
                self->dbus = phx_dbus_new (G_OBJECT (self), self->dispatcher,
                                           options->dbus_publish_ms > 0 ? options->dbus_publish_ms
                                                                        : PHX_DBUS_PUBLISH_MS);
        for (guint i = 0; i < self->channels->len; i++)
                phx_channel_start (g_ptr_array_index (self->channels, i));
        return g_steal_pointer (&self);
}

static void
phx_agent_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        PhxAgent *self = PHX_AGENT (object);

        switch (prop_id) {
        case PROP_VERSION:
                g_value_set_string (value, PHX_VERSION);
                break;
        case PROP_METHOD:
                g_value_set_string (value, phx_method_to_string (phx_channel_get_method (self->channel)));
                break;
        case PROP_PATH:
                g_value_set_string (value, phx_channel_get_path (self->channel));
                break;
        case PROP_HOST_CONNECTED: {
                gboolean any = FALSE;

                for (guint i = 0; i < self->channels->len; i++)
                        any = any || phx_channel_get_host_connected (g_ptr_array_index (self->channels, i));
                g_value_set_boolean (value, any);
                break;
        }
        case PROP_FROZEN:
                g_value_set_boolean (value, phx_freeze_state_get_frozen (self->freezer));
                break;
        case PROP_OPEN_HANDLES:
                g_value_set_uint (value, phx_files_family_get_open_handles (self->files));
                break;
        case PROP_COMMANDS_SERVED:
                g_value_set_uint64 (value, self->commands_served);
                break;
        case PROP_COMMANDS_FAILED:
                g_value_set_uint64 (value, self->commands_failed);
                break;
        case PROP_LAST_COMMAND:
                g_value_set_string (value, self->last_command != NULL ? self->last_command : "");
                break;
        case PROP_FROZEN_SINCE:
                g_value_set_uint64 (value, (guint64) phx_freeze_state_get_frozen_since (self->freezer));
                break;
        case PROP_STARTED_AT:
                g_value_set_uint64 (value, self->started_at);
                break;
        case PROP_CHANNELS: {
                GVariantBuilder b;

                g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ssb)"));
                for (guint i = 0; i < self->channels->len; i++) {
                        PhxChannel *channel = g_ptr_array_index (self->channels, i);

                        g_variant_builder_add (&b, "(ssb)", phx_method_to_string (phx_channel_get_method (channel)),
                                               phx_channel_get_path (channel),
                                               phx_channel_get_host_connected (channel));
                }
                g_value_set_variant (value, g_variant_builder_end (&b));
                break;
        }
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

static void
phx_agent_dispose (GObject *object)
{
        PhxAgent *self = PHX_AGENT (object);

        g_clear_object (&self->dbus);
        self->channel = NULL;
        g_clear_pointer (&self->channels, g_ptr_array_unref);
        g_clear_object (&self->dispatcher);
        g_clear_object (&self->agent_family);
        g_clear_object (&self->files);
        g_clear_object (&self->freezer);
        g_clear_object (&self->registry);
        g_clear_object (&self->budget);
        G_OBJECT_CLASS (phx_agent_parent_class)->dispose (object);
}

static void
phx_agent_finalize (GObject *object)
{
        PhxAgent *self = PHX_AGENT (object);

        g_free (self->last_command);
        G_OBJECT_CLASS (phx_agent_parent_class)->finalize (object);
}

static void
phx_agent_class_init (PhxAgentClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);
        const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

        object_class->get_property = phx_agent_get_property;
        object_class->dispose = phx_agent_dispose;
        object_class->finalize = phx_agent_finalize;

        props[PROP_VERSION] = g_param_spec_string ("version", NULL, NULL, PHX_VERSION, ro);
        props[PROP_METHOD] = g_param_spec_string ("method", NULL, NULL, NULL, ro);
        props[PROP_PATH] = g_param_spec_string ("path", NULL, NULL, NULL, ro);
        props[PROP_HOST_CONNECTED] = g_param_spec_boolean ("host-connected", NULL, NULL, FALSE, ro);
        props[PROP_FROZEN] = g_param_spec_boolean ("frozen", NULL, NULL, FALSE, ro);
        props[PROP_OPEN_HANDLES] = g_param_spec_uint ("open-handles", NULL, NULL, 0, G_MAXUINT, 0, ro);
        props[PROP_COMMANDS_SERVED] = g_param_spec_uint64 ("commands-served", NULL, NULL, 0, G_MAXUINT64, 0, ro);
        props[PROP_COMMANDS_FAILED] = g_param_spec_uint64 ("commands-failed", NULL, NULL, 0, G_MAXUINT64, 0, ro);
        props[PROP_LAST_COMMAND] = g_param_spec_string ("last-command", NULL, NULL, "", ro);
        props[PROP_FROZEN_SINCE] = g_param_spec_uint64 ("frozen-since", NULL, NULL, 0, G_MAXUINT64, 0, ro);
        props[PROP_STARTED_AT] = g_param_spec_uint64 ("started-at", NULL, NULL, 0, G_MAXUINT64, 0, ro);
        props[PROP_CHANNELS] = g_param_spec_variant ("channels", NULL, NULL, G_VARIANT_TYPE ("a(ssb)"), NULL, ro);
        g_object_class_install_properties (object_class, N_PROPS, props);

        /* The way out is clear (see phx_agent_shutdown); main.c ends the loop on it. The
         * argument is FALSE when the guest could not be thawed first. */
        signals[SIGNAL_SHUTDOWN] = g_signal_new ("shutdown", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                                 NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
}

static void
phx_agent_init (PhxAgent *self)
{
        self->started_at = (guint64) g_get_real_time ();
        self->channels = g_ptr_array_new_with_free_func (g_object_unref);
        self->budget = phx_budget_new (PHX_BUDGET_HIGH, PHX_BUDGET_LOW);
}
