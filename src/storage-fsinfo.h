/* storage-fsinfo.h — qemu-ga's guest-get-fsinfo and the mounts it (and fstrim) lists. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
        char *mountpoint;
        char *fstype;
        guint major, minor; /* the block device (btrfs: its source's) */
} PhxStorageMount;

GArray *phx_storage_mounts (GError **error);
JsonNode *phx_storage_fsinfo (GError **error);

G_END_DECLS
