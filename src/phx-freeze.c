/* phx-freeze.c — the freeze rules. Freezing is all or nothing: a failure thaws what was
 * already frozen, in reverse order, before the error is returned, so the guest is never
 * left half-frozen. Runs in worker threads; holds no state of its own. */
#define G_LOG_DOMAIN "phx-freeze"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gio/gio.h>

#include "phx-error.h"
#include "phx-freeze.h"

/* Network and pseudo filesystems that FIFREEZE must never touch, even on a /dev source. */
static const char *const skipped_types[] = {
        "nfs", "nfs4", "cifs", "smbfs", "smb3", "ncpfs", "ceph", "glusterfs", "9p", "afs", "fuse",
        "fuseblk", NULL,
};

static gboolean
skipped_type (const char *fstype)
{
        if (g_str_has_prefix (fstype, "fuse."))
                return TRUE;
        return g_strv_contains (skipped_types, fstype);
}

/* mountinfo escapes blanks and backslashes in paths as \NNN octal. */
static char *
unescape (const char *s)
{
        GString *out = g_string_new (NULL);

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        g_string_append_c (out, (char) ((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0')));
                        s += 3;
                } else {
                        g_string_append_c (out, *s);
                }
        }
        return g_string_free (out, FALSE);
}

/* Mountpoints to freeze, in mount order: each block device once (its first mount wins, so
 * bind mounts and repeats are skipped), no network filesystems, no loop or device-mapper
 * devices (their backing filesystems are frozen in their own right). */
GPtrArray *
phx_freeze_candidates (const char *mountinfo, PhxDevNameFunc dev_name)
{
        g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        g_auto(GStrv) lines = g_strsplit (mountinfo, "\n", -1);
        GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

        for (guint i = 0; lines[i] != NULL; i++) {
                g_auto(GStrv) f = g_strsplit (lines[i], " ", -1);
                guint n = g_strv_length (f), sep;
                g_autofree char *name = NULL;

                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
                for (sep = 6; sep < n && !g_str_equal (f[sep], "-"); sep++)
                        ;
                if (n < 5 || sep + 2 >= n)
                        continue;
                if (!g_str_has_prefix (f[sep + 2], "/dev/") || skipped_type (f[sep + 1]))
                        continue;
                if (g_hash_table_contains (seen, f[2]))
                        continue;
                g_hash_table_add (seen, g_strdup (f[2]));
                name = dev_name (f[2]);
                if (name == NULL || g_str_has_prefix (name, "loop") || g_str_has_prefix (name, "dm-"))
                        continue;
                g_ptr_array_add (out, unescape (f[4]));
        }
        return out;
}

/* Freezes candidates in order. Returns what was frozen (to be thawed later), or NULL
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
        gboolean ok = TRUE;

        for (guint i = frozen->len; i > 0; i--) {
                const char *mp = g_ptr_array_index (frozen, i - 1);
                int errsv = b->thaw (mp, b->data);

                if (errsv != 0 && errsv != EINVAL && ok) {
                        phx_error_set_errno (error, errsv, "thaw %s", mp);
                        ok = FALSE;
                }
        }
        return ok;
}

static GPtrArray *
real_list (gpointer data, GError **error)
{
        g_autofree char *text = NULL;
        g_autoptr(GError) local = NULL;

        if (!g_file_get_contents ("/proc/self/mountinfo", &text, NULL, &local)) {
                phx_error_set (error, PHX_ERROR_GENERIC, "%s", local->message);
                return NULL;
        }
        return phx_freeze_candidates (text, data);
}

static char *
sys_dev_name (const char *majmin)
{
        g_autofree char *link = g_strconcat ("/sys/dev/block/", majmin, NULL);
        g_autofree char *target = g_file_read_link (link, NULL);

        return target != NULL ? g_path_get_basename (target) : NULL;
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
        static const PhxFreezeBackend real = { real_list, real_freeze, real_thaw, sys_dev_name };

        return &real;
}

static gboolean
on_hook_timeout (gpointer user_data)
{
        gboolean *timed_out = user_data;

        *timed_out = TRUE;
        return G_SOURCE_REMOVE;
}

static void
on_hook_exit (GObject *source, GAsyncResult *res, gpointer user_data)
{
        gboolean *done = user_data;

        g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
        *done = TRUE;
}

static void
own_process_group (gpointer user_data)
{
        setpgid (0, 0);
}

/* Starts `hook action` in a process group of its own, so that a timeout can kill
 * whatever the hook started too. */
GSubprocess *
phx_freeze_spawn_hook (const char *hook, const char *action, GError **error)
{
        g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);

        g_subprocess_launcher_set_child_setup (launcher, own_process_group, NULL, NULL);
        return g_subprocess_launcher_spawn (launcher, error, hook, action, NULL);
}

void
phx_freeze_kill_hook (GSubprocess *proc)
{
        const char *id = g_subprocess_get_identifier (proc);

        if (id != NULL)
                kill (-(pid_t) g_ascii_strtoll (id, NULL, 10), SIGKILL);
        g_subprocess_force_exit (proc);
}

/* Runs `hook action` (never while frozen: before freezing, after thawing) and waits at
 * most timeout_seconds for it, in a private main context of the calling worker thread. */
gboolean
phx_freeze_run_hook (const char *hook, const char *action, guint timeout_seconds, GError **error)
{
        g_autoptr(GMainContext) ctx = g_main_context_new ();
        g_autoptr(GSubprocess) proc = NULL;
        g_autoptr(GError) local = NULL;
        g_autoptr(GSource) timeout = NULL;
        gboolean done = FALSE, timed_out = FALSE;

        g_main_context_push_thread_default (ctx);
        proc = phx_freeze_spawn_hook (hook, action, &local);
        if (proc != NULL) {
                g_subprocess_wait_async (proc, NULL, on_hook_exit, &done);
                timeout = g_timeout_source_new_seconds (timeout_seconds);
                g_source_set_callback (timeout, on_hook_timeout, &timed_out, NULL);
                g_source_attach (timeout, ctx);
                while (!done && !timed_out)
                        g_main_context_iteration (ctx, TRUE);
                g_source_destroy (timeout);
                if (!done) {
                        phx_freeze_kill_hook (proc);
                        while (!done)
                                g_main_context_iteration (ctx, TRUE);
                }
        }
        g_main_context_pop_thread_default (ctx);

        if (proc == NULL) {
                phx_error_set (error, PHX_ERROR_GENERIC, "fsfreeze hook '%s %s' could not start: %s", hook,
                               action, local->message);
                return FALSE;
        }
        if (timed_out) {
                phx_error_set (error, ETIMEDOUT, "fsfreeze hook '%s %s' did not finish within %u s", hook,
                               action, timeout_seconds);
                return FALSE;
        }
        if (!g_subprocess_get_successful (proc)) {
                phx_error_set (error, PHX_ERROR_GENERIC, "fsfreeze hook '%s %s' failed (%s %d)", hook, action,
                               g_subprocess_get_if_exited (proc) ? "exit status" : "signal",
                               g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc)
                                                                 : g_subprocess_get_term_sig (proc));
                return FALSE;
        }
        return TRUE;
}
