/* power-sysfs.h — can the guest suspend in qemu-ga's modes, and suspending it, through the
 * kernel's /sys/power files. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
        PHX_SUSPEND_RAM,    /* suspend to RAM (S3, or s2idle where that is the kernel's mem) */
        PHX_SUSPEND_DISK,   /* hibernate: the image to swap, then power off */
        PHX_SUSPEND_HYBRID, /* the image to swap, then suspend to RAM */
} PhxSuspendMode;

gboolean phx_power_check (PhxSuspendMode mode, GError **error);
gboolean phx_power_suspend (PhxSuspendMode mode, GError **error);

G_END_DECLS
