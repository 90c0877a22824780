/* phx-file.h — one open file handle: its descriptor and the I/O done through it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _PhxFile PhxFile;

struct _PhxFile {
        int fd;
        char *path;
        int dirfd;       /* writing modes: the directory the file is in (O_PATH); valid iff name */
        char *name;      /* writing modes: its name there, links resolved (see util-path.c) */
        char *tmp_name;  /* atomic mode: the temporary file's name in dirfd once it has one */
        gboolean atomic; /* the data goes to `path` only when the handle is closed */
        gboolean closed; /* the descriptor is gone (file-close, or end of file) */
        gboolean stream; /* a pipe, socket or character device: waits are bounded (PHX_STREAM_WAIT_MS) */
};

/* How a handle was opened: fopen(3)'s modes, as qemu-ga takes them. */
typedef enum {
        PHX_FILE_READ = 1 << 0,     /* the handle reads */
        PHX_FILE_WRITE = 1 << 1,    /* the handle writes */
        PHX_FILE_CREATE = 1 << 2,   /* a missing file is created */
        PHX_FILE_TRUNCATE = 1 << 3, /* an existing file is emptied */
        PHX_FILE_APPEND = 1 << 4,   /* every write goes to the end */
} PhxFileMode;

gboolean phx_file_mode_parse (const char *mode, PhxFileMode *out);

/* perm < 0: not given (0644 for a new file; an atomic replace keeps the old file's mode) */
PhxFile *phx_file_open (const char *path, PhxFileMode mode, gint perm, gboolean force,
                        gboolean atomic, GError **error);
gsize phx_file_read_expected (PhxFile *self, gsize count);
gboolean phx_file_read_into (PhxFile *self, guint8 *buf, gsize count, gsize *got, gboolean *eof,
                             GCancellable *cancellable, GError **error);
gboolean phx_file_write (PhxFile *self, const guint8 *data, gsize len, GCancellable *cancellable,
                         GError **error);
gboolean phx_file_seek (PhxFile *self, gint64 offset, int whence, gint64 *position, GError **error);
gboolean phx_file_close (PhxFile *self, GError **error);
void phx_file_free (PhxFile *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxFile, phx_file_free)

G_END_DECLS
