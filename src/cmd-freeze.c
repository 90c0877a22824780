/* cmd-freeze.c — the freeze family: fs-freeze, fs-unfreeze, get-freeze-status. It owns the
 * guest's PhxFreezeState and the lane that orders every freeze and every thaw: a host's, and the
 * agent's own (D-Bus Thaw, the auto-thaw timer, shutdown), which come in as calls of
 * fs-unfreeze through the dispatcher. So a thaw sent while a freeze runs waits for it and
 * then thaws; it can never be overtaken by the freeze and leave the guest frozen. */
#define G_LOG_DOMAIN "cmd-freeze"

#include "config.h"

#include "cmd-freeze.h"
#include "phx-error.h"

struct _PhxFreezeFamily {
        PhxFamily parent_instance;
        PhxFreezeState *freezer;
};

G_DEFINE_TYPE (PhxFreezeFamily, phx_freeze_family, PHX_TYPE_FAMILY)

static PhxFreezeState *
freezer_of (PhxCall *call)
{
        return PHX_FREEZE_FAMILY (call->family)->freezer;
}

/* Worker: hook, marker, FIFREEZE; the outcome is recorded on the main thread (finish). */
static JsonNode *
fs_freeze (PhxCall *call, GError **error)
{
        GPtrArray *frozen = phx_freeze_state_freeze (freezer_of (call), error);

        if (frozen == NULL)
                return NULL;
        call->family_data = frozen;
        call->family_data_free = (GDestroyNotify) g_ptr_array_unref;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

/* Inline on the main thread (see phx_freeze_state_thaw_now): a thaw must never wait for a
 * worker, since workers may be blocked writing to the very filesystems it thaws. */
static JsonNode *
fs_unfreeze (PhxCall *call, GError **error)
{
        if (!phx_freeze_state_thaw_now (freezer_of (call), error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static JsonNode *
get_freeze_status (PhxCall *call, GError **error)
{
        return json_node_init_boolean (json_node_alloc (), phx_freeze_state_get_frozen (freezer_of (call)));
}

static const PhxCommand freeze_commands[] = {
        { "fs-freeze", fs_freeze, NULL, PHX_CMD_THREADED },
        { "fs-unfreeze", fs_unfreeze, NULL, PHX_CMD_FROZEN_OK },
        { "get-freeze-status", get_freeze_status, NULL, PHX_CMD_FROZEN_OK },
        { NULL }
};

static gboolean
is_freeze (PhxCall *call)
{
        return call->command->func == fs_freeze;
}

static gboolean
freeze_admit (PhxFamily *family, PhxCall *call, GError **error)
{
        PhxFreezeFamily *self = PHX_FREEZE_FAMILY (family);

        if (call->command->func == get_freeze_status)
                return TRUE;
        call->lane = phx_family_get_lane (family);
        /* The gate closes now, not when FIFREEZE is done: what the host sends after
         * fs-freeze must not reach the disks being frozen. */
        if (is_freeze (call))
                phx_freeze_state_begin_freeze (self->freezer);
        return TRUE;
}

/* A second fs-freeze sent before the first was answered (a host's retry) ran after it and,
 * finding everything busy, replaced the list of frozen mounts with an empty one: then
 * fs-unfreeze thawed nothing and the guest stayed frozen. It is refused here instead. */
static gboolean
freeze_start (PhxFamily *family, PhxCall *call, GError **error)
{
        PhxFreezeFamily *self = PHX_FREEZE_FAMILY (family);

        if (is_freeze (call) && phx_freeze_state_get_frozen (self->freezer)) {
                phx_error_set (error, PHX_ERROR_GENERIC, "fs-freeze is not allowed while the guest filesystems are frozen");
                return FALSE;
        }
        return TRUE;
}

static void
freeze_finish (PhxFamily *family, PhxCall *call, JsonNode **result, GError **error)
{
        PhxFreezeFamily *self = PHX_FREEZE_FAMILY (family);

        if (!is_freeze (call))
                return;
        if (*error == NULL)
                phx_freeze_state_set_frozen (self->freezer, g_steal_pointer (&call->family_data));
        phx_freeze_state_end_freeze (self->freezer);
}


PhxFreezeFamily *
phx_freeze_family_new (PhxFreezeState *freezer)
{
        PhxFreezeFamily *self = g_object_new (PHX_TYPE_FREEZE_FAMILY, NULL);

        self->freezer = g_object_ref (freezer);
        return self;
}

static void
phx_freeze_family_dispose (GObject *object)
{
        PhxFreezeFamily *self = PHX_FREEZE_FAMILY (object);

        g_clear_object (&self->freezer);
        G_OBJECT_CLASS (phx_freeze_family_parent_class)->dispose (object);
}

static void
phx_freeze_family_class_init (PhxFreezeFamilyClass *klass)
{
        PhxFamilyClass *family_class = PHX_FAMILY_CLASS (klass);

        G_OBJECT_CLASS (klass)->dispose = phx_freeze_family_dispose;
        family_class->commands = freeze_commands;
        family_class->admit = freeze_admit;
        family_class->start = freeze_start;
        family_class->finish = freeze_finish;
}

static void
phx_freeze_family_init (PhxFreezeFamily *self)
{
}
