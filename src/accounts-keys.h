/* accounts-keys.h — a user's ~/.ssh/authorized_keys, read and replaced as that user. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The keys (non-blank, non-comment lines) of the user's file, or with all_lines its every
 * line (comments kept, to be written back); an empty array when the file does not exist. */
GPtrArray *phx_keys_read (const char *username, gboolean all_lines, GError **error);
/* The file becomes these lines, created with ~/.ssh if needed, replaced atomically. */
gboolean phx_keys_write (const char *username, GPtrArray *lines, GError **error);
/* A key the file may hold: one line of text, not empty, not a comment. */
gboolean phx_keys_check (const char *key, GError **error);

G_END_DECLS
