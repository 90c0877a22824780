/* phx-agent.c — PhxAgent owns the channel, the dispatcher and the handle table, and keeps
 * the agent's observable state as GObject properties (for logs now, D-Bus later). It holds
 * no command logic. */
#define G_LOG_DOMAIN "phx-agent"

#include "config.h"

#include <glib/gi18n.h>

#include "phx-agent.h"
#include "phx-dbus.h"
#include "phx-dispatcher.h"
#include "phx-freezer.h"
#include "phx-limits.h"

struct _PhxAgent {
        GObject parent_instance;
        PhxChannel *channel;
        PhxDispatcher *dispatcher;
        PhxHandles *handles;
        PhxFreezer *freezer;
        PhxDbus *dbus;
        guint64 started_at;
        gboolean shutdown_requested;
        gboolean shutdown_emitted;
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
        N_PROPS
};
static GParamSpec *props[N_PROPS];

enum { SIGNAL_SHUTDOWN, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxAgent, phx_agent, G_TYPE_OBJECT)

PhxHandles *
phx_agent_get_handles (PhxAgent *self)
{
        return self->handles;
}

PhxDispatcher *
phx_agent_get_dispatcher (PhxAgent *self)
{
        return self->dispatcher;
}

gboolean
phx_agent_get_frozen (PhxAgent *self)
{
        return phx_freezer_get_frozen (self->freezer);
}

PhxFreezer *
phx_agent_get_freezer (PhxAgent *self)
{
        return self->freezer;
}

/* On the way out, by signal or agent-shutdown: never leave the guest frozen. */
void
phx_agent_prepare_exit (PhxAgent *self)
{
        g_autoptr(GError) error = NULL;

        if (phx_freezer_get_frozen (self->freezer) && !phx_freezer_thaw_now (self->freezer, &error))
                g_warning (_("thaw before exit failed: %s"), error->message);
        phx_channel_linger (self->channel, PHX_EXIT_LINGER_MS);
}

/* A host that half-closed its socket gets every reply, then the connection ends. */
static void
maybe_finish_host (PhxAgent *self)
{
        if (phx_channel_get_peer_eof (self->channel) && phx_channel_get_queued (self->channel) == 0 &&
            phx_dispatcher_get_unanswered (self->dispatcher, phx_channel_get_generation (self->channel)) == 0)
                phx_channel_disconnect (self->channel);
}

static void
maybe_shutdown (PhxAgent *self)
{
        /* agent-shutdown's own reply goes out first; a host that stopped reading cannot
         * keep the agent alive, because its queue is dropped when it goes away. */
        if (self->shutdown_requested && !self->shutdown_emitted &&
            phx_channel_get_queued (self->channel) == 0) {
                self->shutdown_emitted = TRUE;
                g_signal_emit (self, signals[SIGNAL_SHUTDOWN], 0);
        }
}

void
phx_agent_send (PhxAgent *self, guint generation, GBytes *reply)
{
        phx_channel_send (self->channel, generation, reply);
}

void
phx_agent_command_finished (PhxAgent *self, const char *name, gboolean ok)
{
        self->commands_served++;
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_COMMANDS_SERVED]);
        if (!ok) {
                self->commands_failed++;
                g_object_notify_by_pspec (G_OBJECT (self), props[PROP_COMMANDS_FAILED]);
        }
        if (name != NULL && g_strcmp0 (name, self->last_command) != 0) {
                g_free (self->last_command);
                self->last_command = g_strdup (name);
                g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST_COMMAND]);
        }
        maybe_shutdown (self);
}

void
phx_agent_notify_handles (PhxAgent *self)
{
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_OPEN_HANDLES]);
}

/* Stops reading requests while too much is queued either way, and starts again after. */
void
phx_agent_inflight_changed (PhxAgent *self)
{
        gboolean congested = phx_dispatcher_get_inflight_bytes (self->dispatcher) > PHX_OUTPUT_HIGH_WATER ||
                             phx_channel_get_queued (self->channel) > PHX_OUTPUT_HIGH_WATER;

        phx_channel_set_paused (self->channel, congested);
        maybe_finish_host (self);
}

void
phx_agent_request_shutdown (PhxAgent *self)
{
        self->shutdown_requested = TRUE;
}

