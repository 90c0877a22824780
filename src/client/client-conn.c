/* client-conn.c — phoenix-ga-client's connection to the agent. Requests are sent and their
 * replies received separately, matched by tag, so a transfer can keep the next request in
 * flight while it processes the current reply. Replies are read into one growing buffer
 * (no per-line copy: a file-read reply is up to 64 MiB of base64), parsed with the agent's
 * own strict JSON reader, and agent errors become GErrors in the agent's domain (PHX_ERROR,
 * code = the wire code) so the caller can print the errno. */
#define G_LOG_DOMAIN "client-conn"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <linux/vm_sockets.h>

#include <gio/gunixsocketaddress.h>

#include "client-conn.h"
#include "phx-base64.h"
#include "phx-error.h"
#include "phx-json.h"
#include "client-limits.h"

struct _ClientConn {
        char *socket_path;
        guint timeout_seconds;
        GSocketConnection *conn; /* NULL until the first request is written */
        GInputStream *in;   /* owned by conn */
        GOutputStream *out; /* owned by conn */
        char *buf;          /* received bytes: [start, end) not yet returned */
        gsize start, end, cap;
        GHashTable *early;  /* tag -> reply line that arrived before it was asked for */
        char *held;         /* the early line last handed out */
        guint seq;
};

void
client_conn_free (ClientConn *conn)
{
        if (conn == NULL)
                return;
        g_clear_object (&conn->conn);
        g_free (conn->socket_path);
        g_clear_pointer (&conn->early, g_hash_table_unref);
        g_free (conn->held);
        g_free (conn->buf);
        g_free (conn);
}

/* Connects when the first request is written, so that a subcommand checks its own
 * arguments first: a mistyped mode is reported as such, not as a socket that is missing. */
ClientConn *
client_conn_new (const char *socket_path, guint timeout_seconds)
{
        ClientConn *conn = g_new0 (ClientConn, 1);

        conn->socket_path = g_strdup (socket_path);
        conn->timeout_seconds = timeout_seconds;
        conn->early = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
        return conn;
}

/* "vsock:CID:PORT" -> a vsock address; FALSE if `text` is not of that form. */
static gboolean
parse_vsock (const char *text, struct sockaddr_vm *addr, GError **error)
{
        g_auto(GStrv) parts = g_strsplit (text + strlen ("vsock:"), ":", -1);
        guint64 cid, port;

        if (g_strv_length (parts) != 2 || !g_ascii_string_to_unsigned (parts[0], 10, 0, G_MAXUINT32, &cid, NULL) ||
            !g_ascii_string_to_unsigned (parts[1], 10, 0, G_MAXUINT32, &port, NULL)) {
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("%s is not vsock:CID:PORT"), text);
                return FALSE;
        }
        *addr = (struct sockaddr_vm) { .svm_family = AF_VSOCK, .svm_cid = (guint) cid, .svm_port = (guint) port };
        return TRUE;
}

/* GSocketClient knows no vsock: the socket is made here and connected with the same
 * timeout. */
static GSocketConnection *
connect_vsock (const char *text, guint timeout_seconds, GError **error)
{
        struct sockaddr_vm svm;
        g_autoptr(GSocket) sock = NULL;
        g_autoptr(GSocketAddress) addr = NULL;
        int fd;

        if (!parse_vsock (text, &svm, error))
                return NULL;
        fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                phx_error_set_errno (error, errno, "vsock socket");
                return NULL;
        }
        sock = g_socket_new_from_fd (fd, error);
        if (sock == NULL) {
                close (fd);
                return NULL;
        }
        g_socket_set_timeout (sock, timeout_seconds);
        addr = g_native_socket_address_new (&svm, sizeof svm);
        if (!g_socket_connect (sock, addr, NULL, error))
                return NULL;
        return g_socket_connection_factory_create_connection (sock);
}

/* The agent's address: "vsock:CID:PORT", "unix:PATH", or a bare path. */
gboolean
client_conn_connect (ClientConn *conn, GError **error)
{
        g_autoptr(GSocketClient) client = NULL;
        g_autoptr(GSocketAddress) addr = NULL;
        const char *path = conn->socket_path;

        if (conn->conn != NULL)
                return TRUE;
        if (g_str_has_prefix (path, "vsock:")) {
                conn->conn = connect_vsock (path, conn->timeout_seconds, error);
        } else {
                if (g_str_has_prefix (path, "unix:"))
                        path += strlen ("unix:");
                client = g_socket_client_new ();
                addr = g_unix_socket_address_new (path);
                /* the timeout covers the connect and then every read and write on the socket */
                g_socket_client_set_timeout (client, conn->timeout_seconds);
                conn->conn = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL, error);
        }
        if (conn->conn == NULL) {
                g_prefix_error (error, "%s: ", conn->socket_path);
                return FALSE;
        }
        conn->in = g_io_stream_get_input_stream (G_IO_STREAM (conn->conn));
        conn->out = g_io_stream_get_output_stream (G_IO_STREAM (conn->conn));
        return TRUE;
}

