/* phx-protocol.h — the Phoenix wire format: request envelope in, replies out. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
        char *execute;
        char *tag;             /* "" when the request had none */
        JsonObject *arguments; /* NULL when absent (or null) */
} PhxRequest;

PhxRequest *phx_request_parse (const char *line, gsize len, char **tag_out, GError **error);
PhxRequest *phx_request_parse_simple (const char *line, gsize len);
void phx_request_free (PhxRequest *req);

GBytes *phx_reply_encode (JsonNode *value, const char *tag);
GPtrArray *phx_reply_encode_with_payload (JsonNode *value, const char *member, GBytes *payload,
                                          const char *tag);
GBytes *phx_reply_encode_error (const GError *error, const char *tag);

/* The JSON writer the replies use, for the other dialect's envelope (phx-qga.c). */
void phx_protocol_append_string (GString *out, const char *s);
void phx_protocol_append_node (GString *out, JsonNode *node);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxRequest, phx_request_free)

G_END_DECLS
