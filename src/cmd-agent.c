/* cmd-agent.c — the agent's own commands: ping, get-commands, agent-shutdown. */
#define G_LOG_DOMAIN "cmd-agent"

#include "config.h"

#include "phx-agent.h"
#include "phx-dispatcher.h"
#include "phx-handler.h"

static JsonNode *
ping (PhxCall *call, GError **error)
{
        return json_node_init_string (json_node_alloc (), PHX_VERSION);
}

static JsonNode *
get_commands (PhxCall *call, GError **error)
{
        g_autoptr(GPtrArray) names = phx_dispatcher_list_commands (phx_agent_get_dispatcher (call->agent));
        g_autoptr(JsonArray) arr = json_array_sized_new (names->len);

        for (guint i = 0; i < names->len; i++)
                json_array_add_string_element (arr, g_ptr_array_index (names, i));
        return json_node_init_array (json_node_alloc (), arr);
}

static JsonNode *
agent_shutdown (PhxCall *call, GError **error)
{
        /* The agent leaves once this reply is written (see phx_agent_request_shutdown). */
        phx_agent_request_shutdown (call->agent);
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static const PhxCommand agent_commands[] = {
        { "ping", ping, NULL, PHX_CMD_FROZEN_OK },
        { "get-commands", get_commands, NULL, PHX_CMD_FROZEN_OK },
        { "agent-shutdown", agent_shutdown, NULL, PHX_CMD_FROZEN_OK },
        { NULL }
};

PHX_DEFINE_HANDLER (PhxAgentHandler, phx_agent_handler, agent_commands)
