/* util-path.c — a path walk that follows a symbolic link only when its owner is root (or
 * the agent's own user). A guest user can plant a link anywhere they can write, including
 * inside their own home, and the agent would otherwise chown, chmod, create or replace
 * whatever the link names. The kernel's fs.protected_symlinks is no help here: it lets a
 * link be followed in a directory owned by the link's owner, which is exactly
 * /home/user/dir -> /etc. Every step is an openat(O_PATH|O_NOFOLLOW) on the previous
 * descriptor, so swapping a component for a link during the walk gains nothing. */
#define G_LOG_DOMAIN "util-path"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "util-path.h"

gboolean
util_path_is_trusted_owner (uid_t uid)
{
        return uid == 0 || uid == geteuid ();
}

/* chmod through an O_PATH descriptor: fchmod() refuses those, and opening the file for
 * real could have side effects (a tty, a tape). The kernel resolves the /proc link to the
 * inode itself, never to a name, so nothing can be swapped in between. */
int
util_path_chmod_fd (int fd, mode_t mode)
{
        char proc[64];

        g_snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
        return chmod (proc, mode);
}

void
util_path_clear (UtilPath *path)
{
        if (path->dirfd >= 0)
                close (path->dirfd);
        path->dirfd = -1;
        g_clear_pointer (&path->name, g_free);
}

/* Pushes the components of `text` onto `todo` so that the first one is popped first. */
static void
push_components (GPtrArray *todo, const char *text)
{
        g_auto(GStrv) parts = g_strsplit (text, "/", -1);

        for (guint i = g_strv_length (parts); i > 0; i--) {
                if (parts[i - 1][0] != '\0' && !g_str_equal (parts[i - 1], "."))
                        g_ptr_array_add (todo, g_strdup (parts[i - 1]));
        }
}

static char *
pop (GPtrArray *todo)
{
        return g_ptr_array_steal_index (todo, todo->len - 1);
}

static int
open_root (const char *path, GError **error)
{
        int fd = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                phx_error_set_errno (error, errno, "%s", path);
        return fd;
}

/* Creates directory `name` in `dirfd` with exactly `mode` (the umask only narrows the
 * window in which it exists with fewer bits). A set-group-ID bit inherited from the parent
 * is kept, as mkdir(1) and chmod(1) keep it for numeric modes: it is how group-shared trees
 * work. Returns an O_PATH descriptor of the new (or meanwhile created) directory. */
static int
make_directory (int dirfd, const char *name, mode_t mode, const char *path, GError **error)
{
        gboolean created = TRUE;
        struct stat st;
        mode_t want;
        int fd;

        if (mkdirat (dirfd, name, mode & 0777) < 0) {
                if (errno != EEXIST) {
                        phx_error_set_errno (error, errno, "%s", path);
                        return -1;
                }
                created = FALSE;
        }
        fd = openat (dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat (fd, &st) < 0) {
                phx_error_set_errno (error, errno, "%s", path);
                if (fd >= 0)
                        close (fd);
                return -1;
        }
        /* skipped when the umask took nothing away: a service with RestrictSUIDSGID= may
         * not chmod with the inherited set-group-ID bit */
        want = (mode & 07777) | (st.st_mode & S_ISGID);
        if (created && S_ISDIR (st.st_mode) && (st.st_mode & 07777) != want &&
            util_path_chmod_fd (fd, want) < 0) {
                phx_error_set_errno (error, errno, "%s: chmod of the new directory '%s'", path, name);
                /* no directory rather than one with another mode (it is empty: ours) */
                unlinkat (dirfd, name, AT_REMOVEDIR);
                close (fd);
                return -1;
        }
        return fd;
}

/* Reads the target of the link open (O_PATH) as `fd`. */
static char *
read_link (int fd, const char *path, GError **error)
{
        g_autofree char *target = g_malloc (PATH_MAX);
        ssize_t len = readlinkat (fd, "", target, PATH_MAX);

        if (len < 0 || len >= PATH_MAX) {
                phx_error_set_errno (error, len < 0 ? errno : ENAMETOOLONG, "readlink in %s", path);
                return NULL;
        }
        target[len] = '\0';
        return g_steal_pointer (&target);
}

/* Resolves `path` (absolute) into the directory holding its last component and that
 * component's name. A link on the way is followed only if its owner is trusted; any other
 * one fails with ELOOP and a message naming it. The last component must exist only when
 * it is a link to follow; with UTIL_PATH_MKDIRS, missing components become directories
 * of mode `dir_mode`. */
gboolean
util_path_resolve (const char *path, UtilPathFlags flags, mode_t dir_mode, UtilPath *out,
                   GError **error)
{
        g_autoptr(GPtrArray) todo = g_ptr_array_new_with_free_func (g_free);
        guint links = 0;
        int dirfd;

        g_return_val_if_fail (path[0] == '/', FALSE);
        dirfd = open_root (path, error);
        if (dirfd < 0)
                return FALSE;
        push_components (todo, path);
        while (todo->len > 0) {
                g_autofree char *name = pop (todo);
                gboolean last = todo->len == 0;
                struct stat st;
                int fd;

                if (last && !(flags & (UTIL_PATH_FOLLOW_LAST | UTIL_PATH_MKDIRS))) {
                        out->dirfd = dirfd;
                        out->name = g_steal_pointer (&name);
                        return TRUE;
                }
                fd = openat (dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 && errno == ENOENT && (flags & UTIL_PATH_MKDIRS))
                        fd = make_directory (dirfd, name, dir_mode, path, error);
                else if (fd < 0 && errno == ENOENT && last)
                        goto done;
                else if (fd < 0)
                        phx_error_set_errno (error, errno, "%s", path);
                if (fd < 0)
                        goto failed;
                if (fstat (fd, &st) < 0) {
                        phx_error_set_errno (error, errno, "%s", path);
                        close (fd);
                        goto failed;
                }
                if (S_ISLNK (st.st_mode)) {
                        g_autofree char *target = NULL;

                        if (!util_path_is_trusted_owner (st.st_uid)) {
                                phx_error_set_errno (error, ELOOP, "%s: symbolic link '%s' is owned "
                                                     "by uid %u and not followed",
                                                     path, name, (guint) st.st_uid);
                                close (fd);
                                goto failed;
                        }
                        if (++links > PHX_PATH_LINKS_MAX) {
                                phx_error_set_errno (error, ELOOP, "%s", path);
                                close (fd);
                                goto failed;
                        }
                        target = read_link (fd, path, error);
                        close (fd);
                        if (target == NULL)
                                goto failed;
                        push_components (todo, target);
                        if (target[0] == '/') {
                                close (dirfd);
                                dirfd = open_root (path, error);
                                if (dirfd < 0)
                                        return FALSE;
                        }
                        /* a link to "/" (or to ".") leaves nothing to pop: it ends here */
                        if (todo->len == 0 && last) {
                                out->dirfd = dirfd;
                                out->name = g_strdup (".");
                                return TRUE;
                        }
                        continue;
                }
                if (last) {
                        close (fd);
                        goto done;
                }
                if (!S_ISDIR (st.st_mode)) {
                        phx_error_set_errno (error, ENOTDIR, "%s", path);
                        close (fd);
                        goto failed;
                }
                close (dirfd);
                dirfd = fd;
                continue;
done:
                out->dirfd = dirfd;
                out->name = g_steal_pointer (&name);
                return TRUE;
        }
        /* "/" itself, or a path of only "." components */
        out->dirfd = dirfd;
        out->name = g_strdup (".");
        return TRUE;

failed:
        close (dirfd);
        return FALSE;
}
