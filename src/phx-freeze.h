/* phx-freeze.h — which filesystems to freeze and in which order, freezing them all or none,
 * thawing them, where the frozen-state marker may live, and the optional hook; the kernel
 * side sits behind a backend (and sysfs behind PhxBlockOps) so tests can fake it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _PhxFreezeBackend {
        /* mountpoints to freeze, in the order to freeze them (thaw is the reverse) */
        GPtrArray *(*list) (gpointer data, GError **error);
        /* 0, or the errno of the failed FIFREEZE / FITHAW */
        int (*freeze) (const char *mountpoint, gpointer data);
        int (*thaw) (const char *mountpoint, gpointer data);
        gpointer data;
} PhxFreezeBackend;

const PhxFreezeBackend *phx_freeze_backend_real (void);

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

GPtrArray *phx_freeze_candidates (const char *mountinfo, const PhxBlockOps *ops);
gboolean phx_freeze_path_on_mounts (const char *mountinfo, const char *path, GPtrArray *mountpoints);
gboolean phx_freeze_marker_dir_safe (const char *dir, GPtrArray *mountpoints, GError **error);
gboolean phx_freeze_check_runtime_dir (const char *dir, GError **error);

GPtrArray *phx_freeze_all (const PhxFreezeBackend *backend, GPtrArray *candidates, GError **error);
gboolean phx_thaw_all (const PhxFreezeBackend *backend, GPtrArray *frozen, GError **error);
gboolean phx_freeze_run_hook (const char *hook, const char *action, guint timeout_seconds, GError **error);
GSubprocess *phx_freeze_spawn_hook (const char *hook, const char *action, GError **error);
void phx_freeze_kill_hook (GSubprocess *proc);

G_END_DECLS
