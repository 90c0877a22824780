/* phx-protocol.c — the only code that knows the Phoenix envelope: it turns a request line
 * into a PhxRequest and a result or GError into one reply line. It knows no commands. */
#define G_LOG_DOMAIN "phx-protocol"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "phx-base64.h"
#include "phx-error.h"
#include "phx-json.h"
#include "phx-protocol.h"

void
phx_request_free (PhxRequest *req)
{
        if (req == NULL)
                return;
        g_free (req->execute);
        g_free (req->tag);
        g_clear_pointer (&req->arguments, json_object_unref);
        g_free (req);
}

static const char *
json_type_name (JsonNode *node)
{
        switch (JSON_NODE_TYPE (node)) {
        case JSON_NODE_OBJECT: return "an object";
        case JSON_NODE_ARRAY: return "an array";
        case JSON_NODE_NULL: return "null";
        case JSON_NODE_VALUE:
        default:
                switch (json_node_get_value_type (node)) {
                case G_TYPE_BOOLEAN: return "a boolean";
                case G_TYPE_STRING: return "a string";
                default: return "a number";
                }
        }
}

/* On failure *tag_out still receives the request's tag when it could be read, so the
 * host can match the error to what it sent; it is "" otherwise. */
static const char *
skip_blanks (const char *p, const char *end)
{
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
                p++;
        return p;
}

/* A string of printable ASCII with no escapes; *p is past its closing quote on success. */
static char *
simple_string (const char **p, const char *end)
{
        const char *start;

        if (*p >= end || **p != '"')
                return NULL;
        start = ++*p;
        while (*p < end && **p != '"') {
                if (**p < 0x20 || **p > 0x7e || **p == '\\')
                        return NULL;
                (*p)++;
        }
        if (*p >= end)
                return NULL;
        return g_strndup (start, (*p)++ - start);
}

/* The shape of most requests that carry no arguments — {"execute":"NAME","tag":"T"}, either
 * order, tag optional, plain ASCII, no escapes — read without building a JSON tree (a
 * GHashTable per object: a third of a ping's user-space work). Anything else, valid or not,
 * returns FALSE and goes to the full reader, so what is accepted and every error stay the
 * reader's. */
static gboolean
parse_simple (const char *line, gsize len, PhxRequest *req)
{
        const char *p = line, *end = line + len;
        g_autofree char *execute = NULL;
        g_autofree char *tag = NULL;

        p = skip_blanks (p, end);
        if (p >= end || *p++ != '{')
                return FALSE;
        for (guint i = 0; i < 2; i++) {
                g_autofree char *key = NULL;
                char *value;

                p = skip_blanks (p, end);
                key = simple_string (&p, end);
                if (key == NULL)
                        return FALSE;
                p = skip_blanks (p, end);
                if (p >= end || *p++ != ':')
                        return FALSE;
                p = skip_blanks (p, end);
                value = simple_string (&p, end);
                if (value == NULL)
                        return FALSE;
                if (g_str_equal (key, "execute") && execute == NULL) {
                        execute = value;
                } else if (g_str_equal (key, "tag") && tag == NULL) {
                        tag = value;
                } else {
                        g_free (value);
                        return FALSE;
                }
                p = skip_blanks (p, end);
                if (p < end && *p == ',' && i == 0) {
                        p++;
                        continue;
                }
                break;
        }
        if (p >= end || *p++ != '}' || skip_blanks (p, end) != end || execute == NULL)
                return FALSE;
        req->execute = g_steal_pointer (&execute);
        req->tag = tag != NULL ? g_steal_pointer (&tag) : g_strdup ("");
        return TRUE;
}

/* The fast path alone: NULL when the line is not of that shape (nothing is reported). */
PhxRequest *
phx_request_parse_simple (const char *line, gsize len)
{
        g_autoptr(PhxRequest) req = g_new0 (PhxRequest, 1);

        return parse_simple (line, len, req) ? g_steal_pointer (&req) : NULL;
}

