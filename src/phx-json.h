/* phx-json.h — a strict, bounded JSON reader that builds json-glib nodes. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonNode *phx_json_parse (const char *data, gsize len, GError **error);
/* The same, and how many JSON values the tree holds (at most PHX_JSON_NODES_MAX): what a
 * parsed request costs to keep is in proportion to this, not to its line's length. */
JsonNode *phx_json_parse_counted (const char *data, gsize len, guint *n_values, GError **error);

G_END_DECLS
