/* phx-file.c — opening, reading, writing and closing the files behind handles. Runs in
 * worker threads: touches nothing but the PhxFile it is given. In atomic mode the target is
 * replaced only by a completed, fsync'ed file, so a crash or a vanished host leaves the old
 * one untouched. Writing never goes through a link a guest user planted (util-path.c). */
#define G_LOG_DOMAIN "phx-file"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "phx-error.h"
#include "phx-file.h"
#include "phx-limits.h"
#include "util-path.h"

/* Mode of a new file when the host gives no perm. */
#define DEFAULT_PERM 0644

/* Removes the file this handle just created, unless its name now leads elsewhere. */
static void
unlink_if_same (PhxFile *self, int fd)
{
        struct stat mine, named;

        if (fstat (fd, &mine) == 0 && fstatat (self->dirfd, self->name, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
            mine.st_dev == named.st_dev && mine.st_ino == named.st_ino)
                unlinkat (self->dirfd, self->name, 0);
}

/* open(2)'s access flags for a mode. */
static int
access_flags (PhxFileMode mode)
{
        int flags = (mode & PHX_FILE_READ) ? O_RDWR : O_WRONLY;

        if (mode & PHX_FILE_APPEND)
                flags |= O_APPEND;
        return flags;
}

/* Opens `name` in `dirfd` for writing (and reading, with PHX_FILE_READ): created if the mode
 * says so and it is missing, emptied if the mode says so; never through a link (the path
 * walk followed the trusted ones, so a link here was swapped in since). A file this call
 * creates gets exactly `perm`: the umask only narrows it until the fchmod. */
static int
open_for_writing (PhxFile *self, PhxFileMode mode, guint perm, GError **error)
{
        const int flags = access_flags (mode) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW;
        const int existing = flags | ((mode & PHX_FILE_TRUNCATE) ? O_TRUNC : 0);

        /* Two rounds: the file may vanish between the two opens of the first. */
        for (guint round = 0; round < 2 && (mode & PHX_FILE_CREATE); round++) {
                int fd = openat (self->dirfd, self->name, flags | O_CREAT | O_EXCL, perm & 0777);

                if (fd >= 0) {
                        if (fchmod (fd, perm) < 0) {
                                /* e.g. set-ID bits under systemd's RestrictSUIDSGID=: no file
                                 * is better than one with another mode */
                                phx_error_set_errno (error, errno, "chmod %s", self->path);
                                unlink_if_same (self, fd);
                                close (fd);
                                return -1;
                        }
                        return fd;
                }
                if (errno != EEXIST)
                        goto failed;
                fd = openat (self->dirfd, self->name, existing);
                if (fd >= 0)
                        return fd;
                if (errno != ENOENT)
                        goto failed;
        }
        if (!(mode & PHX_FILE_CREATE)) { /* r+ */
                int fd = openat (self->dirfd, self->name, existing);
                if (fd >= 0)
                        return fd;
        }
failed:
        phx_error_set_errno (error, errno, "open %s", self->path);
        return -1;
}

static int
open_plain (PhxFile *self, PhxFileMode mode, guint perm, gboolean force, GError **error)
{
        g_autoptr(GError) local = NULL;
        int fd;

        /* Reading changes nothing, so links are followed as open(2) follows them. O_NONBLOCK
         * so that opening a FIFO without a peer cannot hang a worker forever; it is cleared
         * again right after. */
        if (!(mode & PHX_FILE_WRITE)) {
                fd = open (self->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0)
                        phx_error_set_errno (error, errno, "open %s", self->path);
                return fd;
        }
        fd = open_for_writing (self, mode, perm, &local);
        if (fd < 0 && g_error_matches (local, PHX_ERROR, ETXTBSY) && force) {
                /* A running binary cannot be truncated, but its name can be reused. */
                if (unlinkat (self->dirfd, self->name, 0) < 0) {
                        phx_error_set_errno (error, errno, "unlink %s", self->path);
                        return -1;
                }
                g_clear_error (&local);
                fd = open_for_writing (self, mode, perm, &local);
        }
        if (fd < 0)
                g_propagate_error (error, g_steal_pointer (&local));
        return fd;
}

/* Copies the extended attributes of `from` to `to`: security labels, user attributes and
 * the access ACL (system.posix_acl_access) all live there. */
static gboolean
copy_xattrs (int from, int to, const char *path, GError **error)
{
        g_autofree char *names = g_malloc (PHX_XATTR_LIST_MAX);
        g_autofree char *value = g_malloc (PHX_XATTR_VALUE_MAX);
        ssize_t len = flistxattr (from, names, PHX_XATTR_LIST_MAX);

        if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
                return TRUE;
        if (len < 0) {
                phx_error_set_errno (error, errno, "list extended attributes of %s", path);
                return FALSE;
        }
        for (const char *name = names; name < names + len; name += strlen (name) + 1) {
                ssize_t n = fgetxattr (from, name, value, PHX_XATTR_VALUE_MAX);

                if (n < 0 && errno == ENODATA) /* removed since the list */
                        continue;
                if (n < 0 || fsetxattr (to, name, value, (size_t) n, 0) < 0) {
                        phx_error_set_errno (error, errno, "copy extended attribute %s of %s", name, path);
                        return FALSE;
                }
        }
        return TRUE;
}

/* The replacement takes over what the file it replaces carries: owner, group, extended
 * attributes and mode, unless the host gave a mode (perm >= 0). A new file gets perm, or
 * DEFAULT_PERM. Runs before any data is written, while the file is still 0600. */
static gboolean
take_over_metadata (PhxFile *self, int fd, gint perm, GError **error)
{
        struct stat st;
        mode_t mode = perm >= 0 ? (mode_t) perm : DEFAULT_PERM;

        if (fstatat (self->dirfd, self->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISDIR (st.st_mode)) {
                        phx_error_set_errno (error, EISDIR, "open %s", self->path);
                        return FALSE;
                }
                if (S_ISLNK (st.st_mode)) { /* swapped in since the walk */
                        phx_error_set_errno (error, ELOOP, "open %s", self->path);
                        return FALSE;
                }
                if (fchown (fd, st.st_uid, st.st_gid) < 0) {
                        phx_error_set_errno (error, errno, "chown temporary file for %s", self->path);
                        return FALSE;
                }
                if (S_ISREG (st.st_mode)) {
                        int old = openat (self->dirfd, self->name,
                                          O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
                        gboolean ok;

                        if (old < 0) {
                                phx_error_set_errno (error, errno, "open %s", self->path);
                                return FALSE;
                        }
                        ok = copy_xattrs (old, fd, self->path, error);
                        close (old);
                        if (!ok)
                                return FALSE;
                }
                if (perm < 0)
                        mode = st.st_mode & 07777;
        } else if (errno != ENOENT) {
                phx_error_set_errno (error, errno, "stat %s", self->path);
                return FALSE;
        }
        /* last: a chown clears set-user-ID bits, and an ACL would set the group bits */
        if (fchmod (fd, mode) < 0) {
                phx_error_set_errno (error, errno, "chmod temporary file for %s", self->path);
                return FALSE;
        }
        return TRUE;
}

static int
open_temporary (PhxFile *self, gint perm, GError **error)
{
        int fd;

        /* An unnamed file vanishes by itself if we die before the rename. */
        fd = openat (self->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR) {
                phx_error_set_errno (error, errno, "open temporary file for %s", self->path);
                return -1;
        }
        for (guint attempt = 0; fd < 0; attempt++) {
                g_autofree char *name = g_strdup_printf (".%s.phx-%08x", self->name, g_random_int ());

                fd = openat (self->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        self->tmp_name = g_steal_pointer (&name);
                } else if (errno != EEXIST || attempt + 1 >= PHX_TEMP_NAME_TRIES) {
                        phx_error_set_errno (error, errno, "create temporary file for %s", self->path);
                        return -1;
                }
        }
        if (!take_over_metadata (self, fd, perm, error)) {
                close (fd);
                return -1;
        }
        return fd;
}

/* fopen(3)'s modes: r, r+, w, w+, a, a+, each with an optional 'b' (no meaning on Linux)
 * after the letter or at the end; "rw", "x", "t" and the rest are refused, as qemu-ga
 * refuses them. */
gboolean
phx_file_mode_parse (const char *mode, PhxFileMode *out)
{
        static const struct {
                char letter;
                PhxFileMode mode;
        } letters[] = {
                { 'r', PHX_FILE_READ },
                { 'w', PHX_FILE_WRITE | PHX_FILE_CREATE | PHX_FILE_TRUNCATE },
                { 'a', PHX_FILE_WRITE | PHX_FILE_CREATE | PHX_FILE_APPEND },
        };
        static const char *const tails[] = { "", "b", "+", "b+", "+b" };

        for (guint i = 0; i < G_N_ELEMENTS (letters); i++) {
                if (mode[0] != letters[i].letter)
                        continue;
                for (guint j = 0; j < G_N_ELEMENTS (tails); j++) {
                        if (g_str_equal (mode + 1, tails[j])) {
                                *out = letters[i].mode;
                                if (strchr (tails[j], '+') != NULL)
                                        *out |= PHX_FILE_READ | PHX_FILE_WRITE;
                                return TRUE;
                        }
                }
        }
        return FALSE;
}

PhxFile *
phx_file_open (const char *path, PhxFileMode mode, gint perm, gboolean force, gboolean atomic,
               GError **error)
{
        g_autoptr(PhxFile) self = g_new0 (PhxFile, 1);
        g_auto(UtilPath) where = UTIL_PATH_INIT;
        struct stat st;
        int fl;

        self->fd = -1;
        self->dirfd = -1;
        self->path = g_strdup (path);
        if (atomic && mode != (PHX_FILE_WRITE | PHX_FILE_CREATE | PHX_FILE_TRUNCATE)) {
                phx_error_set (error, EINVAL, "atomic needs mode \"w\"");
                return NULL;
        }
        if (mode & PHX_FILE_WRITE) {
                /* a root-owned link is written through (or replaced at its target); a
                 * user's link is refused rather than let root write where it points */
                if (!util_path_resolve (path, UTIL_PATH_FOLLOW_LAST, 0, &where, error)) {
                        g_prefix_error (error, "open ");
                        return NULL;
                }
                self->dirfd = g_steal_fd (&where.dirfd);
                self->name = g_steal_pointer (&where.name);
        }
        self->atomic = atomic;
        self->fd = atomic ? open_temporary (self, perm, error)
                          : open_plain (self, mode, perm >= 0 ? (guint) perm : DEFAULT_PERM, force, error);
        if (self->fd < 0)
                return NULL;
        /* Pipes, sockets and character devices stay non-blocking: their reads and writes
         * wait in poll(), bounded in time and cancellable (see wait_stream). */
        self->stream = fstat (self->fd, &st) == 0 && (S_ISFIFO (st.st_mode) || S_ISSOCK (st.st_mode) ||
                                                      S_ISCHR (st.st_mode));
        fl = fcntl (self->fd, F_GETFL);
        if (fl >= 0 && !self->stream)
                fcntl (self->fd, F_SETFL, fl & ~O_NONBLOCK);
        return g_steal_pointer (&self);
}

/* A stream has nothing to give (or no room): wait for it, for at most PHX_STREAM_WAIT_MS
 * and no longer than the call lives (the host left, or the handle is being closed).
 * Returns 1 when ready, 0 on time out, -1 with the error set when cancelled. */
static int
wait_stream (PhxFile *self, short events, GCancellable *cancellable, GError **error)
{
        GPollFD fds[2] = { { .fd = self->fd, .events = events } };
        guint n = 1;
        int ret;

        if (g_cancellable_make_pollfd (cancellable, &fds[1]))
                n = 2;
        do
                ret = g_poll (fds, n, PHX_STREAM_WAIT_MS);
        while (ret < 0 && errno == EINTR);
        if (n == 2)
                g_cancellable_release_fd (cancellable);
        if (g_cancellable_is_cancelled (cancellable)) {
                phx_error_set_errno (error, ECANCELED, "the host left or the handle is being closed");
                return -1;
        }
        return ret > 0 ? 1 : 0;
}

/* How many of count bytes a read will bring: what is left of a regular file, 0 when it
 * cannot be known (a pipe, a device). */
gsize
phx_file_read_expected (PhxFile *self, gsize count)
{
        struct stat st;
        off_t pos;

        if (self->stream || fstat (self->fd, &st) < 0 || !S_ISREG (st.st_mode))
                return 0;
        pos = lseek (self->fd, 0, SEEK_CUR);
        if (pos < 0 || pos >= st.st_size)
                return 0;
        return MIN (count, (guint64) (st.st_size - pos));
}

/* Reads up to count bytes into buf; *got says how many came, *eof is TRUE once the end of
 * the file was met. A stream gives what it has: the read returns once some data came and
 * no more is waiting, or empty (not at end) after PHX_STREAM_WAIT_MS with nothing. */
gboolean
phx_file_read_into (PhxFile *self, guint8 *buf, gsize count, gsize *got, gboolean *eof,
                    GCancellable *cancellable, GError **error)
{
        *got = 0;
        *eof = FALSE;
        while (*got < count) {
                ssize_t n = read (self->fd, buf + *got, count - *got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN && self->stream) {
                        int ready;

                        if (*got > 0)
                                break;
                        ready = wait_stream (self, G_IO_IN, cancellable, error);
                        if (ready < 0) {
                                g_prefix_error (error, "read %s: ", self->path);
                                return FALSE;
                        }
                        if (ready == 0)
                                break;
                        continue;
                }
                if (n < 0) {
                        phx_error_set_errno (error, errno, "read %s", self->path);
                        return FALSE;
                }
                if (n == 0) {
                        *eof = TRUE;
                        break;
                }
                *got += n;
        }
        return TRUE;
}

/* A stream that takes nothing for PHX_STREAM_WAIT_MS (a pipe nobody reads) fails the write
 * with ETIMEDOUT, saying how much went: a slow consumer holds only its own handle, and only
 * for that long. */
gboolean
phx_file_write (PhxFile *self, const guint8 *data, gsize len, GCancellable *cancellable, GError **error)
{
        gsize done = 0;

        while (len > 0) {
                ssize_t n = write (self->fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN && self->stream) {
                        int ready = wait_stream (self, G_IO_OUT, cancellable, error);

                        if (ready < 0) {
                                g_prefix_error (error, "write %s (%" G_GSIZE_FORMAT " bytes written): ", self->path,
                                                done);
                                return FALSE;
                        }
                        if (ready == 0) {
                                phx_error_set_errno (error, ETIMEDOUT,
                                                     "write %s: nothing taken for %d ms (%" G_GSIZE_FORMAT
                                                     " bytes written)", self->path, PHX_STREAM_WAIT_MS, done);
                                return FALSE;
                        }
                        continue;
                }
                if (n < 0) {
                        phx_error_set_errno (error, errno, "write %s", self->path);
                        return FALSE;
                }
                data += n;
                len -= n;
                done += n;
        }
        return TRUE;
}

/* lseek(2); a negative result, or a pipe, fails as lseek fails. */
gboolean
phx_file_seek (PhxFile *self, gint64 offset, int whence, gint64 *position, GError **error)
{
        off_t pos = lseek (self->fd, (off_t) offset, whence);

        if (pos < 0) {
                phx_error_set_errno (error, errno, "seek %s", self->path);
                return FALSE;
        }
        *position = pos;
        return TRUE;
}

static gboolean
fsync_dir (PhxFile *self, GError **error)
{
        /* dirfd is O_PATH, which fsync refuses */
        int fd = openat (self->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0) {
                phx_error_set_errno (error, errno, "open the directory of %s", self->path);
                return FALSE;
        }
        if (fsync (fd) < 0 && errno != EINVAL) {
                int errsv = errno;
                close (fd);
                phx_error_set_errno (error, errsv, "fsync the directory of %s", self->path);
                return FALSE;
        }
        close (fd);
        return TRUE;
}

/* Puts the completed temporary file in place: data first on disk, then the name. */
static gboolean
commit_atomic (PhxFile *self, GError **error)
{
        if (fsync (self->fd) < 0) {
                phx_error_set_errno (error, errno, "fsync %s", self->path);
                return FALSE;
        }
        if (self->tmp_name == NULL) {
                g_autofree char *proc = g_strdup_printf ("/proc/self/fd/%d", self->fd);

                /* linkat cannot replace a name, so link under a fresh name and rename that.
                 * Through /proc: AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH. */
                for (guint attempt = 0; self->tmp_name == NULL; attempt++) {
                        g_autofree char *name = g_strdup_printf (".phx-%08x", g_random_int ());
                        if (linkat (AT_FDCWD, proc, self->dirfd, name, AT_SYMLINK_FOLLOW) == 0) {
                                self->tmp_name = g_steal_pointer (&name);
                        } else if (errno != EEXIST || attempt + 1 >= PHX_TEMP_NAME_TRIES) {
                                phx_error_set_errno (error, errno, "link temporary file for %s", self->path);
                                return FALSE;
                        }
                }
        }
        if (renameat (self->dirfd, self->tmp_name, self->dirfd, self->name) < 0) {
                phx_error_set_errno (error, errno, "rename over %s", self->path);
                return FALSE;
        }
        g_clear_pointer (&self->tmp_name, g_free);
        return fsync_dir (self, error);
}

/* Closes the descriptor (committing an atomic write); the handle is closed even on error. */
gboolean
phx_file_close (PhxFile *self, GError **error)
{
        gboolean ok = TRUE;

        if (self->closed)
                return TRUE;
        if (self->atomic)
                ok = commit_atomic (self, error);
        if (close (self->fd) < 0 && ok) {
                phx_error_set_errno (error, errno, "close %s", self->path);
                ok = FALSE;
        }
        self->fd = -1;
        self->closed = TRUE;
        if (self->tmp_name != NULL) {
                unlinkat (self->dirfd, self->tmp_name, 0);
                g_clear_pointer (&self->tmp_name, g_free);
        }
        return ok;
}

/* Drops the handle without committing: an unfinished atomic write leaves the target as it was. */
void
phx_file_free (PhxFile *self)
{
        if (self == NULL)
                return;
        if (self->fd >= 0)
                close (self->fd);
        if (self->tmp_name != NULL)
                unlinkat (self->dirfd, self->tmp_name, 0);
        /* dirfd only means something with a name (tests build bare handles with g_new0) */
        if (self->name != NULL && self->dirfd >= 0)
                close (self->dirfd);
        g_free (self->tmp_name);
        g_free (self->name);
        g_free (self->path);
        g_free (self);
}
