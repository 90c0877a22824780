/* phx-base64.h — RFC 4648 base64 with padding: a decoder that validates while it decodes
 * and a table-driven encoder. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gsize phx_base64_encoded_len (gsize len);
void phx_base64_encode_to (const guint8 *data, gsize len, char *out);
char *phx_base64_encode (const guint8 *data, gsize len);
GBytes *phx_base64_decode (const char *text, gsize len, GError **error);

G_END_DECLS
