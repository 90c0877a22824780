/* storage-address.c — qemu-ga's GuestDiskAddress of a block device, from sysfs alone: the PCI
 * function of its storage controller (the first device on its sysfs path whose driver is
 * one), the bus type that driver implies, the SCSI/ATA numbers of the disk on that
 * controller, its /dev node (the kernel's DEVNAME, which is what udev names it) and its
 * serial (udev's ID_SERIAL when udev recorded one, else a virtio disk's own). Reads only;
 * answers what it can and leaves the rest at qemu-ga's "unknown" values. */
#define G_LOG_DOMAIN "storage-address"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "phx-limits.h"
#include "storage-address.h"

/* A sysfs attribute, without its trailing newline; NULL if absent or unreadable. A plain
 * open/read: many of the files asked for do not exist (udev's database without udev, a
 * disk's `partition`, `dm/name` of a disk that is no dm device), and g_file_get_contents
 * formats an error message for each of those even when no one asks for it. */
char *
phx_storage_read_attr (const char *dir, const char *name)
{
        g_autofree char *path = g_build_filename (dir, name, NULL);
        g_autoptr(GString) text = NULL;
        char buf[4096];
        int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

        if (fd < 0)
                return NULL;
        text = g_string_new (NULL);
        for (;;) {
                ssize_t n = read (fd, buf, sizeof buf);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 || text->len + n > PHX_STORAGE_ATTR_MAX || memchr (buf, '\0', n) != NULL) {
                        close (fd);
                        return NULL;
                }
                if (n == 0)
                        break;
                g_string_append_len (text, buf, n);
        }
        close (fd);
        return g_strchomp (g_string_free (g_steal_pointer (&text), FALSE));
}

/* The /sys/devices path a sysfs link (/sys/block/vda, /sys/dev/block/254:0, slaves/dm-1)
 * points at. sysfs links are relative, and what they point at is made of plain
 * directories, so one readlink and a lexical join are realpath(): realpath itself reads
 * every component of the deep device path as a possible link, 70 system calls a device. */
char *
phx_storage_sys_resolve (const char *link)
{
        g_autofree char *target = g_file_read_link (link, NULL);
        g_autofree char *dir = NULL;

        if (target == NULL)
                return g_file_test (link, G_FILE_TEST_IS_DIR) ? g_canonicalize_filename (link, NULL) : NULL;
        dir = g_path_get_dirname (link);
        return g_canonicalize_filename (target, dir);
}

/* /dev/NAME as udev makes it: the DEVNAME the kernel gives in uevent, else the sysfs name. */
char *
phx_storage_dev_node (const char *syspath)
{
        g_autofree char *uevent = phx_storage_read_attr (syspath, "uevent");
        g_auto(GStrv) lines = uevent != NULL ? g_strsplit (uevent, "\n", -1) : NULL;
        g_autofree char *base = NULL;

        for (guint i = 0; lines != NULL && lines[i] != NULL; i++) {
                if (g_str_has_prefix (lines[i], "DEVNAME=") && lines[i][8] != '\0')
                        return g_strconcat ("/dev/", lines[i] + 8, NULL);
        }
        base = g_path_get_basename (syspath);
        return g_strconcat ("/dev/", base, NULL);
}

/* udev's ID_SERIAL from its database (/run/udev/data/bMAJ:MIN), as qemu-ga (through libudev)
 * reports it; without udev, a virtio disk's own serial (udev's rule copies exactly that),
 * the disk's for a partition. */
static char *
serial_of (const char *syspath)
{
        g_autofree char *dev = phx_storage_read_attr (syspath, "dev");
        g_autofree char *serial = NULL;

        if (dev != NULL) {
                g_autofree char *db = g_strconcat ("/run/udev/data/b", dev, NULL);
                g_autofree char *text = phx_storage_read_attr ("/", db);
                g_auto(GStrv) lines = text != NULL ? g_strsplit (text, "\n", -1) : NULL;

                for (guint i = 0; lines != NULL && lines[i] != NULL; i++) {
                        if (g_str_has_prefix (lines[i], "E:ID_SERIAL=") && lines[i][12] != '\0')
                                return g_strdup (lines[i] + 12);
                }
                if (text != NULL)
                        return NULL; /* udev knows the device and gave it no serial */
        }
        serial = phx_storage_read_attr (syspath, "serial");
        if (serial == NULL) {
                g_autofree char *partition = phx_storage_read_attr (syspath, "partition");
                g_autofree char *parent = partition != NULL ? g_path_get_dirname (syspath) : NULL;

                if (parent != NULL)
                        serial = phx_storage_read_attr (parent, "serial");
        }
        if (serial != NULL && serial[0] == '\0')
                g_clear_pointer (&serial, g_free);
        return g_steal_pointer (&serial);
}

