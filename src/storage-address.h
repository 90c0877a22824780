/* storage-address.h — where a block device sits on the machine's buses, as qemu-ga's
 * GuestDiskAddress (see storage-address.c). */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

char *phx_storage_read_attr (const char *dir, const char *name);
char *phx_storage_sys_resolve (const char *link);
char *phx_storage_dev_node (const char *syspath);
JsonObject *phx_storage_address (const char *syspath);

G_END_DECLS
