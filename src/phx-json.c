/* phx-json.c — reads one JSON text (RFC 8259) into a JsonNode tree.
 *
 * Why not JsonParser: json-glib 1.6 recurses once per bracket with no bound, so a line of
 * 200,000 '[' overflows the stack and kills the agent, and its GScanner-based lexer moves
 * about 150 MB/s, which would cap file-write throughput. This reader is iterative-safe
 * (depth bounded by PHX_JSON_DEPTH_MAX), scans string bodies in bulk, rejects what the
 * agent cannot represent (embedded NUL, invalid UTF-8, lone surrogates) and still hands
 * the rest of the agent json-glib's data model. Output stays with JsonGenerator. */
#define G_LOG_DOMAIN "phx-json"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phx-error.h"
#include "phx-json.h"
#include "phx-limits.h"

typedef struct {
        const guchar *p;
        const guchar *start;
        const guchar *end;
        guint nodes; /* values built so far, bounded by PHX_JSON_NODES_MAX */
        GError **error;
} Reader;

static JsonNode *parse_value (Reader *r, guint depth);

static gboolean
fail (Reader *r, const char *what)
{
        phx_error_set (r->error, PHX_ERROR_GENERIC, "JSON parse error: %s at offset %" G_GSIZE_FORMAT,
                       what, (gsize) (r->p - r->start));
        return FALSE;
}

static void
skip_ws (Reader *r)
{
        while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
                r->p++;
}

static int
hex4 (const guchar *p)
{
        int v = 0;

        for (int i = 0; i < 4; i++) {
                int c = g_ascii_xdigit_value ((char) p[i]);
                if (c < 0)
                        return -1;
                v = v << 4 | c;
        }
        return v;
}

/* Appends raw string bytes [from, to) after checking they are valid UTF-8. */
static gboolean
append_raw (Reader *r, GString *s, const guchar *from, const guchar *to)
{
        if (!g_utf8_validate_len ((const char *) from, to - from, NULL))
                return fail (r, "invalid UTF-8 in string");
        g_string_append_len (s, (const char *) from, to - from);
        return TRUE;
}

static gboolean
parse_escape (Reader *r, GString *s)
{
        int cp;

        /* r->p is at the backslash */
        if (r->end - r->p < 2)
                return fail (r, "unterminated string");
        switch (r->p[1]) {
        case '"': g_string_append_c (s, '"'); break;
        case '\\': g_string_append_c (s, '\\'); break;
        case '/': g_string_append_c (s, '/'); break;
        case 'b': g_string_append_c (s, '\b'); break;
        case 'f': g_string_append_c (s, '\f'); break;
        case 'n': g_string_append_c (s, '\n'); break;
        case 'r': g_string_append_c (s, '\r'); break;
        case 't': g_string_append_c (s, '\t'); break;
        case 'u':
                if (r->end - r->p < 6 || (cp = hex4 (r->p + 2)) < 0)
                        return fail (r, "bad \\u escape");
                if (cp == 0)
                        return fail (r, "NUL character in string");
                if (cp >= 0xdc00 && cp <= 0xdfff)
                        return fail (r, "lone low surrogate in string");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                        int lo;
                        if (r->end - r->p < 12 || r->p[6] != '\\' || r->p[7] != 'u' ||
                            (lo = hex4 (r->p + 8)) < 0xdc00 || lo > 0xdfff)
                                return fail (r, "lone high surrogate in string");
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        r->p += 6;
                }
                g_string_append_unichar (s, (gunichar) cp);
                r->p += 4;
                break;
        default:
                return fail (r, "bad escape in string");
        }
        r->p += 2;
        return TRUE;
}

#define ONES ((guint64) 0x0101010101010101ULL)
#define HIGHS ((guint64) 0x8080808080808080ULL)

/* Advances r->p over string bytes that need no attention (not '"', '\\' or a control
 * character), eight at a time: file-write payloads are megabytes of such bytes. Sets
 * *non_ascii when it passed a byte >= 0x80, so pure-ASCII strings skip UTF-8 validation. */
