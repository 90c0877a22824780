/* phx-file.h — one open file handle: its descriptor and the I/O done through it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PhxFile PhxFile;

struct _PhxFile {
        int fd;
        char *path;
        char *tmp_path;  /* atomic mode with a named temporary file, else NULL */
        gboolean atomic; /* the data goes to `path` only when the handle is closed */
        gboolean closed; /* the descriptor is gone (file-close, or end of file) */
};

PhxFile *phx_file_open (const char *path, const char *mode, guint perm, gboolean force,
                        gboolean atomic, GError **error);
GBytes *phx_file_read (PhxFile *self, gsize count, gboolean *eof, GError **error);
gboolean phx_file_write (PhxFile *self, const guint8 *data, gsize len, GError **error);
gboolean phx_file_close (PhxFile *self, GError **error);
void phx_file_free (PhxFile *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxFile, phx_file_free)

G_END_DECLS
