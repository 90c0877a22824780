/* phx-freeze-backend.h — freezing and thawing filesystems, all or nothing; the kernel side sits
 * behind a backend so tests can fake it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PhxFreezeBackend {
        /* mountpoints to freeze, in the order to freeze them (thaw is the reverse) */
        GPtrArray *(*list) (gpointer data, GError **error);
        /* 0, or the errno of the failed FIFREEZE / FITHAW */
        int (*freeze) (const char *mountpoint, gpointer data);
        int (*thaw) (const char *mountpoint, gpointer data);
        gpointer data;
        /* as list, of only the mountpoints named in `only` (qemu-ga's freeze-list); NULL:
         * list's result filtered by exact string */
        GPtrArray *(*list_only) (const char *const *only, gpointer data, GError **error);
} PhxFreezeBackend;

const PhxFreezeBackend *phx_freeze_backend_real (void);
GPtrArray *phx_freeze_all (const PhxFreezeBackend *backend, GPtrArray *candidates, GError **error);
gboolean phx_thaw_all (const PhxFreezeBackend *backend, GPtrArray *frozen, GError **error);
gboolean phx_thaw_all_counted (const PhxFreezeBackend *backend, GPtrArray *frozen, guint *n_thawed,
                               GError **error);
GPtrArray *phx_freeze_backend_list (const PhxFreezeBackend *backend, const char *const *only, GError **error);

G_END_DECLS