static void
scan_plain (Reader *r, gboolean *non_ascii)
{
        guint64 high = 0;

        while (r->end - r->p >= 8) {
                guint64 v, quote, bslash;
                memcpy (&v, r->p, 8);
                quote = v ^ (ONES * '"');
                bslash = v ^ (ONES * '\\');
                /* a zero byte in quote/bslash, or a byte below 0x20 in v */
                if (((quote - ONES) & ~quote & HIGHS) | ((bslash - ONES) & ~bslash & HIGHS) |
                    ((v - ONES * 0x20) & ~v & HIGHS))
                        break;
                high |= v;
                r->p += 8;
        }
        while (r->p < r->end && *r->p >= 0x20 && *r->p != '"' && *r->p != '\\') {
                high |= *r->p;
                r->p++;
        }
        if (high & HIGHS)
                *non_ascii = TRUE;
}

/* Returns a newly allocated string; r->p starts at the opening quote. */
static char *
parse_string (Reader *r)
{
        const guchar *seg;
        GString *s = NULL;
        gboolean non_ascii = FALSE;

        r->p++;
        seg = r->p;
        for (;;) {
                scan_plain (r, &non_ascii);
                if (r->p >= r->end) {
                        fail (r, "unterminated string");
                        goto error;
                }
                if (*r->p == '"') {
                        char *out;
                        gsize len = r->p - seg;
                        if (s == NULL) {
                                if (non_ascii && !g_utf8_validate_len ((const char *) seg, len, NULL)) {
                                        fail (r, "invalid UTF-8 in string");
                                        return NULL;
                                }
                                out = g_malloc (len + 1);
                                memcpy (out, seg, len);
                                out[len] = '\0';
                        } else {
                                if (!append_raw (r, s, seg, r->p))
                                        goto error;
                                out = g_string_free (g_steal_pointer (&s), FALSE);
                        }
                        r->p++;
                        return out;
                }
                if (*r->p < 0x20) {
                        fail (r, "control character in string");
                        goto error;
                }
                if (s == NULL)
                        s = g_string_sized_new ((r->p - seg) + 16);
                if (!append_raw (r, s, seg, r->p) || !parse_escape (r, s))
                        goto error;
                seg = r->p;
        }
error:
        if (s != NULL)
                g_string_free (s, TRUE);
        return NULL;
}

static JsonNode *
parse_number (Reader *r)
{
        const guchar *begin = r->p;
        gboolean is_int = TRUE;
        g_autofree char *text = NULL;
        JsonNode *node;

        if (r->p < r->end && *r->p == '-')
                r->p++;
        if (r->p < r->end && *r->p == '0') {
                r->p++;
        } else if (r->p < r->end && *r->p >= '1' && *r->p <= '9') {
                while (r->p < r->end && g_ascii_isdigit (*r->p))
                        r->p++;
        } else {
                fail (r, "bad number");
                return NULL;
        }
        if (r->p < r->end && *r->p == '.') {
                is_int = FALSE;
                r->p++;
                if (r->p >= r->end || !g_ascii_isdigit (*r->p)) {
                        fail (r, "bad number");
                        return NULL;
                }
                while (r->p < r->end && g_ascii_isdigit (*r->p))
                        r->p++;
        }
        if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
                is_int = FALSE;
                r->p++;
                if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
                        r->p++;
                if (r->p >= r->end || !g_ascii_isdigit (*r->p)) {
                        fail (r, "bad number");
                        return NULL;
                }
                while (r->p < r->end && g_ascii_isdigit (*r->p))
                        r->p++;
        }

        text = g_strndup ((const char *) begin, r->p - begin);
        node = json_node_alloc ();
        if (is_int) {
                char *endp;
                gint64 v;
                errno = 0;
                v = g_ascii_strtoll (text, &endp, 10);
                /* Integers beyond 64 bits become doubles, as JSON allows; argument
                 * validation then rejects them where an integer is required. */
                if (errno != ERANGE)
                        return json_node_init_int (node, v);
        }
        return json_node_init_double (node, g_ascii_strtod (text, NULL));
}

static gboolean
expect_word (Reader *r, const char *word)
{
        gsize n = strlen (word);

        if ((gsize) (r->end - r->p) < n || memcmp (r->p, word, n) != 0)
                return fail (r, "unexpected character");
        r->p += n;
        return TRUE;
}

