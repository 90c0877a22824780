/* storage-address.c on fake sysfs trees (directories, attribute files and driver links under a
 * temporary directory, laid out as the kernel lays them out): the storage controller, bus
 * type, bus/target/unit, node and serial of disks on each bus qemu-ga knows, behind a PCI
 * bridge, on an unknown controller, and of a partition. The real buses are tested in
 * tests/vm/test_vm_qga_storage.py. */
#include <errno.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "storage-address.h"

static char *root;

static void
put (const char *rel, const char *text)
{
        g_autofree char *path = g_build_filename (root, rel, NULL);
        g_autofree char *dir = g_path_get_dirname (path);

        g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
        g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static void
mkdirs (const char *rel)
{
        g_autofree char *path = g_build_filename (root, rel, NULL);

        g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

/* rel/driver -> .../bus/pci/drivers/NAME, as the kernel links a bound device */
static void
driver (const char *rel, const char *name)
{
        g_autofree char *link = g_build_filename (root, rel, "driver", NULL);
        g_autofree char *target = g_build_filename (root, "sys/bus/pci/drivers", name, NULL);

        mkdirs (rel);
        g_assert_cmpint (g_mkdir_with_parents (target, 0755), ==, 0);
        g_assert_cmpint (symlink (target, link), ==, 0);
}

static JsonObject *
address_of (const char *rel)
{
        g_autofree char *path = g_build_filename (root, rel, NULL);

        return phx_storage_address (path);
}

static void
assert_address (JsonObject *a, gint64 d, gint64 b, gint64 s, gint64 f, const char *bus_type, gint64 bus,
                gint64 target, gint64 unit, const char *dev)
{
        JsonObject *pci = json_object_get_object_member (a, "pci-controller");

        g_assert_cmpint (json_object_get_int_member (pci, "domain"), ==, d);
        g_assert_cmpint (json_object_get_int_member (pci, "bus"), ==, b);
        g_assert_cmpint (json_object_get_int_member (pci, "slot"), ==, s);
        g_assert_cmpint (json_object_get_int_member (pci, "function"), ==, f);
        g_assert_cmpstr (json_object_get_string_member (a, "bus-type"), ==, bus_type);
        g_assert_cmpint (json_object_get_int_member (a, "bus"), ==, bus);
        g_assert_cmpint (json_object_get_int_member (a, "target"), ==, target);
        g_assert_cmpint (json_object_get_int_member (a, "unit"), ==, unit);
        g_assert_cmpstr (json_object_get_string_member (a, "dev"), ==, dev);
        json_object_unref (a);
}

static void
test_virtio_blk_and_partition (void)
{
        const char *dev = "sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda";
        JsonObject *a;

        driver ("sys/devices/pci0000:00/0000:00:02.0", "virtio-pci");
        put ("sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/uevent", "MAJOR=254\nDEVNAME=vda\n");
        put ("sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/serial", "SER-1\n");
        put ("sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/vda1/uevent", "DEVNAME=vda1\n");
        put ("sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/vda1/partition", "1\n");
        a = address_of (dev);
        g_assert_cmpstr (json_object_get_string_member (a, "serial"), ==, "SER-1");
        assert_address (a, 0, 0, 2, 0, "virtio", 0, 0, 0, "/dev/vda");
        /* a partition: its own node, the disk's address and serial */
        a = address_of ("sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/vda1");
        g_assert_cmpstr (json_object_get_string_member (a, "serial"), ==, "SER-1");
        assert_address (a, 0, 0, 2, 0, "virtio", 0, 0, 0, "/dev/vda1");
}

static void
test_ide_sata_scsi_nvme (void)
{
        /* PIIX IDE: a port per bus; this disk is the secondary (ata2) slave (target 1) */
        driver ("sys/devices/pci0000:00/0000:00:01.1", "ata_piix");
        mkdirs ("sys/devices/pci0000:00/0000:00:01.1/ata1");
        mkdirs ("sys/devices/pci0000:00/0000:00:01.1/ata2/host1/target1:0:1/1:0:1:0/block/sda");
        assert_address (address_of ("sys/devices/pci0000:00/0000:00:01.1/ata2/host1/target1:0:1/1:0:1:0/block/sda"),
                        0, 0, 1, 1, "ide", 1, 0, 1, "/dev/sda");
        /* AHCI: a port per disk, ata7..ata12 (numbers run on across controllers); port 3 */
        driver ("sys/devices/pci0000:00/0000:00:1f.2", "ahci");
        for (guint i = 7; i <= 12; i++) {
                g_autofree char *port = g_strdup_printf ("sys/devices/pci0000:00/0000:00:1f.2/ata%u", i);

                mkdirs (port);
        }
        mkdirs ("sys/devices/pci0000:00/0000:00:1f.2/ata10/host9/target9:0:0/9:0:0:0/block/sdb");
        assert_address (address_of ("sys/devices/pci0000:00/0000:00:1f.2/ata10/host9/target9:0:0/9:0:0:0/block/sdb"),
                        0, 0, 0x1f, 2, "sata", 0, 0, 3, "/dev/sdb");
        /* virtio-scsi behind a PCI bridge (whose driver is no storage controller's) */
        driver ("sys/devices/pci0000:00/0000:00:1c.0", "pcieport");
        driver ("sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0", "virtio-pci");
        mkdirs ("sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0/virtio2/host0/target0:0:1/0:0:1:3/block/sdc");
        assert_address (address_of ("sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0/virtio2/host0/target0:0:1/"
                                    "0:0:1:3/block/sdc"),
                        0, 1, 0, 0, "scsi", 0, 1, 3, "/dev/sdc");
        /* NVMe, in PCI domain 1 */
        driver ("sys/devices/pci0001:00/0001:00:12.0", "nvme");
        mkdirs ("sys/devices/pci0001:00/0001:00:12.0/nvme/nvme0/nvme0n1");
        assert_address (address_of ("sys/devices/pci0001:00/0001:00:12.0/nvme/nvme0/nvme0n1"), 1, 0, 0x12, 0,
                        "nvme", 0, 0, 0, "/dev/nvme0n1");
}

static void
test_unknown_controller_and_no_pci (void)
{
        JsonObject *a;

        driver ("sys/devices/pci0000:00/0000:00:05.0", "megaraid_sas");
        mkdirs ("sys/devices/pci0000:00/0000:00:05.0/host3/target3:2:0/3:2:0:0/block/sdd");
        a = address_of ("sys/devices/pci0000:00/0000:00:05.0/host3/target3:2:0/3:2:0:0/block/sdd");
        g_assert_false (json_object_has_member (a, "serial"));
        assert_address (a, -1, -1, -1, -1, "unknown", 0, 0, 0, "/dev/sdd");
        /* virtio over MMIO */
        mkdirs ("sys/devices/platform/virtio_mmio.0/virtio0/block/vdb");
        assert_address (address_of ("sys/devices/platform/virtio_mmio.0/virtio0/block/vdb"), -1, -1, -1, -1,
                        "virtio", 0, 0, 0, "/dev/vdb");
}

static void
test_sys_resolve (void)
{
        g_autofree char *link = g_build_filename (root, "sys/block/vda", NULL);
        g_autofree char *want = g_build_filename (root, "sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda", NULL);
        g_autofree char *got = NULL;

        mkdirs ("sys/block");
        mkdirs ("sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda");
        g_assert_cmpint (symlink ("../devices/pci0000:00/0000:00:02.0/virtio1/block/vda", link), ==, 0);
        got = phx_storage_sys_resolve (link);
        g_assert_cmpstr (got, ==, want);
        g_free (got);
        got = phx_storage_sys_resolve (want); /* a directory already */
        g_assert_cmpstr (got, ==, want);
        g_free (got);
        got = g_build_filename (root, "sys/block/none", NULL);
        g_assert_null (phx_storage_sys_resolve (got));
}

int
main (int argc, char **argv)
{
        g_autofree char *cmd = NULL;
        int ret;

        g_test_init (&argc, &argv, NULL);
        root = g_dir_make_tmp ("phx-storage-XXXXXX", NULL);
        g_test_add_func ("/storage/virtio-blk-and-partition", test_virtio_blk_and_partition);
        g_test_add_func ("/storage/ide-sata-scsi-nvme", test_ide_sata_scsi_nvme);
        g_test_add_func ("/storage/unknown-controller-and-no-pci", test_unknown_controller_and_no_pci);
        g_test_add_func ("/storage/sys-resolve", test_sys_resolve);
        ret = g_test_run ();
        cmd = g_strdup_printf ("rm -rf '%s'", root);
        g_assert_cmpint (system (cmd), ==, 0);
        return ret;
}