typedef enum { KIND_NONE, KIND_IDE, KIND_SATA, KIND_VIRTIO, KIND_NVME, KIND_LSI, KIND_USB } Kind;

/* The storage controllers qemu-ga knows, by driver. */
static Kind
controller_kind (const char *driver)
{
        static const struct { const char *driver; Kind kind; } known[] = {
                { "ata_piix", KIND_IDE }, { "ahci", KIND_SATA }, { "virtio-pci", KIND_VIRTIO },
                { "nvme", KIND_NVME }, { "sym53c8xx", KIND_LSI }, { "xhci_hcd", KIND_USB },
                { "ehci-pci", KIND_USB },
        };

        for (guint i = 0; driver != NULL && i < G_N_ELEMENTS (known); i++) {
                if (g_str_equal (driver, known[i].driver))
                        return known[i].kind;
        }
        return KIND_NONE;
}

/* "DDDD:BB:SS.F", all of it */
static gboolean
parse_pci (const char *s, guint pci[4])
{
        int n = -1;

        return sscanf (s, "%x:%x:%x.%x%n", &pci[0], &pci[1], &pci[2], &pci[3], &n) == 4 && n > 0 &&
               s[n] == '\0';
}

/* "H:C:T:L", all of it */
static gboolean
parse_hctl (const char *s, guint hctl[4])
{
        int n = -1;

        if (!g_ascii_isdigit (s[0]))
                return FALSE;
        return sscanf (s, "%u:%u:%u:%u%n", &hctl[0], &hctl[1], &hctl[2], &hctl[3], &n) == 4 && n > 0 &&
               s[n] == '\0';
}

static int
cmp_uint (gconstpointer a, gconstpointer b)
{
        guint x = *(const guint *) a, y = *(const guint *) b;

        return x < y ? -1 : x > y;
}

/* The place of port `ataN` among the controller's ATA ports (sorted by number): an IDE
 * controller's bus, an AHCI controller's unit. -1 when it is not there. */
static int
ata_port_index (const char *controller_dir, guint port)
{
        g_autoptr(GDir) dir = g_dir_open (controller_dir, 0, NULL);
        g_autoptr(GArray) ports = g_array_new (FALSE, FALSE, sizeof (guint));
        const char *name;

        while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
                guint64 n;

                if (g_str_has_prefix (name, "ata") && g_ascii_string_to_unsigned (name + 3, 10, 0, G_MAXUINT, &n, NULL)) {
                        guint u = (guint) n;

                        g_array_append_val (ports, u);
                }
        }
        g_array_sort (ports, cmp_uint);
        for (guint i = 0; i < ports->len; i++) {
                if (g_array_index (ports, guint, i) == port)
                        return (int) i;
        }
        return -1;
}

static const char *
bus_type_name (Kind kind, gboolean scsi)
{
        switch (kind) {
        case KIND_IDE: return "ide";
        case KIND_SATA: return "sata";
        case KIND_VIRTIO: return scsi ? "scsi" : "virtio";
        case KIND_NVME: return "nvme";
        case KIND_LSI: return "scsi";
        case KIND_USB: return "usb";
        case KIND_NONE: break;
        }
        return "unknown";
}

typedef struct {
        gint64 pci[4]; /* domain, bus, slot, function; -1 unknown */
        const char *bus_type;
        gint64 bus, target, unit;
} Address;

/* Fills `a` from the sysfs path; FALSE (a untouched) when the device is on no controller
 * known here. */
