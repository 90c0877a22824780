/* storage-disks.c — guest-get-disks: every block device of /sys/block that has a size (qemu-ga
 * leaves empty loop and zram devices out), each followed by its partitions, with what it is
 * built on (dependencies: its slaves, a partition's disk), a device-mapper device's name
 * (alias) and, for a device that is not virtual, its address (storage-address.c) and an NVMe
 * disk's health log (storage-smart.c). The list
 * comes out in qemu-ga's order: /sys/block's, reversed. Reads sysfs only. */
#define G_LOG_DOMAIN "storage-disks"


#include <gio/gio.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "storage-address.h"
#include "storage-disks.h"
#include "storage-smart.h"

/* The /dev nodes of the devices a disk is built on (its slaves), qemu-ga's order. */
static JsonArray *
dependencies (const char *syspath)
{
        g_autofree char *slaves = g_build_filename (syspath, "slaves", NULL);
        g_autoptr(GDir) dir = g_dir_open (slaves, 0, NULL);
        g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
        JsonArray *out = json_array_new ();
        const char *name;

        while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
                g_autofree char *link = g_build_filename (slaves, name, NULL);
                g_autofree char *real = phx_storage_sys_resolve (link);

                if (real != NULL)
                        g_ptr_array_add (found, phx_storage_dev_node (real));
        }
        for (guint i = found->len; i > 0; i--)
                json_array_add_string_element (out, g_ptr_array_index (found, i - 1));
        return out;
}

static JsonObject *
disk_entry (const char *syspath)
{
        JsonObject *disk = json_object_new ();
        g_autofree char *node = phx_storage_dev_node (syspath);
        g_autofree char *alias = phx_storage_read_attr (syspath, "dm/name");
        JsonObject *address = NULL;

        json_object_set_string_member (disk, "name", node);
        json_object_set_boolean_member (disk, "partition", FALSE);
        json_object_set_array_member (disk, "dependencies", dependencies (syspath));
        if (g_strstr_len (syspath, -1, "/devices/virtual/") == NULL) {
                address = phx_storage_address (syspath);
                json_object_set_object_member (disk, "address", address);
        }
        if (alias != NULL && alias[0] != '\0')
                json_object_set_string_member (disk, "alias", alias);
        if (address != NULL && g_str_equal (json_object_get_string_member (address, "bus-type"), "nvme")) {
                JsonObject *smart = phx_storage_nvme_smart (node);

                if (smart != NULL)
                        json_object_set_object_member (disk, "smart", smart);
        }
        return disk;
}

/* The partitions of the disk `disk` at `syspath`: subdirectories named after it (vda1, nvme0n1p1)
 * with a `partition` attribute. */
static void
add_partitions (GPtrArray *out, const char *syspath, const char *disk, const char *disk_node)
{
        g_autoptr(GDir) dir = g_dir_open (syspath, 0, NULL);
        const char *name;

        while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
                g_autofree char *sub = NULL;
                g_autofree char *partition = NULL;
                g_autofree char *node = NULL;
                JsonObject *part;
                JsonArray *deps;

                if (!g_str_has_prefix (name, disk))
                        continue;
                sub = g_build_filename (syspath, name, NULL);
                partition = phx_storage_read_attr (sub, "partition");
                if (partition == NULL)
                        continue;
                node = phx_storage_dev_node (sub);
                part = json_object_new ();
                deps = json_array_new ();
                json_array_add_string_element (deps, disk_node);
                json_object_set_string_member (part, "name", node);
                json_object_set_boolean_member (part, "partition", TRUE);
                json_object_set_array_member (part, "dependencies", deps);
                g_ptr_array_add (out, part);
        }
}

JsonNode *
phx_storage_disks (GError **error)
{
        g_autoptr(GError) local = NULL;
        g_autoptr(GDir) dir = g_dir_open ("/sys/block", 0, &local);
        g_autoptr(GPtrArray) found = g_ptr_array_new ();
        JsonArray *out;
        const char *name;

        if (dir == NULL) {
                phx_error_set (error, PHX_ERROR_GENERIC, "%s", local->message);
                return NULL;
        }
        while ((name = g_dir_read_name (dir)) != NULL && found->len < PHX_STORAGE_ENTRIES_MAX) {
                g_autofree char *link = g_build_filename ("/sys/block", name, NULL);
                g_autofree char *syspath = phx_storage_sys_resolve (link);
                g_autofree char *size = syspath != NULL ? phx_storage_read_attr (syspath, "size") : NULL;
                JsonObject *disk;

                if (size == NULL || g_str_equal (size, "0"))
                        continue;
                disk = disk_entry (syspath);
                g_ptr_array_add (found, disk);
                add_partitions (found, syspath, name, json_object_get_string_member (disk, "name"));
        }
        out = json_array_sized_new (found->len);
        for (guint i = found->len; i > 0; i--)
                json_array_add_object_element (out, g_ptr_array_index (found, i - 1));
        return json_node_init_array (json_node_alloc (), out);
}
