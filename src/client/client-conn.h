/* client-conn.h — phoenix-ga-client's connection to the agent: requests and their replies, matched by tag. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _ClientConn ClientConn;

ClientConn *client_conn_new (const char *socket_path, guint timeout_seconds);
gboolean client_conn_connect (ClientConn *conn, GError **error);
void client_conn_free (ClientConn *conn);
JsonNode *client_conn_call (ClientConn *conn, const char *execute, JsonObject *arguments, GError **error);
char *client_conn_call_raw (ClientConn *conn, const char *execute, JsonObject *arguments, GError **error);
char *client_conn_send (ClientConn *conn, const char *execute, JsonObject *arguments, GError **error);
char *client_conn_send_payload (ClientConn *conn, const char *execute, JsonObject *arguments,
                                const char *member, const guint8 *data, gsize len, GError **error);
const char *client_conn_receive_raw (ClientConn *conn, const char *tag, gsize *len, GError **error);
JsonNode *client_conn_receive (ClientConn *conn, const char *tag, GError **error);
char *client_error_message (JsonObject *error_member);
void client_conn_set_timeout (ClientConn *conn, guint timeout_seconds);
int client_conn_take_stream (ClientConn *conn, GByteArray *pending);
char *client_conn_send_line (ClientConn *conn, const char *line, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClientConn, client_conn_free)

G_END_DECLS