static gboolean
hardware_address (const char *syspath, Address *a)
{
        const char *p = strstr (syspath, "/devices/pci");
        g_auto(GStrv) parts = NULL;
        g_autoptr(GString) dir = NULL;
        g_autofree char *controller = NULL;
        guint pci[4] = { 0 }, hctl[4] = { 0 };
        gboolean have_hctl = FALSE;
        int ata = -1;
        Kind kind = KIND_NONE;
        guint i;

        if (p == NULL) {
                /* virtio over MMIO (no PCI): qemu-ga calls it a virtio disk of unknown address */
                if (strstr (syspath, "/virtio") == NULL || strstr (syspath, "/block/") == NULL)
                        return FALSE;
                a->bus_type = "virtio";
                return TRUE;
        }
        dir = g_string_new_len (syspath, p - syspath);
        g_string_append (dir, "/devices");
        parts = g_strsplit (p + strlen ("/devices/"), "/", -1);
        /* parts[0] is the root bus (pciDDDD:BB); then PCI functions down to the controller */
        g_string_append_printf (dir, "/%s", parts[0]);
        for (i = 1; parts[i] != NULL && kind == KIND_NONE; i++) {
                g_autofree char *link = NULL;
                g_autofree char *target = NULL;
                g_autofree char *driver = NULL;

                if (!parse_pci (parts[i], pci))
                        return FALSE; /* left the PCI tree without meeting a controller */
                g_string_append_printf (dir, "/%s", parts[i]);
                link = g_build_filename (dir->str, "driver", NULL);
                target = g_file_read_link (link, NULL);
                driver = target != NULL ? g_path_get_basename (target) : NULL;
                kind = controller_kind (driver);
        }
        if (kind == KIND_NONE)
                return FALSE;
        controller = g_strdup (dir->str);
        for (; parts[i] != NULL; i++) {
                guint64 n;

                if (!have_hctl && parse_hctl (parts[i], hctl))
                        have_hctl = TRUE;
                else if (ata < 0 && g_str_has_prefix (parts[i], "ata") &&
                         g_ascii_string_to_unsigned (parts[i] + 3, 10, 0, G_MAXUINT, &n, NULL))
                        ata = ata_port_index (controller, (guint) n);
        }
        switch (kind) {
        case KIND_IDE: /* a port per IDE bus; target = master (0) or slave (1) */
                if (ata < 0 || !have_hctl)
                        return FALSE;
                a->bus = ata;
                a->unit = hctl[2];
                break;
        case KIND_SATA: /* a port per disk */
                if (ata < 0 || !have_hctl)
                        return FALSE;
                a->unit = ata;
                break;
        case KIND_LSI:
                if (!have_hctl)
                        return FALSE;
                a->unit = hctl[2];
                break;
        case KIND_VIRTIO:
                /* virtio-scsi: channel, target (scsi-id) and LUN; qemu-ga reports the LUN
                 * only, which is all there is with QEMU's and libvirt's defaults */
                if (have_hctl) {
                        a->bus = hctl[1];
                        a->target = hctl[2];
                        a->unit = hctl[3];
                }
                break;
        default:
                break;
        }
        a->bus_type = bus_type_name (kind, have_hctl);
        for (guint k = 0; k < 4; k++)
                a->pci[k] = pci[k];
        return TRUE;
}

/* qemu-ga's GuestDiskAddress of the device at `syspath` (a /sys/devices path). Its /dev node
 * is always known (the kernel names every block device), so there always is one, as with
 * qemu-ga built with libudev (Debian's); on an unknown controller, with qemu-ga's "unknown"
 * bus type and -1 PCI address. */
JsonObject *
phx_storage_address (const char *syspath)
{
        Address a = { { -1, -1, -1, -1 }, "unknown", 0, 0, 0 };
        g_autofree char *serial = serial_of (syspath);
        g_autofree char *dev = phx_storage_dev_node (syspath);
        JsonObject *obj, *pci;

        if (!hardware_address (syspath, &a))
                a = (Address) { { -1, -1, -1, -1 }, "unknown", 0, 0, 0 };

        obj = json_object_new ();
        pci = json_object_new ();
        json_object_set_int_member (pci, "domain", a.pci[0]);
        json_object_set_int_member (pci, "bus", a.pci[1]);
        json_object_set_int_member (pci, "slot", a.pci[2]);
        json_object_set_int_member (pci, "function", a.pci[3]);
        json_object_set_object_member (obj, "pci-controller", pci);
        json_object_set_string_member (obj, "bus-type", a.bus_type);
        json_object_set_int_member (obj, "bus", a.bus);
        json_object_set_int_member (obj, "target", a.target);
        json_object_set_int_member (obj, "unit", a.unit);
        if (serial != NULL)
                json_object_set_string_member (obj, "serial", serial);
        json_object_set_string_member (obj, "dev", dev);
        return obj;
}
