/* phx-freeze-plan.h — which filesystems to freeze, in which order, and where the marker may live. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What the candidate rules need to know about block devices (sysfs in the real backend). */
typedef struct {
        /* the kernel's name ("vda1", "dm-0", "loop3") of the device "MAJ:MIN" or, when that is
         * not a block device (btrfs reports an anonymous device), of the node `source`; or NULL */
        char *(*dev_name) (const char *majmin, const char *source);
        /* the devices NAME is built on: its slaves (dm, md) and, for a partition, its disk */
        GStrv (*lower) (const char *name);
        /* the file behind a loop device, or NULL */
        char *(*backing_file) (const char *name);
} PhxBlockOps;

/* One line of /proc/self/mountinfo. */
typedef struct {
        char *majmin;     /* the superblock's device: bind mounts and btrfs subvolumes share it */
        char *mountpoint; /* unescaped */
        char *fstype;
        char *source;     /* unescaped */
} PhxMount;

GArray *phx_mounts_parse (const char *mountinfo); /* of PhxMount, in mount order */

const PhxBlockOps *phx_freeze_block_ops_sysfs (void);
char *phx_freeze_read_mountinfo (GError **error);
GPtrArray *phx_freeze_candidates (const char *mountinfo, const PhxBlockOps *ops);
GPtrArray *phx_freeze_candidates_only (const char *mountinfo, const PhxBlockOps *ops, const char *const *only);
gboolean phx_freeze_path_on_mounts (const char *mountinfo, const char *path, GPtrArray *mountpoints);
gboolean phx_freeze_marker_dir_safe (const char *dir, GPtrArray *mountpoints, GError **error);
gboolean phx_freeze_check_runtime_dir (const char *dir, GError **error);

G_END_DECLS