static void
set_closed (GError **error)
{
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, _("the agent closed the connection"));
}

/* Returns the next line, NUL-terminated in place, valid until the next call. */
static char *
read_line (ClientConn *conn, gsize *len, GError **error)
{
        gsize scanned = 0;

        for (;;) {
                gsize unscanned = conn->end - conn->start - scanned;
                char *nl = unscanned > 0 ? memchr (conn->buf + conn->start + scanned, '\n', unscanned) : NULL;
                gssize n;

                if (nl != NULL) {
                        char *line = conn->buf + conn->start;
                        *nl = '\0';
                        *len = (gsize) (nl - line);
                        conn->start += *len + 1;
                        return line;
                }
                scanned = conn->end - conn->start;
                if (scanned > CLIENT_REPLY_MAX) {
                        g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                     _("a reply from the agent is longer than %lu bytes"),
                                     (unsigned long) CLIENT_REPLY_MAX);
                        return NULL;
                }
                /* keep only the unread part, at the front, with room to read into */
                if (conn->start > 0) {
                        memmove (conn->buf, conn->buf + conn->start, scanned);
                        conn->start = 0;
                        conn->end = scanned;
                }
                if (conn->cap - conn->end < CLIENT_READ_MIN) {
                        conn->cap = MAX (conn->cap * 2, conn->end + CLIENT_READ_MIN);
                        conn->buf = g_realloc (conn->buf, conn->cap);
                }
                n = g_input_stream_read (conn->in, conn->buf + conn->end, conn->cap - conn->end, NULL, error);
                if (n < 0)
                        return NULL;
                if (n == 0) {
                        set_closed (error);
                        return NULL;
                }
                conn->end += (gsize) n;
        }
}

static char *
next_tag (ClientConn *conn)
{
        return g_strdup_printf ("c%u", ++conn->seq);
}

static void
append_json_string (GString *out, const char *text)
{
        g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), text);
        g_autofree char *quoted = json_to_string (node, FALSE);

        g_string_append (out, quoted);
}

static gboolean
write_all (ClientConn *conn, const char *data, gsize len, GError **error)
{
        if (!client_conn_connect (conn, error))
                return FALSE;
        return g_output_stream_write_all (conn->out, data, len, NULL, NULL, error);
}

/* Writes {"execute":E,"arguments":{...ARGS[,"MEMBER":"BASE64(DATA)"]},"tag":T} and a LF.
 * The payload is encoded straight into the line: base64 needs no JSON escaping, and running
 * tens of MiB through the generator's escaper would cost more than the encoding. */
static char *
send_request (ClientConn *conn, const char *execute, JsonObject *arguments,
              const char *member, const guint8 *data, gsize len, GError **error)
{
        g_autoptr(GString) line = g_string_new ("{\"execute\":");
        g_autofree char *tag = next_tag (conn);

        append_json_string (line, execute);
        if (arguments != NULL || member != NULL) {
                g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (),
                                                                  arguments != NULL ? arguments : json_object_new ());
                g_autofree char *args = json_to_string (node, FALSE);

                g_string_append (line, ",\"arguments\":");
                g_string_append (line, args);
                if (member != NULL) {
                        gsize at;

                        g_string_truncate (line, line->len - 1); /* the closing brace */
                        if (line->str[line->len - 1] != '{')
                                g_string_append_c (line, ',');
                        append_json_string (line, member);
                        g_string_append (line, ":\"");
                        at = line->len;
                        g_string_set_size (line, at + phx_base64_encoded_len (len));
                        phx_base64_encode_to (data, len, line->str + at);
                        g_string_append (line, "\"}");
                }
        }
        g_string_append (line, ",\"tag\":");
        append_json_string (line, tag);
        g_string_append (line, "}\n");
        if (!write_all (conn, line->str, line->len, error))
                return NULL;
        return g_steal_pointer (&tag);
}

char *
client_conn_send (ClientConn *conn, const char *execute, JsonObject *arguments, GError **error)
{
        return send_request (conn, execute, arguments, NULL, NULL, 0, error);
}

char *
client_conn_send_payload (ClientConn *conn, const char *execute, JsonObject *arguments,
                          const char *member, const guint8 *data, gsize len, GError **error)
{
        return send_request (conn, execute, arguments, member, data, len, error);
}

/* The tag a reply line ends with ("...,"tag":"c12"}"), or NULL. */
static char *
reply_tag (const char *line, gsize len)
{
        static const char key[] = "\"tag\":\"";
        const char *end = line + len;
        const char *p;

        if (len < sizeof key + 2 || end[-1] != '}' || end[-2] != '"')
                return NULL;
        for (p = end - 3; p > line && *p != '"'; p--)
                ;
        if (p - line < (gssize) (sizeof key - 2) || memcmp (p - (sizeof key - 2), key, sizeof key - 2) != 0)
                return NULL;
        return g_strndup (p + 1, (gsize) (end - 2 - (p + 1)));
}

