/* client-conn.c — sends one request line and reads its reply line, matched by tag. Replies
 * are read with the agent's own strict JSON reader; agent errors become GErrors in the
 * agent's domain (PHX_ERROR, code = the wire code), so the caller can print the errno. */
#include <errno.h>
#include <string.h>

#include <gio/gunixsocketaddress.h>

#include "client-conn.h"
#include "phx-base64.h"
#include "phx-error.h"
#include "phx-json.h"

struct _ClientConn {
        GSocketConnection *conn;
        GDataInputStream *in;
        guint seq;
};

void
client_conn_free (ClientConn *conn)
{
        if (conn == NULL)
                return;
        g_clear_object (&conn->in);
        g_clear_object (&conn->conn);
        g_free (conn);
}

ClientConn *
client_conn_open (const char *socket_path, guint timeout_seconds, GError **error)
{
        g_autoptr(GSocketClient) client = g_socket_client_new ();
        g_autoptr(GSocketAddress) addr = g_unix_socket_address_new (socket_path);
        g_autoptr(ClientConn) conn = g_new0 (ClientConn, 1);

        g_socket_client_set_timeout (client, timeout_seconds);
        conn->conn = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL, error);
        if (conn->conn == NULL) {
                g_prefix_error (error, "%s: ", socket_path);
                return NULL;
        }
        conn->in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (conn->conn)));
        g_data_input_stream_set_newline_type (conn->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
        /* replies can be 64 MiB of base64: read in large gulps */
        g_buffered_input_stream_set_buffer_size (G_BUFFERED_INPUT_STREAM (conn->in), 1024 * 1024);
        return g_steal_pointer (&conn);
}

/* Returns the reply line of the request (tag matched); replies to other tags are skipped. */
char *
client_conn_call_raw (ClientConn *conn, const char *execute, JsonObject *arguments, GError **error)
{
        g_autoptr(JsonGenerator) gen = json_generator_new ();
        g_autoptr(JsonObject) req = json_object_new ();
        g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
        g_autoptr(GString) line = g_string_new (NULL);
        g_autofree char *tag = g_strdup_printf ("c%u", ++conn->seq);
        GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn->conn));

        json_object_set_string_member (req, "execute", execute);
        if (arguments != NULL)
                json_object_set_object_member (req, "arguments", json_object_ref (arguments));
        json_object_set_string_member (req, "tag", tag);
        json_node_set_object (root, req);
        json_generator_set_root (gen, root);
        json_generator_to_gstring (gen, line);
        g_string_append_c (line, '\n');
        if (!g_output_stream_write_all (out, line->str, line->len, NULL, NULL, error))
                return NULL;
        for (;;) {
                gsize len;
                g_autofree char *reply = g_data_input_stream_read_line (conn->in, &len, NULL, error);
                g_autofree char *needle = g_strdup_printf ("\"tag\":\"%s\"}", tag);

                if (reply == NULL) {
                        if (error != NULL && *error == NULL)
                                g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                             "the agent closed the connection");
                        return NULL;
                }
                if (len >= strlen (needle) && g_str_has_suffix (reply, needle))
                        return g_steal_pointer (&reply);
        }
}

JsonNode *
client_conn_call (ClientConn *conn, const char *execute, JsonObject *arguments, GError **error)
{
        g_autofree char *line = client_conn_call_raw (conn, execute, arguments, error);
        g_autoptr(JsonNode) root = NULL;
        JsonObject *obj;
        JsonNode *err;

        if (line == NULL)
                return NULL;
        root = phx_json_parse (line, strlen (line), error);
        if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
                if (error != NULL && *error == NULL)
                        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "malformed reply");
                return NULL;
        }
        obj = json_node_get_object (root);
        err = json_object_get_member (obj, "error");
        if (err != NULL && JSON_NODE_HOLDS_OBJECT (err)) {
                JsonObject *e = json_node_get_object (err);
                const char *b64 = json_object_get_string_member_with_default (e, "bufb64", "");
                g_autoptr(GBytes) msg = phx_base64_decode (b64, strlen (b64), NULL);
                g_autofree char *text = msg != NULL ? g_strndup (g_bytes_get_data (msg, NULL), g_bytes_get_size (msg))
                                                    : g_strdup ("(undecodable error message)");
                g_set_error_literal (error, PHX_ERROR, (int) json_object_get_int_member_with_default (e, "code", -1),
                                     text);
                return NULL;
        }
        if (!json_object_has_member (obj, "return")) {
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "reply has neither return nor error");
                return NULL;
        }
        return json_node_copy (json_object_get_member (obj, "return"));
}

/* shell: sends a line as typed and returns the next reply line, whatever its tag. */
char *
client_conn_send_line (ClientConn *conn, const char *line, GError **error)
{
        GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn->conn));
        g_autofree char *with_nl = g_strconcat (line, "\n", NULL);
        char *reply;

        if (!g_output_stream_write_all (out, with_nl, strlen (with_nl), NULL, NULL, error))
                return NULL;
        reply = g_data_input_stream_read_line (conn->in, NULL, NULL, error);
        if (reply == NULL && error != NULL && *error == NULL)
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "the agent closed the connection");
        return reply;
}
