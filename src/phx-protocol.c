/* phx-protocol.c — the only code that knows the Phoenix envelope: it turns a request line
 * into a PhxRequest and a result or GError into one reply line. It knows no commands. */
#define G_LOG_DOMAIN "phx-protocol"

#include <errno.h>
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
PhxRequest *
phx_request_parse (const char *line, gsize len, char **tag_out, GError **error)
{
        g_autoptr(JsonNode) root = NULL;
        g_autoptr(PhxRequest) req = g_new0 (PhxRequest, 1);
        JsonObject *obj;
        JsonNode *member;

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
                req->arguments = json_object_new ();
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

static GBytes *
encode_envelope (const char *key, JsonNode *value, const char *tag)
{
        g_autoptr(JsonGenerator) gen = json_generator_new ();
        g_autoptr(JsonObject) obj = json_object_new ();
        g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
        g_autoptr(GString) out = g_string_new (NULL);

        json_object_set_member (obj, key, value);
        json_object_set_string_member (obj, "tag", tag != NULL ? tag : "");
        json_node_set_object (root, obj);
        json_generator_set_root (gen, root);
        json_generator_to_gstring (gen, out);
        g_string_append_c (out, '\n');
        return g_string_free_to_bytes (g_steal_pointer (&out));
}

/* Takes ownership of value (NULL means JSON null). */
GBytes *
phx_reply_encode (JsonNode *value, const char *tag)
{
        if (value == NULL)
                value = json_node_new (JSON_NODE_NULL);
        return encode_envelope ("return", value, tag);
}

/* A reply whose `return` object carries `member` as a large string that needs no JSON
 * escaping (base64): json-glib encodes the envelope with the member empty, and the payload
 * is sent between the two halves as it is, never copied or scanned again. Returns the parts
 * to send, in order. Takes ownership of value. */
GPtrArray *
phx_reply_encode_with_payload (JsonNode *value, const char *member, GBytes *payload, const char *tag)
{
        g_autoptr(GBytes) whole = NULL;
        g_autofree char *needle = g_strdup_printf ("{\"return\":{\"%s\":\"", member);
        GPtrArray *parts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
        const char *data;
        gsize len, cut;

        g_return_val_if_fail (JSON_NODE_HOLDS_OBJECT (value), NULL);
        json_object_set_string_member (json_node_get_object (value), member, "");
        whole = phx_reply_encode (value, tag);
        data = g_bytes_get_data (whole, &len);
        /* The generator keeps insertion order, so the member opens the reply when it was
         * the first one set; anything else is a programming error. */
        cut = strlen (needle);
        g_assert (len > cut && memcmp (data, needle, cut) == 0 && data[cut] == '"');
        g_ptr_array_add (parts, g_bytes_new_from_bytes (whole, 0, cut));
        g_ptr_array_add (parts, g_bytes_ref (payload));
        g_ptr_array_add (parts, g_bytes_new_from_bytes (whole, cut, len - cut));
        return parts;
}

GBytes *
phx_reply_encode_error (const GError *error, const char *tag)
{
        g_autoptr(JsonObject) err = json_object_new ();
        const char *msg = error != NULL ? error->message : "unknown error";
        g_autofree char *b64 = NULL;
        JsonNode *node;

        /* Messages embed host-supplied names; make sure the base64 is of valid UTF-8. */
        if (!g_utf8_validate (msg, -1, NULL)) {
                g_autofree char *fixed = g_utf8_make_valid (msg, -1);
                b64 = phx_base64_encode ((const guint8 *) fixed, strlen (fixed));
        } else {
                b64 = phx_base64_encode ((const guint8 *) msg, strlen (msg));
        }
        json_object_set_string_member (err, "bufb64", b64);
        json_object_set_int_member (err, "code", phx_error_wire_code (error));
        node = json_node_new (JSON_NODE_OBJECT);
        json_node_set_object (node, err);
        return encode_envelope ("error", node, tag);
}
