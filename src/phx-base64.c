/* phx-base64.c — strict base64. GLib's g_base64_decode() accepts any input silently
 * (skipping bad characters), and its streaming codec runs at a fraction of memory speed;
 * file transfers are dominated by this code, so it is table-driven and rejects
 * anything that is not canonical RFC 4648 text before a byte is written to disk. */
#define G_LOG_DOMAIN "phx-base64"

#include <errno.h>
#include <string.h>

#include "phx-base64.h"
#include "phx-error.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for alphabet characters, 0xff for anything else. */
static const guint8 *
decode_table (void)
{
        static guint8 table[256];
        static gsize initialized = 0;

        if (g_once_init_enter (&initialized)) {
                memset (table, 0xff, sizeof table);
                for (guint i = 0; i < 64; i++)
                        table[(guint8) alphabet[i]] = (guint8) i;
                g_once_init_leave (&initialized, 1);
        }
        return table;
}

gsize
phx_base64_encoded_len (gsize len)
{
        return (len + 2) / 3 * 4;
}

/* Writes exactly phx_base64_encoded_len (len) bytes to out, no terminator. */
void
phx_base64_encode_to (const guint8 *data, gsize len, char *out)
{
        gsize i = 0;

        for (; i + 3 <= len; i += 3) {
                guint32 v = (guint32) data[i] << 16 | (guint32) data[i + 1] << 8 | data[i + 2];
                *out++ = alphabet[v >> 18];
                *out++ = alphabet[(v >> 12) & 63];
                *out++ = alphabet[(v >> 6) & 63];
                *out++ = alphabet[v & 63];
        }
        if (len - i == 1) {
                guint32 v = (guint32) data[i] << 16;
                *out++ = alphabet[v >> 18];
                *out++ = alphabet[(v >> 12) & 63];
                *out++ = '=';
                *out++ = '=';
        } else if (len - i == 2) {
                guint32 v = (guint32) data[i] << 16 | (guint32) data[i + 1] << 8;
                *out++ = alphabet[v >> 18];
                *out++ = alphabet[(v >> 12) & 63];
                *out++ = alphabet[(v >> 6) & 63];
                *out++ = '=';
        }
}

char *
phx_base64_encode (const guint8 *data, gsize len)
{
        gsize out_len = phx_base64_encoded_len (len);
        char *out = g_malloc (out_len + 1);

        phx_base64_encode_to (data, len, out);
        out[out_len] = '\0';
        return out;
}

GBytes *
phx_base64_decode (const char *text, gsize len, GError **error)
{
        const guint8 *t = decode_table ();
        const guint8 *in = (const guint8 *) text;
        gsize pad = 0;
        gsize out_len, o = 0;
        guint8 *out;

        if (len % 4 != 0) {
                phx_error_set (error, EINVAL, "invalid base64: length %" G_GSIZE_FORMAT
                               " is not a multiple of 4", len);
                return NULL;
        }
        if (len > 0 && in[len - 1] == '=')
                pad++;
        if (len > 1 && in[len - 2] == '=')
                pad++;
        out_len = len / 4 * 3 - pad;
        out = g_malloc (out_len + 1);

        for (gsize i = 0; i < len; i += 4) {
                gboolean last = i + 4 == len;
                guint8 a = t[in[i]], b = t[in[i + 1]], c = t[in[i + 2]], d = t[in[i + 3]];

                if (G_UNLIKELY ((a | b | c | d) == 0xff)) {
                        /* Only the final quantum may carry padding, and only at its end. */
                        if (!(last && a != 0xff && b != 0xff &&
                              ((pad == 1 && c != 0xff) || (pad == 2 && in[i + 2] == '=')))) {
                                gsize bad = i;
                                while (bad < len && t[in[bad]] != 0xff)
                                        bad++;
                                g_free (out);
                                phx_error_set (error, EINVAL,
                                               "invalid base64: unexpected character at offset %" G_GSIZE_FORMAT,
                                               bad);
                                return NULL;
                        }
                        /* The bits the padding leaves unused must be zero: otherwise
                         * several texts decode to the same bytes, and a corrupted last
                         * symbol would pass unnoticed (RFC 4648 section 3.5). */
                        if ((pad == 2 && (b & 0x0f) != 0) || (pad == 1 && (c & 0x03) != 0)) {
                                g_free (out);
                                phx_error_set (error, EINVAL,
                                               "invalid base64: non-zero padding bits at offset %" G_GSIZE_FORMAT,
                                               pad == 2 ? i + 1 : i + 2);
                                return NULL;
                        }
                        out[o++] = (guint8) (a << 2 | b >> 4);
                        if (pad == 1)
                                out[o++] = (guint8) (b << 4 | c >> 2);
                        break;
                }
                out[o++] = (guint8) (a << 2 | b >> 4);
                out[o++] = (guint8) (b << 4 | c >> 2);
                out[o++] = (guint8) (c << 6 | d);
        }
        g_assert (o == out_len);
        return g_bytes_new_take (out, out_len);
}