static JsonNode *
parse_object (Reader *r, guint depth)
{
        g_autoptr(JsonObject) obj = json_object_new ();

        r->p++;
        skip_ws (r);
        if (r->p < r->end && *r->p == '}') {
                r->p++;
                return json_node_init_object (json_node_alloc (), obj);
        }
        for (;;) {
                g_autofree char *key = NULL;
                JsonNode *value;

                skip_ws (r);
                if (r->p >= r->end || *r->p != '"') {
                        fail (r, "expected member name");
                        return NULL;
                }
                key = parse_string (r);
                if (key == NULL)
                        return NULL;
                skip_ws (r);
                if (r->p >= r->end || *r->p != ':') {
                        fail (r, "expected ':'");
                        return NULL;
                }
                r->p++;
                value = parse_value (r, depth);
                if (value == NULL)
                        return NULL;
                /* A repeated member replaces the earlier one, as JsonParser does. */
                json_object_set_member (obj, key, value);
                skip_ws (r);
                if (r->p < r->end && *r->p == ',') {
                        r->p++;
                        continue;
                }
                if (r->p < r->end && *r->p == '}') {
                        r->p++;
                        return json_node_init_object (json_node_alloc (), obj);
                }
                fail (r, "expected ',' or '}'");
                return NULL;
        }
}

static JsonNode *
parse_array (Reader *r, guint depth)
{
        g_autoptr(JsonArray) arr = json_array_new ();

        r->p++;
        skip_ws (r);
        if (r->p < r->end && *r->p == ']') {
                r->p++;
                return json_node_init_array (json_node_alloc (), arr);
        }
        for (;;) {
                JsonNode *value = parse_value (r, depth);

                if (value == NULL)
                        return NULL;
                json_array_add_element (arr, value);
                skip_ws (r);
                if (r->p < r->end && *r->p == ',') {
                        r->p++;
                        continue;
                }
                if (r->p < r->end && *r->p == ']') {
                        r->p++;
                        return json_node_init_array (json_node_alloc (), arr);
                }
                fail (r, "expected ',' or ']'");
                return NULL;
        }
}

static JsonNode *
parse_value (Reader *r, guint depth)
{
        skip_ws (r);
        if (r->p >= r->end) {
                fail (r, "unexpected end of input");
                return NULL;
        }
        /* Counted before the value is built: a line of `[{},{},...]` costs a few hundred
         * bytes of tree per three bytes of text, so the line limit alone bounds nothing. */
        if (++r->nodes > PHX_JSON_NODES_MAX) {
                fail (r, "too many JSON values");
                return NULL;
        }
        switch (*r->p) {
        case '{':
        case '[':
                if (depth >= PHX_JSON_DEPTH_MAX) {
                        fail (r, "nesting too deep");
                        return NULL;
                }
                return *r->p == '{' ? parse_object (r, depth + 1) : parse_array (r, depth + 1);
        case '"': {
                char *s = parse_string (r);
                JsonNode *node;
                if (s == NULL)
                        return NULL;
                node = json_node_init_string (json_node_alloc (), s);
                g_free (s);
                return node;
        }
        case 't':
                return expect_word (r, "true") ? json_node_init_boolean (json_node_alloc (), TRUE) : NULL;
        case 'f':
                return expect_word (r, "false") ? json_node_init_boolean (json_node_alloc (), FALSE) : NULL;
        case 'n':
                return expect_word (r, "null") ? json_node_init_null (json_node_alloc ()) : NULL;
        default:
                if (*r->p == '-' || g_ascii_isdigit (*r->p))
                        return parse_number (r);
                fail (r, "unexpected character");
                return NULL;
        }
}

JsonNode *
phx_json_parse_counted (const char *data, gsize len, guint *n_values, GError **error)
{
        Reader r = { (const guchar *) data, (const guchar *) data, (const guchar *) data + len, 0, error };
        g_autoptr(JsonNode) root = parse_value (&r, 0);

        if (root == NULL)
                return NULL;
        skip_ws (&r);
        if (r.p != r.end) {
                fail (&r, "trailing data after value");
                return NULL;
        }
        if (n_values != NULL)
                *n_values = r.nodes;
        return g_steal_pointer (&root);
}

JsonNode *
phx_json_parse (const char *data, gsize len, GError **error)
{
        return phx_json_parse_counted (data, len, NULL, error);
}
