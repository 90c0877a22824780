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

/* One table per position in a quantum, each symbol's bits already where they land in the
 * three output bytes read as a little-endian word: a quantum costs four loads, three ORs
 * and one store. Bit 24 marks a symbol outside the alphabet. */
#define BAD_SYMBOL 0x01000000u

typedef struct {
        guint32 d[4][256];
} QuantumTables;

static const QuantumTables *
quantum_tables (void)
{
        static QuantumTables tables;
        static gsize initialized = 0;

        if (g_once_init_enter (&initialized)) {
                const guint8 *t = decode_table ();

                for (guint c = 0; c < 256; c++) {
                        guint32 v = t[c];

                        if (v == 0xff) {
                                for (guint k = 0; k < 4; k++)
                                        tables.d[k][c] = BAD_SYMBOL;
                                continue;
                        }
                        tables.d[0][c] = v << 2;
                        tables.d[1][c] = (v >> 4) | (v & 0x0f) << 12;
                        tables.d[2][c] = (v >> 2) << 8 | (v & 0x03) << 22;
                        tables.d[3][c] = v << 16;
                }
                g_once_init_leave (&initialized, 1);
        }
        return &tables;
}

/* Two symbols for every 12-bit value: three bytes are two loads and two stores. */
static const char *
pair_table (void)
{
        static char pairs[4096 * 2];
        static gsize initialized = 0;

        if (g_once_init_enter (&initialized)) {
                for (guint v = 0; v < 4096; v++) {
                        pairs[2 * v] = alphabet[v >> 6];
                        pairs[2 * v + 1] = alphabet[v & 63];
                }
                g_once_init_leave (&initialized, 1);
        }
        return pairs;
}

gsize
phx_base64_encoded_len (gsize len)
{
        return (len + 2) / 3 * 4;
}

/* Writes exactly phx_base64_encoded_len (len) bytes to out, no terminator. Each quantum's
 * three bytes are read before its four symbols are written, so `data` may sit at the end
 * of `out` (see phx_base64_encode_in_place). */
