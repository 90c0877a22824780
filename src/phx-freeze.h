/* phx-freeze.h — which filesystems to freeze, freezing them all or none, thawing them, and
 * the optional hook; the kernel side sits behind a backend so tests can fake it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _PhxFreezeBackend {
        /* mountpoints to consider, in mount order */
        GPtrArray *(*list) (gpointer data, GError **error);
        /* 0, or the errno of the failed FIFREEZE / FITHAW */
        int (*freeze) (const char *mountpoint, gpointer data);
        int (*thaw) (const char *mountpoint, gpointer data);
        gpointer data;
} PhxFreezeBackend;

const PhxFreezeBackend *phx_freeze_backend_real (void);

/* Resolves "MAJ:MIN" to the kernel's device name ("vda1", "dm-0", "loop3"), or NULL. */
typedef char *(*PhxDevNameFunc) (const char *majmin);

GPtrArray *phx_freeze_candidates (const char *mountinfo, PhxDevNameFunc dev_name);
GPtrArray *phx_freeze_all (const PhxFreezeBackend *backend, GPtrArray *candidates, GError **error);
gboolean phx_thaw_all (const PhxFreezeBackend *backend, GPtrArray *frozen, GError **error);
gboolean phx_freeze_run_hook (const char *hook, const char *action, guint timeout_seconds, GError **error);
GSubprocess *phx_freeze_spawn_hook (const char *hook, const char *action, GError **error);
void phx_freeze_kill_hook (GSubprocess *proc);

G_END_DECLS
