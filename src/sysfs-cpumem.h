/* sysfs-cpumem.h — the guest's vCPUs and memory blocks as sysfs shows them, and the writes
 * that bring them online or offline. Plain data and blocking calls: callers pick the thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
        guint64 id;           /* logical id of a vCPU, phys-index of a memory block */
        gboolean online;
        gboolean can_offline;
} PhxSysfsUnit;

/* What became of one memory block a host asked to change: qemu-ga's response names. */
typedef enum {
        PHX_MEMBLK_SUCCESS,
        PHX_MEMBLK_NOT_FOUND,
        PHX_MEMBLK_NOT_SUPPORTED,
        PHX_MEMBLK_FAILED,
} PhxMemblkResponse;

const char *phx_memblk_response_to_string (PhxMemblkResponse response);

/* Every vCPU (cpuN under /sys/devices/system/cpu), ascending by id. */
GArray *phx_sysfs_vcpus_read (GError **error);
/* Sets one vCPU's state as qemu-ga's guest-set-vcpus does for one element: a vCPU without
 * an `online` file (cpu0 on x86) counts as online and cannot go offline. `changed` (may be
 * NULL) says whether a write happened. */
gboolean phx_sysfs_vcpu_set (gint64 id, gboolean online, gboolean *changed, GError **error);

/* Every memory block (memoryN under /sys/devices/system/memory), ascending by index. */
GArray *phx_sysfs_memory_blocks_read (GError **error);
/* Sets one block's state; on anything but success `error_code` is the errno that stopped it. */
PhxMemblkResponse phx_sysfs_memory_block_set (guint64 index, gboolean online, gboolean *changed,
                                              int *error_code);
gboolean phx_sysfs_memory_block_size (guint64 *size, GError **error);

G_END_DECLS
