/* accounts-keys.c — ~/.ssh/authorized_keys of a guest user, read and replaced AS THAT USER.
 *
 * Why as the user: the user owns their home and may have made ~/.ssh or the keys file a
 * symlink to /etc/shadow, a FIFO, or a directory. A root agent that opened those paths would
 * write where the user cannot. With the thread's filesystem ids set to the user's (setfsuid,
 * setfsgid, and the user's groups, all per thread on Linux; the kernel drops the DAC
 * capabilities while fsuid is not 0), every open, create and rename is checked as the user's
 * own would be, and what is created belongs to them. On top of that: no symlink is followed
 * below the home directory, only a regular file is read, and the file is replaced by a
 * rename, never rewritten in place. Runs in a worker thread (NSS and the disk may block). */
#define G_LOG_DOMAIN "accounts-keys"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "accounts-keys.h"
#include "phx-error.h"
#include "phx-limits.h"
#include "util-user.h"

typedef struct {
        gid_t groups[PHX_ACCOUNT_GROUPS_MAX];
        int n_groups;
} Saved;

/* Raw syscalls: glibc's setgroups changes every thread of the process; this must change the
 * calling worker thread only. */
static void
become (const PhxUser *u, Saved *saved)
{
        saved->n_groups = (int) syscall (SYS_getgroups, PHX_ACCOUNT_GROUPS_MAX, saved->groups);
        if (saved->n_groups < 0)
                saved->n_groups = 0;
        if (syscall (SYS_setgroups, (size_t) u->n_groups, u->groups) < 0)
                g_error ("setgroups for a user's keys: %s", g_strerror (errno));
        setfsgid (u->gid);
        setfsuid (u->uid);
        if ((uid_t) setfsuid ((uid_t) -1) != u->uid || (gid_t) setfsgid ((gid_t) -1) != u->gid)
                g_error ("could not take the filesystem ids of uid %u", (unsigned) u->uid);
}

/* A worker thread left with a user's ids would do the next command as that user: if the
 * way back fails, the agent stops rather than go on. */
static void
unbecome (const Saved *saved)
{
        setfsuid (0);
        setfsgid (0);
        if (syscall (SYS_setgroups, (size_t) saved->n_groups, saved->groups) < 0 || setfsuid ((uid_t) -1) != 0)
                g_error ("could not return to root's filesystem ids");
}

/* ~/.ssh, opened as the user (no symlink); -1 with errno ENOENT when it is missing and
 * not to be created. */
