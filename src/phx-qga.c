/* phx-qga.c — the only code that knows qemu-ga's envelope (QMP as qemu-ga speaks it). Which
 * dialect a request is in is decided by the request alone (doc/protocol.md, "qemu-ga
 * dialect"): its `execute` names a qemu-ga command (they all start with "guest-", Phoenix
 * names never do), or it has no string `execute` but has an `id` and no `tag`. */
#define G_LOG_DOMAIN "phx-qga"

#include <string.h>

#include "phx-json.h"
#include "phx-protocol.h"
#include "phx-qga.h"

G_DEFINE_QUARK (phx-qga-error-quark, phx_qga_error)

/* Cheap test run on every request before the Phoenix reader: a qemu-ga request must hold a
 * quoted "guest-…" or a quoted "id". Base64 payloads hold no quotes, so a large Phoenix
 * file-write is never read twice. */
gboolean
phx_qga_might_be (const char *line, gsize len)
{
        static const char *const marks[] = { "\"guest-", "'guest-", "\"id\"", "'id'" };

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
        if (execute != NULL && JSON_NODE_HOLDS_VALUE (execute) && json_node_get_value_type (execute) == G_TYPE_STRING)
                return g_str_has_prefix (json_node_get_string (execute), "guest-");
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
