/* phx-json.h — a strict, bounded JSON reader that builds json-glib nodes. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonNode *phx_json_parse (const char *data, gsize len, GError **error);

G_END_DECLS
