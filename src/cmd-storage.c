/* cmd-storage.c — the storage family: qemu-ga's guest-get-fsinfo, guest-get-disks,
 * guest-get-diskstats and guest-fstrim. Phoenix has no twins of them, so each is a face-only
 * row; the machine is read in storage-*.c. Stateless. The three listings only read /proc, /sys
 * and statvfs, so they keep answering while the filesystems are frozen (qemu-ga refuses
 * them then); fstrim writes to the disks and may take minutes. */
#define G_LOG_DOMAIN "cmd-storage"

#include "config.h"

#include "phx-family.h"
#include "storage-disks.h"
#include "storage-fsinfo.h"
#include "storage-stats.h"

static JsonNode *
qga_get_fsinfo (PhxCall *call, GError **error)
{
        return phx_storage_fsinfo (error);
}

static JsonNode *
qga_get_disks (PhxCall *call, GError **error)
{
        return phx_storage_disks (error);
}

static JsonNode *
qga_get_diskstats (PhxCall *call, GError **error)
{
        return phx_storage_diskstats (error);
}

static JsonNode *
qga_fstrim (PhxCall *call, GError **error)
{
        return phx_storage_fstrim (phx_args_has (call->args, "minimum"), phx_args_get_int (call->args, "minimum"),
                                   call->cancellable, error);
}

static const PhxArgSpec fstrim_args[] = {
        { "minimum", PHX_ARG_INT },
        { NULL }
};

static const PhxCommand storage_commands[] = {
        { "qga-get-fsinfo", qga_get_fsinfo, NULL, PHX_CMD_THREADED | PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-get-disks", qga_get_disks, NULL, PHX_CMD_THREADED | PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-get-diskstats", qga_get_diskstats, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-fstrim", qga_fstrim, fstrim_args, PHX_CMD_THREADED | PHX_CMD_LONG | PHX_CMD_FACE_ONLY },
        { NULL }
};

static const PhxFace storage_faces[] = {
        { PHX_DIALECT_QGA, "guest-get-fsinfo", "qga-get-fsinfo", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-disks", "qga-get-disks", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-diskstats", "qga-get-diskstats", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-fstrim", "qga-fstrim", NULL, NULL, PHX_FACE_STRICT },
        { .name = NULL }
};

typedef struct {
        PhxFamily parent_instance;
} PhxStorageFamily;

typedef struct {
        PhxFamilyClass parent_class;
} PhxStorageFamilyClass;

G_DEFINE_TYPE (PhxStorageFamily, phx_storage_family, PHX_TYPE_FAMILY)

static void
phx_storage_family_class_init (PhxStorageFamilyClass *klass)
{
        PHX_FAMILY_CLASS (klass)->commands = storage_commands;
        PHX_FAMILY_CLASS (klass)->faces = storage_faces;
}

static void
phx_storage_family_init (PhxStorageFamily *self)
{
}
