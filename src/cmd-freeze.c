/* cmd-freeze.c — the freeze family: fs-freeze, fs-unfreeze, get-freeze-status and their
 * qemu-ga faces (guest-fsfreeze-status/-freeze/-freeze-list/-thaw), one state for both. It owns the
 * guest's PhxFreezeState and the lane that orders every freeze and every thaw: a host's, and the
 * agent's own (D-Bus Thaw, the auto-thaw timer, shutdown), which come in as calls of
 * fs-unfreeze through the dispatcher. So a thaw sent while a freeze runs waits for it and
 * then thaws; it can never be overtaken by the freeze and leave the guest frozen. */
#define G_LOG_DOMAIN "cmd-freeze"

#include "config.h"

#include "cmd-freeze.h"
#include "phx-error.h"
#include "phx-qga.h"

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

/* qemu-ga's mountpoints: an array of strings, checked in its words. NULL-terminated copy. */
static GStrv
mountpoints_arg (PhxCall *call, GError **error)
{
        g_autoptr(GStrvBuilder) out = g_strv_builder_new ();
        JsonNode *node;
        JsonArray *arr;

        /* guest-fsfreeze-freeze's face has no such argument at all */
        if (!phx_args_has (call->args, "mountpoints"))
                return NULL;
        node = phx_args_get_node (call->args, "mountpoints");
        arr = json_node_get_array (node);
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonNode *e = json_array_get_element (arr, i);

                if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING) {
                        phx_error_set (error, PHX_ERROR_GENERIC,
                                       "Invalid parameter type for 'mountpoints[%u]', expected: string", i);
                        return NULL;
                }
                g_strv_builder_add (out, json_node_get_string (e));
        }
        return g_strv_builder_end (out);
}

/* Worker: guest-fsfreeze-freeze(-list). The same freeze as fs-freeze (hook, marker, plan,
 * rollback); the reply is qemu-ga's, the number of filesystems frozen. */
static JsonNode *
qga_freeze (PhxCall *call, GError **error)
{
        g_autoptr(GError) local = NULL;
        g_auto(GStrv) only = mountpoints_arg (call, &local);
        GPtrArray *frozen;

        if (local != NULL) {
                g_propagate_error (error, g_steal_pointer (&local));
                return NULL;
        }
        frozen = phx_freeze_state_freeze_only (freezer_of (call), (const char *const *) only, error);
        if (frozen == NULL)
                return NULL;
        call->family_data = frozen;
        call->family_data_free = (GDestroyNotify) g_ptr_array_unref;
        return json_node_init_int (json_node_alloc (), frozen->len);
}

/* guest-fsfreeze-thaw: inline like fs-unfreeze; the number of filesystems thawed (0 when
 * nothing was frozen, as qemu-ga). */
static JsonNode *
qga_thaw (PhxCall *call, GError **error)
{
        guint n;

        if (!phx_freeze_state_thaw_counted (freezer_of (call), &n, error))
                return NULL;
        return json_node_init_int (json_node_alloc (), n);
}

static const PhxArgSpec qga_freeze_args[] = {
        { "mountpoints", PHX_ARG_ARRAY },
        { NULL }
};

static const PhxArgSpec no_args[] = {
        { NULL }
};

static const PhxCommand freeze_commands[] = {
        { "fs-freeze", fs_freeze, NULL, PHX_CMD_THREADED },
        { "fs-unfreeze", fs_unfreeze, NULL, PHX_CMD_FROZEN_OK },
        { "get-freeze-status", get_freeze_status, NULL, PHX_CMD_FROZEN_OK },
        { "qga-fsfreeze-freeze", qga_freeze, qga_freeze_args, PHX_CMD_THREADED | PHX_CMD_FACE_ONLY },
        { "qga-fsfreeze-thaw", qga_thaw, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { NULL }
};

/* get-freeze-status's boolean as qemu-ga's word. */
static JsonNode *
status_word (JsonNode *result)
{
        gboolean frozen = json_node_get_boolean (result);

        json_node_unref (result);
        return json_node_init_string (json_node_alloc (), frozen ? "frozen" : "thawed");
}

static const PhxFace freeze_faces[] = {
        { PHX_DIALECT_QGA, "guest-fsfreeze-status", "get-freeze-status", NULL, status_word, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-fsfreeze-freeze", "qga-fsfreeze-freeze", no_args, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-fsfreeze-freeze-list", "qga-fsfreeze-freeze", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-fsfreeze-thaw", "qga-fsfreeze-thaw", NULL, NULL, PHX_FACE_STRICT },
        { .name = NULL }
};

static gboolean
is_freeze (PhxCall *call)
{
        return call->command->func == fs_freeze || call->command->func == qga_freeze;
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

        if (is_freeze (call) && phx_freeze_state_get_frozen (self->freezer) && call->command->func == qga_freeze) {
                g_set_error (error, PHX_QGA_ERROR, PHX_QGA_ERROR_COMMAND_NOT_FOUND,
                             "Command guest-fsfreeze-freeze has been disabled: the agent is in frozen state");
                return FALSE;
        }
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
        /* qemu-ga's face: a freeze of nothing leaves the guest thawed (as qemu-ga does, so
         * its clients' freeze-list of unknown mountpoints does not lock the agent) */
        if (*error == NULL && call->command->func == qga_freeze &&
            ((GPtrArray *) call->family_data)->len == 0)
                phx_freeze_state_abandon (self->freezer);
        else if (*error == NULL)
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
        family_class->faces = freeze_faces;
        family_class->admit = freeze_admit;
        family_class->start = freeze_start;
        family_class->finish = freeze_finish;
}

static void
phx_freeze_family_init (PhxFreezeFamily *self)
{
}