PhxRequest *
phx_request_parse (const char *line, gsize len, char **tag_out, GError **error)
{
        g_autoptr(JsonNode) root = NULL;
        g_autoptr(PhxRequest) req = g_new0 (PhxRequest, 1);
        JsonObject *obj;
        JsonNode *member;

        if (parse_simple (line, len, req)) {
                *tag_out = g_strdup (req->tag);
                return g_steal_pointer (&req);
        }
        *tag_out = g_strdup ("");
        if (memchr (line, '\0', len) != NULL) {
                phx_error_set (error, PHX_ERROR_GENERIC, "JSON parse error: NUL byte in request");
                return NULL;
        }
        root = phx_json_parse (line, len, error);
        if (root == NULL)
                return NULL;
        if (!JSON_NODE_HOLDS_OBJECT (root)) {
                phx_error_set (error, EINVAL, "request must be a JSON object, not %s",
                               json_type_name (root));
                return NULL;
        }
        obj = json_node_get_object (root);

        member = json_object_get_member (obj, "tag");
        if (member != NULL) {
                if (!JSON_NODE_HOLDS_VALUE (member) ||
                    json_node_get_value_type (member) != G_TYPE_STRING) {
                        phx_error_set (error, EINVAL, "'tag' must be a string, not %s",
                                       json_type_name (member));
                        return NULL;
                }
                g_free (*tag_out);
                *tag_out = json_node_dup_string (member);
        }

        member = json_object_get_member (obj, "execute");
        if (member == NULL) {
                phx_error_set (error, EINVAL, "request has no 'execute' member");
                return NULL;
        }
        if (!JSON_NODE_HOLDS_VALUE (member) || json_node_get_value_type (member) != G_TYPE_STRING) {
                phx_error_set (error, EINVAL, "'execute' must be a string, not %s",
                               json_type_name (member));
                return NULL;
        }

        member = json_object_get_member (obj, "arguments");
        if (member == NULL || JSON_NODE_HOLDS_NULL (member)) {
                req->arguments = NULL;
        } else if (JSON_NODE_HOLDS_OBJECT (member)) {
                req->arguments = json_object_ref (json_node_get_object (member));
        } else {
                phx_error_set (error, EINVAL, "'arguments' must be an object, not %s",
                               json_type_name (member));
                return NULL;
        }

        req->execute = g_strdup (json_object_get_string_member (obj, "execute"));
        req->tag = g_strdup (*tag_out);
        return g_steal_pointer (&req);
}

/* Replies are written here rather than by json-glib's JsonGenerator, which costs a GObject,
 * a copy of the root node and a GString per reply (a third of the agent's user-space
 * instructions per ping). The output is byte for byte what json-glib 1.6 writes — compact,
 * members in insertion order, UTF-8 (valid or not) passed through — except that doubles are
 * written as the shortest text that reads back to the same value (json-glib: "%.17g", so
 * 0.51 became 0.51000000000000001), and where json-glib writes invalid JSON: U+001F is escaped, a double without a '.' gets ".0" only
 * when it has no exponent either ("1e+21", not "1e+21.0"), and NaN and the infinities, which
 * JSON cannot carry, become null. tests/unit/test-reply.c holds both to that. */

void
phx_protocol_append_string (GString *out, const char *s)
{
        static const char hex[] = "0123456789abcdef";
        const char *run = s;

        g_string_append_c (out, '"');
        for (const char *p = s; *p != '\0'; p++) {
                guchar c = (guchar) *p;
                char esc;

                if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
                        continue;
                g_string_append_len (out, run, p - run);
                run = p + 1;
                switch (c) {
                case '"': esc = '"'; break;
                case '\\': esc = '\\'; break;
                case '\b': esc = 'b'; break;
                case '\f': esc = 'f'; break;
                case '\n': esc = 'n'; break;
                case '\r': esc = 'r'; break;
                case '\t': esc = 't'; break;
                default: esc = 0; break;
                }
                if (esc != 0) {
                        char pair[2] = { '\\', esc };
                        g_string_append_len (out, pair, 2);
                } else {
                        char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };
                        g_string_append_len (out, u, 6);
                }
        }
        g_string_append_len (out, run, strlen (run));
        g_string_append_c (out, '"');
}

static void
append_int (GString *out, gint64 v)
{
        char buf[24];
        char *p = buf + sizeof buf;
        /* negated as unsigned, so G_MININT64 needs no special case */
        guint64 u = v < 0 ? -(guint64) v : (guint64) v;

        do {
                *--p = (char) ('0' + u % 10);
                u /= 10;
        } while (u != 0);
        if (v < 0)
                *--p = '-';
        g_string_append_len (out, p, buf + sizeof buf - p);
}

/* The shortest text that reads back as the same double: 0.51, not 0.51000000000000001. For a
 * normal double, a decimal of at most 15 significant digits survives the trip to binary and
 * back (DBL_DIG), so "%.15g" gives the shortest text whenever one of 15 digits or fewer
 * exists; otherwise the nearest 16-digit text reads back if any 16-digit one does, and 17
 * always does. Subnormals carry fewer digits of precision, so they try every length. No
 * locale: g_ascii_* only. */
static void
append_double (GString *out, double v)
{
        static const char *const formats[] = { "%.1g", "%.2g", "%.3g", "%.4g", "%.5g", "%.6g",
                                               "%.7g", "%.8g", "%.9g", "%.10g", "%.11g", "%.12g",
                                               "%.13g", "%.14g", "%.15g", "%.16g", "%.17g" };
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        guint digits = fpclassify (v) == FP_SUBNORMAL ? 1 : 15;

        if (!isfinite (v)) {
                g_string_append (out, "null");
                return;
        }
        for (;; digits++) {
                g_ascii_formatd (buf, sizeof buf, formats[digits - 1], v);
                if (digits == 17 || g_ascii_strtod (buf, NULL) == v)
                        break;
        }
        g_string_append (out, buf);
        /* still a double when read back: 100.0, not the integer 100 */
        if (strpbrk (buf, ".e") == NULL)
                g_string_append (out, ".0");
}

