/* sysinfo-file.h — reads a small system file (/proc, /run, /etc) whole, with a size bound. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The contents of `path`, NUL-terminated (*len without the NUL), at most `max` bytes: a
 * longer file is an EFBIG error, not a truncated read. /proc files report size 0, so the
 * file is read to its end rather than by its size. Errors keep their errno (ENOENT for a
 * missing file, which callers often treat as "nothing to report"). */
gboolean phx_sysinfo_read_file (const char *path, gsize max, char **contents, gsize *len, GError **error);

G_END_DECLS
