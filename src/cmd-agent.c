/* cmd-agent.c — the agent's own commands: ping, get-commands, agent-shutdown, and qemu-ga's
 * guest-ping, guest-sync(-delimited) and guest-info. The family
 * reads the registry (for get-commands) and asks to be shut down with a signal; it holds no
 * other state. */
#define G_LOG_DOMAIN "cmd-agent"

#include "config.h"

#include "cmd-agent.h"

struct _PhxAgentFamily {
        PhxFamily parent_instance;
        PhxRegistry *registry;
};

enum { SIGNAL_SHUTDOWN_REQUESTED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxAgentFamily, phx_agent_family, PHX_TYPE_FAMILY)

static JsonNode *
ping (PhxCall *call, GError **error)
{
        return json_node_init_string (json_node_alloc (), PHX_VERSION);
}

static JsonNode *
get_commands (PhxCall *call, GError **error)
{
        PhxAgentFamily *self = PHX_AGENT_FAMILY (call->family);
        g_autoptr(GPtrArray) names = phx_registry_list (self->registry, PHX_DIALECT_PHOENIX, TRUE);
        g_autoptr(JsonArray) arr = json_array_sized_new (names->len);

        for (guint i = 0; i < names->len; i++)
                json_array_add_string_element (arr, g_ptr_array_index (names, i));
        return json_node_init_array (json_node_alloc (), arr);
}

/* guest-sync: the host's number back, so it can tell this reply from older ones still in
 * the pipe. Only reached through its faces. */
static JsonNode *
qga_sync (PhxCall *call, GError **error)
{
        return json_node_init_int (json_node_alloc (), phx_args_get_int (call->args, "id"));
}

/* guest-info: every qemu-ga command, disabled ones too, marked so (as qemu-ga does). */
static JsonNode *
qga_info (PhxCall *call, GError **error)
{
        PhxAgentFamily *self = PHX_AGENT_FAMILY (call->family);
        g_autoptr(GPtrArray) names = phx_registry_list (self->registry, PHX_DIALECT_QGA, FALSE);
        g_autoptr(JsonArray) arr = json_array_sized_new (names->len);
        g_autoptr(JsonObject) info = json_object_new ();

        for (guint i = 0; i < names->len; i++) {
                const char *name = g_ptr_array_index (names, i);
                const PhxEntry *entry = phx_registry_lookup (self->registry, PHX_DIALECT_QGA, name);
                JsonObject *cmd = json_object_new ();

                json_object_set_string_member (cmd, "name", name);
                json_object_set_boolean_member (cmd, "enabled", phx_registry_is_enabled (self->registry, entry));
                json_object_set_boolean_member (cmd, "success-response",
                                                !(entry->flags & PHX_FACE_NO_SUCCESS_REPLY));
                json_array_add_object_element (arr, cmd);
        }
        json_object_set_string_member (info, "version", PHX_VERSION);
        json_object_set_array_member (info, "supported_commands", g_steal_pointer (&arr));
        return json_node_init_object (json_node_alloc (), info);
}

static JsonNode *
agent_shutdown (PhxCall *call, GError **error)
{
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static const PhxArgSpec qga_sync_args[] = {
        { "id", PHX_ARG_INT, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxCommand agent_commands[] = {
        { "ping", ping, NULL, PHX_CMD_FROZEN_OK },
        { "get-commands", get_commands, NULL, PHX_CMD_FROZEN_OK },
        { "agent-shutdown", agent_shutdown, NULL, PHX_CMD_FROZEN_OK },
        { "qga-sync", qga_sync, qga_sync_args, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-info", qga_info, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { NULL }
};

/* qemu-ga answers guest-ping with an empty object; NULL is that "no value". */
static JsonNode *
no_value (JsonNode *result)
{
        json_node_unref (result);
        return NULL;
}

static const PhxFace agent_faces[] = {
        { PHX_DIALECT_QGA, "guest-sync-delimited", "qga-sync", NULL, NULL, PHX_FACE_STRICT | PHX_FACE_DELIMITED },
        { PHX_DIALECT_QGA, "guest-sync", "qga-sync", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-ping", "ping", NULL, no_value, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-info", "qga-info", NULL, NULL, PHX_FACE_STRICT },
        { .name = NULL }
};

/* After agent-shutdown's reply is made, before it is sent: the agent thaws if it must,
 * lets the reply leave, and exits (see phx_agent_shutdown). */
static void
agent_finish (PhxFamily *family, PhxCall *call, JsonNode **result, GError **error)
{
        if (call->command->func == agent_shutdown && *error == NULL)
                g_signal_emit (family, signals[SIGNAL_SHUTDOWN_REQUESTED], 0);
}

PhxAgentFamily *
phx_agent_family_new (PhxRegistry *registry)
{
        PhxAgentFamily *self = g_object_new (PHX_TYPE_AGENT_FAMILY, NULL);

        self->registry = g_object_ref (registry);
        return self;
}

static void
phx_agent_family_dispose (GObject *object)
{
        PhxAgentFamily *self = PHX_AGENT_FAMILY (object);

        g_clear_object (&self->registry);
        G_OBJECT_CLASS (phx_agent_family_parent_class)->dispose (object);
}

static void
phx_agent_family_class_init (PhxAgentFamilyClass *klass)
{
        PhxFamilyClass *family_class = PHX_FAMILY_CLASS (klass);

        G_OBJECT_CLASS (klass)->dispose = phx_agent_family_dispose;
        family_class->commands = agent_commands;
        family_class->faces = agent_faces;
        family_class->finish = agent_finish;
        signals[SIGNAL_SHUTDOWN_REQUESTED] = g_signal_new ("shutdown-requested", G_TYPE_FROM_CLASS (klass),
                                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
phx_agent_family_init (PhxAgentFamily *self)
{
}