/* Returns the reply line of `tag` (valid until the next call); replies to tags this client
 * still waits for are kept for later, any other line (untagged, unknown) is dropped. */
const char *
client_conn_receive_raw (ClientConn *conn, const char *tag, gsize *len, GError **error)
{
        g_clear_pointer (&conn->held, g_free);
        if (g_hash_table_steal_extended (conn->early, tag, NULL, (gpointer *) &conn->held)) {
                *len = strlen (conn->held);
                return conn->held;
        }
        for (;;) {
                char *line = read_line (conn, len, error);
                g_autofree char *got = NULL;
                guint number;

                if (line == NULL)
                        return NULL;
                got = reply_tag (line, *len);
                if (got != NULL && g_str_equal (got, tag))
                        return line;
                /* ours, still outstanding: c<N> with N up to the last tag sent */
                if (got != NULL && sscanf (got, "c%u", &number) == 1 && number <= conn->seq)
                        g_hash_table_insert (conn->early, g_steal_pointer (&got), g_strndup (line, *len));
        }
}

/* The message of an error reply's `error` member (bufb64 decoded), or NULL if it has none
 * that decodes. */
char *
client_error_message (JsonObject *error_member)
{
        const char *b64 = json_object_get_string_member_with_default (error_member, "bufb64", "");
        g_autoptr(GBytes) msg = phx_base64_decode (b64, strlen (b64), NULL);

        return msg != NULL ? g_strndup (g_bytes_get_data (msg, NULL), g_bytes_get_size (msg)) : NULL;
}

JsonNode *
client_conn_receive (ClientConn *conn, const char *tag, GError **error)
{
        gsize len;
        const char *line = client_conn_receive_raw (conn, tag, &len, error);
        g_autoptr(JsonNode) root = NULL;
        JsonObject *obj;
        JsonNode *err;

        if (line == NULL)
                return NULL;
        root = phx_json_parse (line, len, error);
        if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
                if (error != NULL && *error == NULL)
                        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("malformed reply"));
                return NULL;
        }
        obj = json_node_get_object (root);
        err = json_object_get_member (obj, "error");
        if (err != NULL && JSON_NODE_HOLDS_OBJECT (err)) {
                JsonObject *e = json_node_get_object (err);
                g_autofree char *text = client_error_message (e);

                if (text == NULL)
                        text = g_strdup (_("(undecodable error message)"));
                g_set_error_literal (error, PHX_ERROR, (int) json_object_get_int_member_with_default (e, "code", -1),
                                     text);
                return NULL;
        }
        if (!json_object_has_member (obj, "return")) {
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("reply has neither return nor error"));
                return NULL;
        }
        return json_node_copy (json_object_get_member (obj, "return"));
}

JsonNode *
client_conn_call (ClientConn *conn, const char *execute, JsonObject *arguments, GError **error)
{
        g_autofree char *tag = client_conn_send (conn, execute, arguments, error);

        return tag != NULL ? client_conn_receive (conn, tag, error) : NULL;
}

char *
client_conn_call_raw (ClientConn *conn, const char *execute, JsonObject *arguments, GError **error)
{
        g_autofree char *tag = client_conn_send (conn, execute, arguments, error);
        const char *line;
        gsize len;

        if (tag == NULL)
                return NULL;
        line = client_conn_receive_raw (conn, tag, &len, error);
        return line != NULL ? g_strndup (line, len) : NULL;
}

/* login: the connection has become a terminal stream (the reply to `login` was the last
 * line on it). Returns the socket's descriptor, still owned by the connection, and moves
 * the bytes already read past that reply (the stream's first frames) into `pending`. */
int
client_conn_take_stream (ClientConn *conn, GByteArray *pending)
{
        g_return_val_if_fail (conn->conn != NULL, -1);
        g_byte_array_append (pending, (const guint8 *) conn->buf + conn->start, (guint) (conn->end - conn->start));
        conn->start = conn->end = 0;
        return g_socket_get_fd (g_socket_connection_get_socket (conn->conn));
}

/* How long each later read or write may take (login's last request is bounded apart). */
void
client_conn_set_timeout (ClientConn *conn, guint timeout_seconds)
{
        conn->timeout_seconds = timeout_seconds;
        if (conn->conn != NULL)
                g_socket_set_timeout (g_socket_connection_get_socket (conn->conn), timeout_seconds);
}

/* shell: sends a line as typed and returns the next reply line, whatever its tag. */
char *
client_conn_send_line (ClientConn *conn, const char *line, GError **error)
{
        gsize len;
        const char *reply;

        if (!write_all (conn, line, strlen (line), error) || !write_all (conn, "\n", 1, error))
                return NULL;
        reply = read_line (conn, &len, error);
        return reply != NULL ? g_strndup (reply, len) : NULL;
}
