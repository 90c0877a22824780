/* phx-qga.c — the only code that knows qemu-ga's envelope (QMP as qemu-ga speaks it). Which
 * dialect a request is in is decided by the request alone (doc/protocol.md, "qemu-ga
 * dialect"): its `execute` names a qemu-ga command (they all start with "guest-", and this
 * agent's own ones with "__org.phoenixga_"; Phoenix names never do), or it has no string
 * `execute` but has an `id` and no `tag`. */
#define G_LOG_DOMAIN "phx-qga"

#include <string.h>

#include "phx-json.h"
#include "phx-protocol.h"
#include "phx-qga.h"

G_DEFINE_QUARK (phx-qga-error-quark, phx_qga_error)

/* Whether a command name (its first len bytes; more may follow) is qemu-ga's. */
gboolean
phx_qga_is_name (const char *name, gsize len)
{
        gsize n = sizeof PHX_QGA_NAME_PREFIX - 1, e = sizeof PHX_QGA_EXTENSION_PREFIX - 1;

        return (len >= n && memcmp (name, PHX_QGA_NAME_PREFIX, n) == 0) ||
               (len >= e && memcmp (name, PHX_QGA_EXTENSION_PREFIX, e) == 0);
}

static const char *
skip_ws (const char *p, const char *end)
{
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
                p++;
        return p;
}

/* p at a quote: past the string's closing quote, or NULL if it has none. */
static const char *
skip_string (const char *p, const char *end)
{
        char quote = *p++;

        for (;;) {
                const char *q = memchr (p, quote, end - p);
                const char *b;

                if (q == NULL)
                        return NULL;
                /* escaped when an odd number of backslashes precede it */
                for (b = q; b > p && b[-1] == '\\'; b--)
                        ;
                p = q + 1;
                if ((q - b) % 2 == 0)
                        return p;
        }
}

/* p at a value: past it, or NULL if it is malformed. Strings are skipped with memchr, so
 * a large base64 member costs one pass. */
static const char *
skip_value (const char *p, const char *end)
{
        guint depth = 0;

        do {
                if (p >= end)
                        return NULL;
                switch (*p) {
                case '"': case '\'':
                        p = skip_string (p, end);
                        if (p == NULL)
                                return NULL;
                        break;
                case '{': case '[':
                        depth++;
                        p++;
                        break;
                case '}': case ']':
                        if (depth == 0)
                                return NULL;
                        depth--;
                        p++;
                        break;
                default:
                        if (depth == 0) {
                                while (p < end && strchr (",}] \t\r\n", *p) == NULL)
                                        p++;
                                return p;
                        }
                        p++;
                        break;
                }
        } while (depth > 0);
        return p;
}

/* Is [p, end), a quoted top-level string, this word (no escapes)? */
static gboolean
string_is (const char *p, const char *end, const char *word)
{
        gsize n = strlen (word);

        return end - p == (gssize) n + 2 && memcmp (p + 1, word, n) == 0;
}

/* Run before the Phoenix reader on every request that is not of its fast-path shape:
 * FALSE when the request is certainly not qemu-ga's, so it is read once, as before. The
 * top-level members are walked without building anything, and the walk stops at `execute`'s
 * value, which comes first in practice: a Phoenix file-write's megabytes are not scanned.
 * What it cannot read it leaves to the tree (TRUE when it holds a qemu-ga mark). */
gboolean
phx_qga_might_be (const char *line, gsize len)
{
        static const char *const marks[] = { "\"" PHX_QGA_NAME_PREFIX, "'" PHX_QGA_NAME_PREFIX,
                                             "\"" PHX_QGA_EXTENSION_PREFIX, "'" PHX_QGA_EXTENSION_PREFIX,
                                             "\"id\"", "'id'" };
        const char *p = line, *end = line + len;
        gboolean saw_id = FALSE, saw_tag = FALSE;

        p = skip_ws (p, end);
        if (p >= end || *p++ != '{')
                return FALSE; /* never qemu-ga's: it is answered as Phoenix's */
        p = skip_ws (p, end);
        while (p < end && *p != '}') {
                const char *key = p, *key_end;

                if (*p != '"' && *p != '\'')
                        goto unsure;
                key_end = skip_string (p, end);
                if (key_end == NULL || memchr (key, '\\', key_end - key) != NULL)
                        goto unsure;
                p = skip_ws (key_end, end);
                if (p >= end || *p++ != ':')
                        goto unsure;
                p = skip_ws (p, end);
                if (p < end && (*p == '"' || *p == '\'') && string_is (key, key_end, "execute")) {
                        /* the name decides; an escape in its first bytes is left to the tree */
                        gsize head = MIN ((gsize) (end - p - 1), sizeof PHX_QGA_EXTENSION_PREFIX - 1);

                        if (memchr (p + 1, '\\', head) != NULL)
                                goto unsure;
                        return phx_qga_is_name (p + 1, head);
                }
                saw_id = saw_id || string_is (key, key_end, "id");
                saw_tag = saw_tag || string_is (key, key_end, "tag");
                p = skip_value (p, end);
                if (p == NULL)
                        goto unsure;
                p = skip_ws (p, end);
                if (p < end && *p == ',')
                        p = skip_ws (p + 1, end);
                else if (p >= end || *p != '}')
                        goto unsure;
        }
        return saw_id && !saw_tag;

unsure:
        for (guint i = 0; i < G_N_ELEMENTS (marks); i++) {
                if (memmem (line, len, marks[i], strlen (marks[i])) != NULL)
                        return TRUE;
        }
        return FALSE;
}

