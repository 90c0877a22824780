/* storage-smart.c — guest-get-disks' `smart` of an NVMe disk: the controller's SMART / Health
 * Information log page (NVMe base specification, Get Log Page, log 02h), read with one
 * admin command through the disk's node, in qemu-ga's GuestNVMeSmart members (128-bit
 * counters as -lo/-hi halves). Root only (CAP_SYS_ADMIN); NULL when the command fails. */
#define G_LOG_DOMAIN "storage-smart"

#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "storage-smart.h"

#define LOG_SMART 0x02
#define OPCODE_GET_LOG_PAGE 0x02
#define LOG_SIZE 512

static guint64
le64 (const guint8 *p)
{
        guint64 v;

        memcpy (&v, p, sizeof v);
        return GUINT64_FROM_LE (v);
}

/* The counters of 16 bytes each, from byte 32 of the log on. */
static const char *const counters[] = {
        "data-units-read", "data-units-written", "host-read-commands", "host-write-commands",
        "controller-busy-time", "power-cycles", "power-on-hours", "unsafe-shutdowns", "media-errors",
        "number-of-error-log-entries",
};

JsonObject *
phx_storage_nvme_smart (const char *dev_node)
{
        guint8 log[LOG_SIZE] = { 0 };
        struct nvme_admin_cmd cmd = {
                .opcode = OPCODE_GET_LOG_PAGE,
                .nsid = 0xffffffff, /* the controller's log, not a namespace's */
                .addr = (guint64) (guintptr) log,
                .data_len = sizeof log,
                .cdw10 = ((sizeof log / 4 - 1) << 16) | LOG_SMART, /* dwords - 1, log id */
        };
        JsonObject *smart;
        int fd = open (dev_node, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        int ret;

        if (fd < 0)
                return NULL;
        ret = ioctl (fd, NVME_IOCTL_ADMIN_CMD, &cmd);
        close (fd);
        if (ret != 0)
                return NULL; /* < 0: errno; > 0: the controller's status */
        smart = json_object_new ();
        json_object_set_string_member (smart, "type", "nvme");
        json_object_set_int_member (smart, "critical-warning", log[0]);
        /* Kelvin, as the controller reports it (qemu-ga passes it on unchanged) */
        json_object_set_int_member (smart, "temperature", log[1] | log[2] << 8);
        json_object_set_int_member (smart, "available-spare", log[3]);
        json_object_set_int_member (smart, "available-spare-threshold", log[4]);
        json_object_set_int_member (smart, "percentage-used", log[5]);
        for (guint i = 0; i < G_N_ELEMENTS (counters); i++) {
                g_autofree char *lo = g_strconcat (counters[i], "-lo", NULL);
                g_autofree char *hi = g_strconcat (counters[i], "-hi", NULL);

                json_object_set_int_member (smart, lo, (gint64) le64 (log + 32 + 16 * i));
                json_object_set_int_member (smart, hi, (gint64) le64 (log + 40 + 16 * i));
        }
        return smart;
}
