/* util-stat.h — struct stat as the Phoenix STAT object. */
#pragma once

#include <json-glib/json-glib.h>
#include <sys/stat.h>

G_BEGIN_DECLS

JsonNode *util_stat_to_json (const struct stat *st);
JsonNode *util_stat_entry (const char *name, const struct stat *st);

G_END_DECLS