/* QEMU's JSON also takes 'single-quoted' strings (in which " needs no escape and \' is a
 * quote). They are rewritten as JSON strings; NULL when the line has none. */
static char *
requote (const char *line, gsize len)
{
        GString *out = NULL;
        char quote = 0;
        gboolean escape = FALSE;

        for (gsize i = 0; i < len; i++) {
                char c = line[i];

                if (quote == 0) {
                        if (c == '"' || c == '\'') {
                                quote = c;
                                if (c == '\'') {
                                        if (out == NULL)
                                                out = g_string_new_len (line, i);
                                        c = '"';
                                }
                        }
                } else if (escape) {
                        escape = FALSE;
                        if (quote == '\'' && c == '\'' && out != NULL) {
                                /* \' : drop the backslash already written */
                                g_string_truncate (out, out->len - 1);
                        }
                } else if (c == '\\') {
                        escape = TRUE;
                } else if (c == quote) {
                        quote = 0;
                        c = '"';
                } else if (quote == '\'' && c == '"') {
                        g_string_append_c (out, '\\');
                }
                if (out != NULL)
                        g_string_append_c (out, c);
        }
        return out != NULL ? g_string_free (out, FALSE) : NULL;
}

JsonNode *
phx_qga_parse (const char *line, gsize len, GError **error)
{
        g_autofree char *json = NULL;

        if (memchr (line, '\'', len) != NULL && (json = requote (line, len)) != NULL)
                return phx_json_parse (json, strlen (json), error);
        return phx_json_parse (line, len, error);
}

gboolean
phx_qga_is_request (JsonNode *root)
{
        JsonObject *obj;
        JsonNode *execute;

        if (!JSON_NODE_HOLDS_OBJECT (root))
                return FALSE;
        obj = json_node_get_object (root);
        execute = json_object_get_member (obj, "execute");
        if (execute != NULL && JSON_NODE_HOLDS_VALUE (execute) && json_node_get_value_type (execute) == G_TYPE_STRING) {
                const char *name = json_node_get_string (execute);

                return phx_qga_is_name (name, strlen (name));
        }
        return json_object_has_member (obj, "id") && !json_object_has_member (obj, "tag");
}

static GBytes *
finish (GString *out, JsonNode *id)
{
        if (id != NULL) {
                g_string_append (out, ",\"id\":");
                phx_protocol_append_node (out, id);
        }
        g_string_append_len (out, "}\n", 2);
        return g_string_free_to_bytes (out);
}

/* Takes ownership of value; NULL is qemu-ga's "no value", {}. */
GBytes *
phx_qga_reply_encode (JsonNode *value, JsonNode *id, gboolean delimited)
{
        g_autoptr(JsonNode) owned = value;
        GString *out = g_string_sized_new (64);

        /* guest-sync-delimited: the host skips everything up to this byte, which valid
         * UTF-8 never holds, to find where the reply begins */
        if (delimited)
                g_string_append_c (out, (char) 0xff);
        g_string_append (out, "{\"return\":");
        if (value != NULL)
                phx_protocol_append_node (out, value);
        else
                g_string_append (out, "{}");
        return finish (out, id);
}

/* A reply whose `return` object carries `member` as a large string that needs no escaping
 * (base64, guest-file-read's buf-b64): the envelope goes out in two parts around the
 * payload, which is sent as it is, never copied or scanned. The member comes first; JSON
 * members have no order. Returns the parts in order; takes ownership of value. */
GPtrArray *
phx_qga_reply_encode_with_payload (JsonNode *value, const char *member, GBytes *payload, JsonNode *id)
{
        g_autoptr(JsonNode) owned = value;
        GPtrArray *parts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
        GString *head = g_string_sized_new (32);
        GString *tail = g_string_sized_new (64);
        JsonObjectIter iter;
        const char *name;
        JsonNode *node;

        g_return_val_if_fail (JSON_NODE_HOLDS_OBJECT (value), parts);
        g_string_append (head, "{\"return\":{");
        phx_protocol_append_string (head, member);
        g_string_append_len (head, ":\"", 2);
        g_string_append_c (tail, '"');
        json_object_iter_init_ordered (&iter, json_node_get_object (value));
        while (json_object_iter_next_ordered (&iter, &name, &node)) {
                if (g_str_equal (name, member))
                        continue;
                g_string_append_c (tail, ',');
                phx_protocol_append_string (tail, name);
                g_string_append_c (tail, ':');
                phx_protocol_append_node (tail, node);
        }
        g_string_append_c (tail, '}');
        g_ptr_array_add (parts, g_string_free_to_bytes (head));
        g_ptr_array_add (parts, g_bytes_ref (payload));
        g_ptr_array_add (parts, finish (tail, id));
        return parts;
}

GBytes *
phx_qga_reply_encode_error (const GError *error, JsonNode *id)
{
        const char *msg = error != NULL ? error->message : "unknown error";
        gboolean not_found = error != NULL && g_error_matches (error, PHX_QGA_ERROR,
                                                               PHX_QGA_ERROR_COMMAND_NOT_FOUND);
        g_autofree char *fixed = NULL;
        GString *out = g_string_sized_new (96);

        /* messages embed host-supplied names */
        if (!g_utf8_validate (msg, -1, NULL))
                msg = fixed = g_utf8_make_valid (msg, -1);
        g_string_append (out, "{\"error\":{\"class\":");
        phx_protocol_append_string (out, not_found ? "CommandNotFound" : "GenericError");
        g_string_append (out, ",\"desc\":");
        phx_protocol_append_string (out, msg);
        g_string_append_c (out, '}');
        return finish (out, id);
}
