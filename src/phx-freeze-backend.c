/* phx-freeze-backend.c — freezing and thawing a plan's filesystems, all or nothing: a failure
 * thaws what was already frozen, in reverse order, before the error is returned, so the guest
 * is never left half-frozen; and the kernel's backend (FIFREEZE/FITHAW). Runs in worker
 * threads and on the main thread (thaw); holds no state of its own. */
#define G_LOG_DOMAIN "phx-freeze-backend"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gio/gio.h>

#include "phx-error.h"
#include "phx-freeze-backend.h"
#include "phx-freeze-plan.h"
#include "phx-limits.h"
/* Freezes candidates in the order given. Returns what was frozen (to be thawed later), or NULL
 * with everything thawed again. */
GPtrArray *
phx_freeze_all (const PhxFreezeBackend *b, GPtrArray *candidates, GError **error)
{
        g_autoptr(GPtrArray) frozen = g_ptr_array_new_with_free_func (g_free);

        for (guint i = 0; i < candidates->len; i++) {
                const char *mp = g_ptr_array_index (candidates, i);
                int errsv = b->freeze (mp, b->data);

                if (errsv == 0) {
                        g_ptr_array_add (frozen, g_strdup (mp));
                        continue;
                }
                /* Not freezable (EOPNOTSUPP) or frozen by someone else (EBUSY): not ours. */
                if (errsv == EOPNOTSUPP || errsv == ENOTTY || errsv == EBUSY)
                        continue;
                for (guint j = frozen->len; j > 0; j--)
                        b->thaw (g_ptr_array_index (frozen, j - 1), b->data);
                phx_error_set_errno (error, errsv, "freeze %s", mp);
                return NULL;
        }
        return g_steal_pointer (&frozen);
}

/* Thaws in reverse order; goes on past failures so one bad mount cannot keep the others
 * frozen, and reports the first. A filesystem that is not frozen (EINVAL) is fine. */
gboolean
phx_thaw_all (const PhxFreezeBackend *b, GPtrArray *frozen, GError **error)
{
        guint n;

        return phx_thaw_all_counted (b, frozen, &n, error);
}

/* n_thawed: how many FITHAWs succeeded, i.e. filesystems this call thawed (qemu-ga's count). */
gboolean
phx_thaw_all_counted (const PhxFreezeBackend *b, GPtrArray *frozen, guint *n_thawed, GError **error)
{
        gboolean ok = TRUE;

        *n_thawed = 0;
        for (guint i = frozen->len; i > 0; i--) {
                const char *mp = g_ptr_array_index (frozen, i - 1);
                int errsv = b->thaw (mp, b->data);

                if (errsv == 0)
                        (*n_thawed)++;
                if (errsv != 0 && errsv != EINVAL && ok) {
                        phx_error_set_errno (error, errsv, "thaw %s", mp);
                        ok = FALSE;
                }
        }
        return ok;
}

/* What to freeze: all candidates, or (only != NULL) those at the listed mountpoints. */
GPtrArray *
phx_freeze_backend_list (const PhxFreezeBackend *b, const char *const *only, GError **error)
{
        GPtrArray *all;

        if (only == NULL)
                return b->list (b->data, error);
        if (b->list_only != NULL)
                return b->list_only (only, b->data, error);
        all = b->list (b->data, error);
        for (guint i = all != NULL ? all->len : 0; i > 0; i--) {
                if (!g_strv_contains (only, g_ptr_array_index (all, i - 1)))
                        g_ptr_array_remove_index (all, i - 1);
        }
        return all;
}

static GPtrArray *
real_list_only (const char *const *only, gpointer data, GError **error)
{
        g_autofree char *text = phx_freeze_read_mountinfo (error);

        if (text == NULL)
                return NULL;
        return phx_freeze_candidates_only (text, data, only);
}

static GPtrArray *
real_list (gpointer data, GError **error)
{
        return real_list_only (NULL, data, error);
}

static int
fs_ioctl (const char *mountpoint, unsigned long request)
{
        int fd = open (mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
        int errsv = 0;

        if (fd < 0)
                return errno;
        if (ioctl (fd, request, 0) < 0)
                errsv = errno;
        close (fd);
        return errsv;
}

static int
real_freeze (const char *mountpoint, gpointer data)
{
        return fs_ioctl (mountpoint, FIFREEZE);
}

static int
real_thaw (const char *mountpoint, gpointer data)
{
        return fs_ioctl (mountpoint, FITHAW);
}

const PhxFreezeBackend *
phx_freeze_backend_real (void)
{
        static PhxFreezeBackend real = { real_list, real_freeze, real_thaw, NULL, real_list_only };
        static gsize once;

        /* the block layer the plan reads: sysfs */
        if (g_once_init_enter (&once)) {
                real.data = (gpointer) phx_freeze_block_ops_sysfs ();
                g_once_init_leave (&once, 1);
        }
        return &real;
}
