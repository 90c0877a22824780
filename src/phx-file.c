/* phx-file.c — opening, reading, writing and closing the files behind handles. Runs in
 * worker threads: touches nothing but the PhxFile it is given. In atomic mode the target is
 * replaced only by a completed, fsync'ed file, so a crash or a vanished host leaves the old
 * one untouched. */
#define G_LOG_DOMAIN "phx-file"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "phx-error.h"
#include "phx-file.h"

static int
open_plain (const char *path, gboolean writable, guint perm, gboolean force, GError **error)
{
        /* O_NONBLOCK so that opening a FIFO without a peer cannot hang a worker forever;
         * it is cleared again right after. */
        int flags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                    (writable ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY);
        int fd = open (path, flags, perm);

        if (fd < 0 && errno == ETXTBSY && writable && force) {
                /* A running binary cannot be truncated, but its name can be reused. */
                if (unlink (path) < 0) {
                        phx_error_set_errno (error, errno, "unlink %s", path);
                        return -1;
                }
                fd = open (path, flags, perm);
        }
        if (fd < 0) {
                phx_error_set_errno (error, errno, "open %s", path);
                return -1;
        }
        return fd;
}

static int
open_temporary (PhxFile *self, guint perm, GError **error)
{
        g_autofree char *dir = g_path_get_dirname (self->path);
        g_autofree char *base = NULL;
        int fd;

        /* An unnamed file vanishes by itself if we die before the rename. */
        fd = open (dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, perm);
        if (fd >= 0)
                return fd;
        if (errno != EOPNOTSUPP && errno != EISDIR) {
                phx_error_set_errno (error, errno, "open temporary file in %s", dir);
                return -1;
        }
        base = g_path_get_basename (self->path);
        self->tmp_path = g_strdup_printf ("%s/.%s.phx-XXXXXX", dir, base);
        fd = g_mkstemp_full (self->tmp_path, O_WRONLY | O_CLOEXEC, perm);
        if (fd < 0) {
                phx_error_set_errno (error, errno, "create temporary file for %s", self->path);
                g_clear_pointer (&self->tmp_path, g_free);
        }
        return fd;
}

PhxFile *
phx_file_open (const char *path, const char *mode, guint perm, gboolean force, gboolean atomic,
               GError **error)
{
        g_autoptr(PhxFile) self = g_new0 (PhxFile, 1);
        gboolean writable;
        int fl;

        self->fd = -1;
        self->path = g_strdup (path);
        if (g_str_equal (mode, "r")) {
                writable = FALSE;
        } else if (g_str_equal (mode, "w")) {
                writable = TRUE;
        } else {
                phx_error_set (error, EINVAL, "unsupported mode '%s' (use \"r\" or \"w\")", mode);
                return NULL;
        }
        if (atomic && !writable) {
                phx_error_set (error, EINVAL, "atomic needs mode \"w\"");
                return NULL;
        }
        self->atomic = atomic;
        self->fd = atomic ? open_temporary (self, perm, error) : open_plain (path, writable, perm, force, error);
        if (self->fd < 0)
                return NULL;
        fl = fcntl (self->fd, F_GETFL);
        if (fl >= 0)
                fcntl (self->fd, F_SETFL, fl & ~O_NONBLOCK);
        return g_steal_pointer (&self);
}

/* Reads up to count bytes; *eof is TRUE once the end of the file was met. */
GBytes *
phx_file_read (PhxFile *self, gsize count, gboolean *eof, GError **error)
{
        guint8 *buf = g_malloc (count > 0 ? count : 1);
        gsize got = 0;

        *eof = FALSE;
        while (got < count) {
                ssize_t n = read (self->fd, buf + got, count - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int errsv = errno;
                        g_free (buf);
                        phx_error_set_errno (error, errsv, "read %s", self->path);
                        return NULL;
                }
                if (n == 0) {
                        *eof = TRUE;
                        break;
                }
                got += n;
        }
        /* A large count on a small file must not pin the whole buffer. */
        if (got < count / 2)
                buf = g_realloc (buf, got > 0 ? got : 1);
        return g_bytes_new_take (buf, got);
}

gboolean
phx_file_write (PhxFile *self, const guint8 *data, gsize len, GError **error)
{
        while (len > 0) {
                ssize_t n = write (self->fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        phx_error_set_errno (error, errno, "write %s", self->path);
                        return FALSE;
                }
                data += n;
                len -= n;
        }
        return TRUE;
}

static gboolean
fsync_parent (const char *path, GError **error)
{
        g_autofree char *dir = g_path_get_dirname (path);
        int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0) {
                phx_error_set_errno (error, errno, "open %s", dir);
                return FALSE;
        }
        if (fsync (fd) < 0 && errno != EINVAL) {
                int errsv = errno;
                close (fd);
                phx_error_set_errno (error, errsv, "fsync %s", dir);
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
        if (self->tmp_path == NULL) {
                g_autofree char *proc = g_strdup_printf ("/proc/self/fd/%d", self->fd);
                g_autofree char *dir = g_path_get_dirname (self->path);

                /* linkat cannot replace a name, so link under a fresh name and rename that. */
                for (guint attempt = 0; self->tmp_path == NULL; attempt++) {
                        g_autofree char *name = g_strdup_printf ("%s/.phx-%08x", dir, g_random_int ());
                        if (linkat (AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0) {
                                self->tmp_path = g_steal_pointer (&name);
                        } else if (errno != EEXIST || attempt > 16) {
                                phx_error_set_errno (error, errno, "link temporary file for %s", self->path);
                                return FALSE;
                        }
                }
        }
        if (rename (self->tmp_path, self->path) < 0) {
                phx_error_set_errno (error, errno, "rename over %s", self->path);
                return FALSE;
        }
        g_clear_pointer (&self->tmp_path, g_free);
        return fsync_parent (self->path, error);
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
        if (self->tmp_path != NULL) {
                g_unlink (self->tmp_path);
                g_clear_pointer (&self->tmp_path, g_free);
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
        if (self->tmp_path != NULL)
                g_unlink (self->tmp_path);
        g_free (self->tmp_path);
        g_free (self->path);
        g_free (self);
}