void
phx_base64_encode_to (const guint8 *data, gsize len, char *out)
{
        const char *pairs = pair_table ();
        gsize i = 0;

        /* Six bytes at a time: one 8-byte load, four pair lookups, one 8-byte store. It reads
         * two bytes past the six, and writes eight symbols where the in-place encoding still
         * has unread input only well past them (see phx_base64_tail_offset). */
        if (G_BYTE_ORDER == G_LITTLE_ENDIAN) {
                for (; i + 8 <= len; i += 6) {
                        guint64 v, w;
                        guint16 p[4];

                        memcpy (&v, data + i, 8);
                        v = GUINT64_FROM_BE (v);
                        memcpy (&p[0], pairs + 2 * ((v >> 52) & 0xfff), 2);
                        memcpy (&p[1], pairs + 2 * ((v >> 40) & 0xfff), 2);
                        memcpy (&p[2], pairs + 2 * ((v >> 28) & 0xfff), 2);
                        memcpy (&p[3], pairs + 2 * ((v >> 16) & 0xfff), 2);
                        w = (guint64) p[0] | (guint64) p[1] << 16 | (guint64) p[2] << 32 | (guint64) p[3] << 48;
                        memcpy (out, &w, 8);
                        out += 8;
                }
        }
        for (; i + 3 <= len; i += 3) {
                guint32 v = (guint32) data[i] << 16 | (guint32) data[i + 1] << 8 | data[i + 2];
                memcpy (out, pairs + 2 * (v >> 12), 2);
                memcpy (out + 2, pairs + 2 * (v & 0xfff), 2);
                out += 4;
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

/* The bytes to encode were read to buf + phx_base64_tail_offset (capacity), in a buffer of
 * phx_base64_encoded_len (capacity) bytes; len <= capacity of them came. Encodes them to
 * the start of buf, in place: one buffer for a file-read instead of two. The writes never
 * overtake the reads: after quantum j the output ends at 4j + 4 and the next read starts
 * at offset + 3j + 3, and offset >= ceil (capacity / 3) >= j + 1; six bytes at a time,
 * the output ends at 4i/3 + 8 before the read at offset + i + 6, and i/3 + 2 <= offset
 * for every i + 8 <= len. */
gsize
phx_base64_tail_offset (gsize capacity)
{
        return phx_base64_encoded_len (capacity) - capacity;
}

gsize
phx_base64_encode_in_place (char *buf, gsize capacity, gsize len)
{
        g_return_val_if_fail (len <= capacity, 0);
        phx_base64_encode_to ((const guint8 *) buf + phx_base64_tail_offset (capacity), len, buf);
        return phx_base64_encoded_len (len);
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

        /* Every quantum but the last (which may carry padding) on the fast path; a bad
         * symbol anywhere sends it to the careful loop below, which names the offset. */
        if (G_BYTE_ORDER == G_LITTLE_ENDIAN && len > 4) {
                const QuantumTables *q = quantum_tables ();

                for (; o + 3 < out_len && o / 3 * 4 + 4 < len; o += 3) {
                        const guint8 *p = in + o / 3 * 4;
                        guint32 v = q->d[0][p[0]] | q->d[1][p[1]] | q->d[2][p[2]] | q->d[3][p[3]];

                        if (G_UNLIKELY (v & BAD_SYMBOL))
                                break;
                        /* out has a spare byte at its end: the fourth byte lands there or
                         * is overwritten by the next quantum */
                        memcpy (out + o, &v, 4);
                }
        }
        for (gsize i = o / 3 * 4; i < len; i += 4) {
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

/* 0xff if any of the block's bytes is outside the alphabet, else 0. Range tests, which the
 * compiler turns into vector compares over the fixed-size block: a table lookup per byte
 * cannot be vectorised, and this pass reads every byte a file-write sends. */
#define CHECK_BLOCK 64

static guint8
block_bad (const guint8 *p)
{
        guint8 bad = 0;

        for (guint k = 0; k < CHECK_BLOCK; k++) {
                guint8 c = p[k];
                guint8 ok = ((guint8) (c - 'A') < 26) | ((guint8) (c - 'a') < 26) | ((guint8) (c - '0') < 10) |
                            (c == '+') | (c == '/');

                bad |= ok ^ 1;
        }
        return bad ? 0xff : 0;
}

/* Checks that text is canonical base64, as phx_base64_decode would, without decoding it:
 * a transfer then decodes it piece by piece into a small buffer (phx_base64_decode_valid)
 * and still writes nothing when any of it is bad. *out_len: the decoded size. */
gboolean
phx_base64_check (const char *text, gsize len, gsize *out_len, GError **error)
{
        const guint8 *t = decode_table ();
        const guint8 *in = (const guint8 *) text;
        guint8 acc = 0;
        gsize pad = 0;

        if (len % 4 == 0 && len > 0) {
                gsize i = 0;

                pad = (in[len - 1] == '=') + (in[len - 2] == '=' && in[len - 1] == '=');
                for (; i + CHECK_BLOCK + 4 < len; i += CHECK_BLOCK)
                        acc |= block_bad (in + i);
                for (; i + 4 < len; i++)
                        acc |= t[in[i]];
                for (i = len - 4; i < len - pad; i++)
                        acc |= t[in[i]];
                /* the bits the padding leaves unused must be zero */
                if (pad == 2 && (t[in[len - 3]] & 0x0f) != 0)
                        acc = 0xff;
                if (pad == 1 && (t[in[len - 2]] & 0x03) != 0)
                        acc = 0xff;
        }
        if (len % 4 != 0 || acc == 0xff || (acc & 0xc0) != 0) {
                /* the decoder says exactly what is wrong, and where (if asked) */
                g_autoptr(GBytes) bytes = error != NULL ? phx_base64_decode (text, len, error) : NULL;

                g_return_val_if_fail (bytes == NULL, FALSE);
                return FALSE;
        }
        *out_len = len / 4 * 3 - pad;
        return TRUE;
}

/* Decodes text that phx_base64_check accepted, or a piece of it whose length is a multiple
 * of 4, into out (room for the decoded size plus one byte). Returns the bytes written. */
gsize
phx_base64_decode_valid (const char *text, gsize len, guint8 *out)
{
        const QuantumTables *q = quantum_tables ();
        const guint8 *t = decode_table ();
        const guint8 *in = (const guint8 *) text;
        gsize o = 0, i = 0;

        g_return_val_if_fail (len % 4 == 0, 0);
        if (G_BYTE_ORDER == G_LITTLE_ENDIAN) {
                for (; i + 4 < len; i += 4, o += 3) {
                        guint32 v = q->d[0][in[i]] | q->d[1][in[i + 1]] | q->d[2][in[i + 2]] | q->d[3][in[i + 3]];
                        memcpy (out + o, &v, 4);
                }
        }
        for (; i < len; i += 4) {
                guint8 a = t[in[i]], b = t[in[i + 1]], c = t[in[i + 2]], d = t[in[i + 3]];

                out[o++] = (guint8) (a << 2 | b >> 4);
                if (in[i + 2] == '=')
                        break;
                out[o++] = (guint8) (b << 4 | c >> 2);
                if (in[i + 3] == '=')
                        break;
                out[o++] = (guint8) (c << 6 | d);
        }
        return o;
}