static void
on_line (GBytes *line, guint generation, gpointer user_data)
{
        PhxAgent *self = user_data;

        phx_dispatcher_feed (self->dispatcher, line, generation);
}

static void
on_overlong (guint generation, gpointer user_data)
{
        PhxAgent *self = user_data;

        phx_dispatcher_feed_overlong (self->dispatcher, generation);
}

static void
on_drained (gpointer user_data)
{
        PhxAgent *self = user_data;

        phx_agent_inflight_changed (self);
        /* replies of a burst are freed only now, so this is when trimming pays */
        phx_dispatcher_maybe_trim (self->dispatcher);
        maybe_shutdown (self);
}

static void
on_host_connected (GObject *channel, GParamSpec *pspec, gpointer user_data)
{
        PhxAgent *self = user_data;

        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_HOST_CONNECTED]);
        maybe_shutdown (self);
}

static void
on_frozen_changed (GObject *freezer, GParamSpec *pspec, gpointer user_data)
{
        PhxAgent *self = user_data;

        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FROZEN]);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FROZEN_SINCE]);
}

PhxAgent *
phx_agent_new (const PhxAgentOptions *options, GError **error)
{
        g_autoptr(PhxAgent) self = g_object_new (PHX_TYPE_AGENT, NULL);

        if (!phx_dispatcher_set_enabled (self->dispatcher, options->allow_commands, options->block_commands, error))
                return NULL;
        self->freezer = phx_freezer_new (options->freeze_backend != NULL ? options->freeze_backend
                                                                         : phx_freeze_backend_real (),
                                         options->fsfreeze_hook,
                                         options->runtime_dir, options->freeze_timeout);
        g_signal_connect (self->freezer, "notify::frozen", G_CALLBACK (on_frozen_changed), self);
        if (!phx_freezer_restore (self->freezer, error))
                return NULL;
        self->channel = phx_channel_new (options->method, options->path, options->socket_mode, error);
        if (self->channel == NULL)
                return NULL;
        phx_channel_set_handlers (self->channel, on_line, on_overlong, on_drained, self);
        g_signal_connect (self->channel, "notify::host-connected", G_CALLBACK (on_host_connected), self);
        if (options->dbus)
                self->dbus = phx_dbus_new (self);
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
        case PROP_HOST_CONNECTED:
                g_value_set_boolean (value, phx_channel_get_host_connected (self->channel));
                break;
        case PROP_FROZEN:
                g_value_set_boolean (value, phx_freezer_get_frozen (self->freezer));
                break;
        case PROP_OPEN_HANDLES:
                g_value_set_uint (value, phx_handles_count (self->handles));
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
                g_value_set_uint64 (value, (guint64) phx_freezer_get_frozen_since (self->freezer));
                break;
        case PROP_STARTED_AT:
                g_value_set_uint64 (value, self->started_at);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

static void
phx_agent_dispose (GObject *object)
{
        PhxAgent *self = PHX_AGENT (object);

        if (self->channel != NULL)
                g_signal_handlers_disconnect_by_data (self->channel, self);
        g_clear_object (&self->dbus);
        g_clear_object (&self->channel);
        g_clear_object (&self->dispatcher);
        if (self->freezer != NULL)
                g_signal_handlers_disconnect_by_data (self->freezer, self);
        g_clear_object (&self->freezer);
        G_OBJECT_CLASS (phx_agent_parent_class)->dispose (object);
}

static void
phx_agent_finalize (GObject *object)
{
        PhxAgent *self = PHX_AGENT (object);

        /* Unfinished atomic writes are discarded here, leaving their targets untouched. */
        g_clear_pointer (&self->handles, phx_handles_free);
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
        g_object_class_install_properties (object_class, N_PROPS, props);

        /* Emitted once agent-shutdown's reply has left; main.c ends the loop on it. */
        signals[SIGNAL_SHUTDOWN] = g_signal_new ("shutdown", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
phx_agent_init (PhxAgent *self)
{
        self->handles = phx_handles_new (PHX_HANDLES_MAX);
        self->started_at = (guint64) g_get_real_time ();
        self->dispatcher = phx_dispatcher_new (self);
}
