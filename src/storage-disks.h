/* storage-disks.h — qemu-ga's guest-get-disks (see storage-disks.c). */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonNode *phx_storage_disks (GError **error);

G_END_DECLS
