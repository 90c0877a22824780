/* storage-stats.h — qemu-ga's guest-get-diskstats and guest-fstrim (see storage-stats.c). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonNode *phx_storage_diskstats (GError **error);
JsonNode *phx_storage_fstrim (gboolean has_minimum, gint64 minimum, GCancellable *cancellable, GError **error);

G_END_DECLS
