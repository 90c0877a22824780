/* cmd-freeze.c — fs-freeze, fs-unfreeze, get-freeze-status. Freezing runs in a worker and
 * its outcome is recorded on the main thread via call->apply; thawing runs inline. */
#define G_LOG_DOMAIN "cmd-freeze"

#include "phx-freezer.h"
#include "phx-handler.h"

static void
apply_frozen (PhxCall *call)
{
        phx_freezer_set_frozen (call->freezer, g_steal_pointer (&call->apply_data));
}

static JsonNode *
fs_freeze (PhxCall *call, GError **error)
{
        /* Already frozen cannot happen here: the dispatcher's freeze gate refuses fs-freeze
         * while frozen, and the serial lane keeps freeze and thaw from overlapping. */
        GPtrArray *frozen = phx_freezer_freeze (call->freezer, error);

        if (frozen == NULL)
                return NULL;
        call->apply = apply_frozen;
        call->apply_data = frozen;
        call->apply_data_free = (GDestroyNotify) g_ptr_array_unref;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

/* Inline on the main thread (see phx_freezer_thaw_now): a thaw must never wait for a
 * worker, since workers may be blocked writing to the very filesystems it thaws. It is
 * still in the serial lane, so it comes after an fs-freeze sent before it. */
static JsonNode *
fs_unfreeze (PhxCall *call, GError **error)
{
        if (!phx_freezer_thaw_now (call->freezer, error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static JsonNode *
get_freeze_status (PhxCall *call, GError **error)
{
        return json_node_init_boolean (json_node_alloc (), phx_freezer_get_frozen (call->freezer));
}

static const PhxCommand freeze_commands[] = {
        { "fs-freeze", fs_freeze, NULL, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "fs-unfreeze", fs_unfreeze, NULL, PHX_CMD_SERIAL | PHX_CMD_FROZEN_OK },
        { "get-freeze-status", get_freeze_status, NULL, PHX_CMD_FROZEN_OK },
        { NULL }
};

PHX_DEFINE_HANDLER (PhxFreezeHandler, phx_freeze_handler, freeze_commands)
