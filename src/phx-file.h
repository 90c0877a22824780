/* phx-file.h — one open file handle: its descriptor and the I/O done through it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _PhxFile PhxFile;

struct _PhxFile {
        int fd;
        char *path;
        int dirfd;       /* mode "w": the directory the file is in (O_PATH); valid iff name */
        char *name;      /* mode "w": its name there, links resolved (see util-path.c) */
        char *tmp_name;  /* atomic mode: the temporary file's name in dirfd once it has one */
        gboolean atomic; /* the data goes to `path` only when the handle is closed */
        gboolean closed; /* the descriptor is gone (file-close, or end of file) */
        gboolean stream; /* a pipe, socket or character device: waits are bounded (PHX_STREAM_WAIT_MS) */
};

/* perm < 0: not given (0644 for a new file; an atomic replace keeps the old file's mode) */
PhxFile *phx_file_open (const char *path, const char *mode, gint perm, gboolean force,
                        gboolean atomic, GError **error);
GBytes *phx_file_read (PhxFile *self, gsize count, gboolean *eof, GCancellable *cancellable, GError **error);
gboolean phx_file_write (PhxFile *self, const guint8 *data, gsize len, GCancellable *cancellable,
                         GError **error);
gboolean phx_file_close (PhxFile *self, GError **error);
void phx_file_free (PhxFile *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxFile, phx_file_free)

G_END_DECLS