static int
open_ssh_dir (const PhxUser *u, gboolean create, GError **error)
{
        int home = open (u->home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int ssh;

        if (home < 0) {
                phx_error_set_errno (error, errno, "home directory %s", u->home);
                return -1;
        }
        if (create && mkdirat (home, ".ssh", 0700) < 0 && errno != EEXIST) {
                phx_error_set_errno (error, errno, "mkdir %s/.ssh", u->home);
                close (home);
                return -1;
        }
        ssh = openat (home, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ssh < 0) {
                int e = errno;
                if (e != ENOENT || create)
                        phx_error_set_errno (error, e == ELOOP ? EPERM : e, "%s/.ssh is not a directory of its own",
                                             u->home);
                close (home);
                errno = e;
                return -1;
        }
        close (home);
        /* sshd ignores keys in a directory others may write: make it so */
        if (create && fchmod (ssh, 0700) < 0) {
                phx_error_set_errno (error, errno, "chmod %s/.ssh", u->home);
                close (ssh);
                return -1;
        }
        return ssh;
}

gboolean
phx_keys_check (const char *key, GError **error)
{
        const char *p = key;

        while (*p == ' ' || *p == '\t')
                p++;
        if (*p == '\0' || *p == '#' || strpbrk (key, "\r\n") != NULL) {
                phx_error_set (error, EINVAL, "invalid OpenSSH public key: '%s'", key);
                return FALSE;
        }
        return TRUE;
}

static GPtrArray *
read_keys_as_user (const PhxUser *u, gboolean all_lines, GError **error)
{
        g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        struct stat st;
        int ssh = open_ssh_dir (u, FALSE, error);
        int fd;
        gssize n;
        gsize got = 0;

        if (ssh < 0)
                return errno == ENOENT && (error == NULL || *error == NULL) ? g_steal_pointer (&keys) : NULL;
        /* O_NONBLOCK: a FIFO planted there does not hang the thread before fstat sees it */
        fd = openat (ssh, "authorized_keys", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        close (ssh);
        if (fd < 0) {
                if (errno == ENOENT)
                        return g_steal_pointer (&keys);
                phx_error_set_errno (error, errno == ELOOP ? EPERM : errno, "%s/.ssh/authorized_keys", u->home);
                return NULL;
        }
        if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > (off_t) PHX_KEYS_FILE_MAX) {
                phx_error_set (error, EPERM, "%s/.ssh/authorized_keys is not a regular file of at most %zu bytes",
                               u->home, (size_t) PHX_KEYS_FILE_MAX);
                close (fd);
                return NULL;
        }
        text = g_malloc (PHX_KEYS_FILE_MAX + 1);
        while ((n = read (fd, text + got, PHX_KEYS_FILE_MAX - got)) > 0)
                got += (gsize) n;
        close (fd);
        if (n < 0) {
                phx_error_set_errno (error, errno, "read %s/.ssh/authorized_keys", u->home);
                return NULL;
        }
        text[got] = '\0';
        lines = g_strsplit (text, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                const char *l = g_strstrip (lines[i]);
                gboolean key = l[0] != '\0' && l[0] != '#';
                if (key || (all_lines && lines[i + 1] != NULL))
                        g_ptr_array_add (keys, g_strdup (l));
        }
        return g_steal_pointer (&keys);
}

GPtrArray *
phx_keys_read (const char *username, gboolean all_lines, GError **error)
{
        g_auto(PhxUser) u = { 0 };
        Saved saved;
        GPtrArray *keys;

        if (!phx_user_lookup (username, &u, error))
                return NULL;
        become (&u, &saved);
        keys = read_keys_as_user (&u, all_lines, error);
        unbecome (&saved);
        return keys;
}

static gboolean
write_keys_as_user (const PhxUser *u, GPtrArray *keys, GError **error)
{
        g_autoptr(GString) text = g_string_new (NULL);
        g_autofree char *tmp = g_strdup_printf ("authorized_keys.phx-%08x", g_random_int ());
        int ssh = open_ssh_dir (u, TRUE, error);
        int fd;
        gboolean ok;

        if (ssh < 0)
                return FALSE;
        for (guint i = 0; i < keys->len; i++)
                g_string_append_printf (text, "%s\n", (const char *) g_ptr_array_index (keys, i));
        fd = openat (ssh, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                phx_error_set_errno (error, errno, "create %s/.ssh/%s", u->home, tmp);
                close (ssh);
                return FALSE;
        }
        ok = write (fd, text->str, text->len) == (gssize) text->len && fsync (fd) == 0;
        if (!ok)
                phx_error_set_errno (error, errno != 0 ? errno : EIO, "write %s/.ssh/%s", u->home, tmp);
        close (fd);
        /* the old file (or a symlink in its place) is replaced, never written through */
        if (ok && renameat (ssh, tmp, ssh, "authorized_keys") < 0) {
                phx_error_set_errno (error, errno, "rename to %s/.ssh/authorized_keys", u->home);
                ok = FALSE;
        }
        if (!ok)
                unlinkat (ssh, tmp, 0);
        else
                fsync (ssh);
        close (ssh);
        return ok;
}

gboolean
phx_keys_write (const char *username, GPtrArray *keys, GError **error)
{
        g_auto(PhxUser) u = { 0 };
        Saved saved;
        gboolean ok;

        for (guint i = 0; i < keys->len; i++) {
                if (strpbrk (g_ptr_array_index (keys, i), "\r\n") != NULL) {
                        phx_error_set (error, EINVAL, "a line of authorized_keys cannot hold a line break");
                        return FALSE;
                }
        }
        if (!phx_user_lookup (username, &u, error))
                return FALSE;
        become (&u, &saved);
        ok = write_keys_as_user (&u, keys, error);
        unbecome (&saved);
        return ok;
}