/* skip: a member left out (the payload member, written by the caller), or NULL. */
static void
append_object (GString *out, JsonObject *obj, const char *skip, gboolean first)
{
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        json_object_iter_init_ordered (&iter, obj);
        while (json_object_iter_next_ordered (&iter, &name, &member)) {
                if (skip != NULL && strcmp (name, skip) == 0)
                        continue;
                if (!first)
                        g_string_append_c (out, ',');
                first = FALSE;
                phx_protocol_append_string (out, name);
                g_string_append_c (out, ':');
                phx_protocol_append_node (out, member);
        }
}

void
phx_protocol_append_node (GString *out, JsonNode *node)
{
        switch (JSON_NODE_TYPE (node)) {
        case JSON_NODE_OBJECT:
                g_string_append_c (out, '{');
                append_object (out, json_node_get_object (node), NULL, TRUE);
                g_string_append_c (out, '}');
                break;
        case JSON_NODE_ARRAY: {
                JsonArray *array = json_node_get_array (node);
                guint n = json_array_get_length (array);

                g_string_append_c (out, '[');
                for (guint i = 0; i < n; i++) {
                        if (i > 0)
                                g_string_append_c (out, ',');
                        phx_protocol_append_node (out, json_array_get_element (array, i));
                }
                g_string_append_c (out, ']');
                break;
        }
        case JSON_NODE_VALUE:
                switch (json_node_get_value_type (node)) {
                case G_TYPE_STRING:
                        phx_protocol_append_string (out, json_node_get_string (node));
                        break;
                case G_TYPE_INT64:
                        append_int (out, json_node_get_int (node));
                        break;
                case G_TYPE_BOOLEAN:
                        g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
                        break;
                case G_TYPE_DOUBLE:
                        append_double (out, json_node_get_double (node));
                        break;
                default: /* json-glib stores no other value types */
                        g_warn_if_reached ();
                        g_string_append (out, "null");
                        break;
                }
                break;
        case JSON_NODE_NULL:
        default:
                g_string_append (out, "null");
                break;
        }
}

static GBytes *
finish_envelope (GString *out, const char *tag)
{
        g_string_append (out, ",\"tag\":");
        phx_protocol_append_string (out, tag != NULL ? tag : "");
        g_string_append_len (out, "}\n", 2);
        return g_string_free_to_bytes (out);
}

/* Takes ownership of value (NULL means JSON null). */
GBytes *
phx_reply_encode (JsonNode *value, const char *tag)
{
        g_autoptr(JsonNode) owned = value;
        GString *out = g_string_sized_new (64);

        g_string_append (out, "{\"return\":");
        if (value != NULL)
                phx_protocol_append_node (out, value);
        else
                g_string_append (out, "null");
        return finish_envelope (out, tag);
}

/* A reply whose `return` object carries `member` as a large string that needs no JSON
 * escaping (base64): the envelope is written around it in two parts, the member first, and
 * the payload is sent between them as it is, never copied or scanned. Returns the parts to
 * send, in order. Takes ownership of value. */
GPtrArray *
phx_reply_encode_with_payload (JsonNode *value, const char *member, GBytes *payload, const char *tag)
{
        g_autoptr(JsonNode) owned = value;
        GPtrArray *parts;
        GString *head, *tail;

        g_return_val_if_fail (JSON_NODE_HOLDS_OBJECT (value), NULL);
        head = g_string_sized_new (32);
        g_string_append (head, "{\"return\":{");
        phx_protocol_append_string (head, member);
        g_string_append_len (head, ":\"", 2);
        tail = g_string_sized_new (64);
        g_string_append_c (tail, '"');
        append_object (tail, json_node_get_object (value), member, FALSE);
        g_string_append_c (tail, '}');
        parts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
        g_ptr_array_add (parts, g_string_free_to_bytes (head));
        g_ptr_array_add (parts, g_bytes_ref (payload));
        g_ptr_array_add (parts, finish_envelope (tail, tag));
        return parts;
}

GBytes *
phx_reply_encode_error (const GError *error, const char *tag)
{
        const char *msg = error != NULL ? error->message : "unknown error";
        g_autofree char *fixed = NULL;
        g_autofree char *b64 = NULL;
        GString *out;

        /* Messages embed host-supplied names; make sure the base64 is of valid UTF-8. */
        if (!g_utf8_validate (msg, -1, NULL))
                msg = fixed = g_utf8_make_valid (msg, -1);
        b64 = phx_base64_encode ((const guint8 *) msg, strlen (msg));
        out = g_string_sized_new (64 + strlen (b64));
        /* base64 needs no escaping */
        g_string_append (out, "{\"error\":{\"bufb64\":\"");
        g_string_append (out, b64);
        g_string_append (out, "\",\"code\":");
        append_int (out, phx_error_wire_code (error));
        g_string_append_c (out, '}');
        return finish_envelope (out, tag);
}
