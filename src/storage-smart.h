/* storage-smart.h — an NVMe disk's SMART / health log as qemu-ga's GuestDiskSmart. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonObject *phx_storage_nvme_smart (const char *dev_node);

G_END_DECLS
