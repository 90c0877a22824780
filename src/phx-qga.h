/* phx-qga.h — qemu-ga's envelope: which requests are its, reading them, writing its replies. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define PHX_QGA_ERROR (phx_qga_error_quark ())

typedef enum {
        PHX_QGA_ERROR_COMMAND_NOT_FOUND, /* class CommandNotFound: unknown or disabled */
} PhxQgaError;

GQuark phx_qga_error_quark (void);

/* qemu-ga's commands are named "guest-..."; this agent's own qemu-ga-dialect commands carry
 * QAPI's downstream prefix (doc/protocol.md, "Which dialect a request is in"). */
#define PHX_QGA_NAME_PREFIX "guest-"
#define PHX_QGA_EXTENSION_PREFIX "__org.phoenixga_"

gboolean phx_qga_is_name (const char *name, gsize len);

gboolean phx_qga_might_be (const char *line, gsize len);
JsonNode *phx_qga_parse (const char *line, gsize len, GError **error);
gboolean phx_qga_is_request (JsonNode *root);

GBytes *phx_qga_reply_encode (JsonNode *value, JsonNode *id, gboolean delimited);
GPtrArray *phx_qga_reply_encode_with_payload (JsonNode *value, const char *member, GBytes *payload,
                                              JsonNode *id);
GBytes *phx_qga_reply_encode_error (const GError *error, JsonNode *id);

G_END_DECLS
