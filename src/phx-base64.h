/* phx-base64.h — RFC 4648 base64 with padding: a decoder that validates while it decodes
 * and a table-driven encoder. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gsize phx_base64_encoded_len (gsize len);
void phx_base64_encode_to (const guint8 *data, gsize len, char *out);
gsize phx_base64_tail_offset (gsize capacity);
gsize phx_base64_encode_in_place (char *buf, gsize capacity, gsize len);
char *phx_base64_encode (const guint8 *data, gsize len);
GBytes *phx_base64_decode (const char *text, gsize len, GError **error);
gboolean phx_base64_check (const char *text, gsize len, gsize *out_len, GError **error);
gsize phx_base64_decode_valid (const char *text, gsize len, guint8 *out);

G_END_DECLS
