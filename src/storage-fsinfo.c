/* storage-fsinfo.c — guest-get-fsinfo: every mounted filesystem on a block device, as qemu-ga
 * lists them (each mount, bind mounts too, latest first; virtual filesystems, whose device
 * major is 0, left out, btrfs counted by its source device), with its space (statvfs) and the
 * disks under it: a device-mapper, md or loop device (a "virtual" one in sysfs) is followed
 * down its slaves to real devices, whose addresses storage-address.c reads. One pass over
 * mountinfo; the disks of a device are worked out once per call, however many mounts share
 * it (100 bind mounts cost one sysfs walk). */
#define G_LOG_DOMAIN "storage-fsinfo"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <gio/gio.h>

#include "phx-error.h"
#include "phx-freeze-plan.h"
#include "phx-limits.h"
#include "storage-address.h"
#include "storage-fsinfo.h"

static void
storage_mount_clear (gpointer p)
{
        PhxStorageMount *m = p;

        g_free (m->mountpoint);
        g_free (m->fstype);
}

/* The mounts qemu-ga lists for fsinfo and fstrim, in mount order: those whose device has a
 * non-zero major (block devices), and btrfs through the block device it was mounted from. */
GArray *
phx_storage_mounts (GError **error)
{
        g_autofree char *text = phx_freeze_read_mountinfo (error);
        g_autoptr(GArray) all = NULL;
        GArray *out;

        if (text == NULL)
                return NULL;
        all = phx_mounts_parse (text);
        out = g_array_new (FALSE, TRUE, sizeof (PhxStorageMount));
        g_array_set_clear_func (out, storage_mount_clear);
        for (guint i = 0; i < all->len && out->len < PHX_STORAGE_ENTRIES_MAX; i++) {
                const PhxMount *m = &g_array_index (all, PhxMount, i);
                PhxStorageMount sm = { 0 };
                guint maj, min;
                struct stat st;

                if (sscanf (m->majmin, "%u:%u", &maj, &min) != 2)
                        continue;
                if (maj == 0) {
                        if (!g_str_equal (m->fstype, "btrfs") || stat (m->source, &st) < 0 ||
                            !S_ISBLK (st.st_mode))
                                continue;
                        maj = major (st.st_rdev);
                        min = minor (st.st_rdev);
                }
                sm.mountpoint = g_strdup (m->mountpoint);
                sm.fstype = g_strdup (m->fstype);
                sm.major = maj;
                sm.minor = min;
                g_array_append_val (out, sm);
        }
        return out;
}

/* The addresses of the real devices under `syspath`, depth first. */
static void
add_disks (GPtrArray *disks, const char *syspath, guint depth)
{
        g_autofree char *slaves = NULL;
        g_autoptr(GDir) dir = NULL;
        const char *name;

        if (strstr (syspath, "/devices/virtual/block/") == NULL) {
                g_ptr_array_add (disks, phx_storage_address (syspath));
                return;
        }
        if (depth >= PHX_STORAGE_SLAVES_DEPTH)
                return;
        slaves = g_build_filename (syspath, "slaves", NULL);
        dir = g_dir_open (slaves, 0, NULL);
        while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
                g_autofree char *link = g_build_filename (slaves, name, NULL);
                g_autofree char *real = phx_storage_sys_resolve (link);

                if (real != NULL)
                        add_disks (disks, real, depth + 1);
        }
}

typedef struct {
        char *name;
        JsonArray *disks;
} Device;

static void
device_free (gpointer p)
{
        Device *d = p;

        g_free (d->name);
        json_array_unref (d->disks);
        g_free (d);
}

static Device *
device_new (guint maj, guint min)
{
        g_autofree char *link = g_strdup_printf ("/sys/dev/block/%u:%u", maj, min);
        g_autofree char *syspath = phx_storage_sys_resolve (link);
        Device *d = g_new0 (Device, 1);

        d->disks = json_array_new ();
        /* a device gone from sysfs: listed without disks (qemu-ga fails the whole call) */
        d->name = syspath != NULL ? g_path_get_basename (syspath) : g_strdup_printf ("%u:%u", maj, min);
        if (syspath != NULL) {
                g_autoptr(GPtrArray) found = g_ptr_array_new ();

                add_disks (found, syspath, 0);
                /* qemu-ga lists them last found first */
                for (guint i = found->len; i > 0; i--)
                        json_array_add_object_element (d->disks, g_ptr_array_index (found, i - 1));
        }
        return d;
}

static JsonArray *
copy_array (JsonArray *a)
{
        JsonArray *out = json_array_sized_new (json_array_get_length (a));

        for (guint i = 0; i < json_array_get_length (a); i++)
                json_array_add_element (out, json_node_copy (json_array_get_element (a, i)));
        return out;
}

JsonNode *
phx_storage_fsinfo (GError **error)
{
        g_autoptr(GArray) mounts = phx_storage_mounts (error);
        g_autoptr(GHashTable) devices = NULL;
        JsonArray *out;

        if (mounts == NULL)
                return NULL;
        devices = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, device_free);
        out = json_array_sized_new (mounts->len);
        /* latest mount first, as qemu-ga */
        for (guint i = mounts->len; i > 0; i--) {
                const PhxStorageMount *m = &g_array_index (mounts, PhxStorageMount, i - 1);
                gpointer key = GUINT_TO_POINTER (makedev (m->major, m->minor));
                Device *d = g_hash_table_lookup (devices, key);
                JsonObject *fs = json_object_new ();
                struct statvfs sv;

                if (d == NULL) {
                        d = device_new (m->major, m->minor);
                        g_hash_table_insert (devices, key, d);
                }
                json_object_set_string_member (fs, "name", d->name);
                json_object_set_string_member (fs, "mountpoint", m->mountpoint);
                json_object_set_string_member (fs, "type", m->fstype);
                if (statvfs (m->mountpoint, &sv) == 0) {
                        guint64 used = (guint64) (sv.f_blocks - sv.f_bfree);

                        /* qemu-ga's units: bytes; total as an unprivileged user sees it
                         * (used + available), the privileged total (9.1) all blocks */
                        json_object_set_int_member (fs, "used-bytes", used * sv.f_frsize);
                        json_object_set_int_member (fs, "total-bytes", (used + sv.f_bavail) * sv.f_frsize);
                        json_object_set_int_member (fs, "total-bytes-privileged",
                                                    (guint64) sv.f_blocks * sv.f_frsize);
                }
                json_object_set_array_member (fs, "disk", copy_array (d->disks));
                json_array_add_object_element (out, fs);
        }
        return json_node_init_array (json_node_alloc (), out);
}
