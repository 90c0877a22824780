/* cmd-sysinfo.c — sysinfo: uname, uptime, load, memory, logged-in users and block devices,
 * read from the kernel's own files. Runs in a worker thread (statfs may block). */
#define G_LOG_DOMAIN "cmd-sysinfo"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <utmp.h>

#include <gio/gunixmounts.h>

#include "phx-error.h"
#include "phx-family.h"

static JsonObject *
uname_object (GError **error)
{
        struct utsname u;
        JsonObject *obj;

        if (uname (&u) < 0) {
                phx_error_set_errno (error, errno, "uname");
                return NULL;
        }
        obj = json_object_new ();
        json_object_set_string_member (obj, "sysname", u.sysname);
        json_object_set_string_member (obj, "nodename", u.nodename);
        json_object_set_string_member (obj, "release", u.release);
        json_object_set_string_member (obj, "version", u.version);
        json_object_set_string_member (obj, "machine", u.machine);
        json_object_set_string_member (obj, "domain", u.domainname);
        return obj;
}

static JsonObject *
loadavg_object (GError **error)
{
        g_autofree char *text = NULL;
        g_auto(GStrv) fields = NULL;
        JsonObject *obj;

        /* /proc/loadavg has the kernel's own rounding; sysinfo(2) loads are fixed-point. */
        if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL)) {
                phx_error_set_errno (error, errno, "read /proc/loadavg");
                return NULL;
        }
        fields = g_strsplit (text, " ", 4);
        if (g_strv_length (fields) < 4) {
                phx_error_set (error, PHX_ERROR_GENERIC, "unexpected /proc/loadavg format");
                return NULL;
        }
        obj = json_object_new ();
        json_object_set_double_member (obj, "1m", g_ascii_strtod (fields[0], NULL));
        json_object_set_double_member (obj, "5m", g_ascii_strtod (fields[1], NULL));
        json_object_set_double_member (obj, "15m", g_ascii_strtod (fields[2], NULL));
        return obj;
}

/* /proc/meminfo values in KiB, keyed by name. */
static GHashTable *
read_meminfo (GError **error)
{
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        GHashTable *table;

        if (!g_file_get_contents ("/proc/meminfo", &text, NULL, NULL)) {
                phx_error_set_errno (error, errno, "read /proc/meminfo");
                return NULL;
        }
        table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
        lines = g_strsplit (text, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                char *colon = strchr (lines[i], ':');
                gint64 *value;
                if (colon == NULL)
                        continue;
                value = g_new (gint64, 1);
                *value = g_ascii_strtoll (colon + 1, NULL, 10);
                g_hash_table_insert (table, g_strndup (lines[i], colon - lines[i]), value);
        }
        return table;
}

static void
set_kib (JsonObject *obj, const char *member, GHashTable *meminfo, const char *key)
{
        gint64 *v = g_hash_table_lookup (meminfo, key);

        json_object_set_int_member (obj, member, v != NULL ? *v : 0);
}

static JsonArray *
users_array (void)
{
        JsonArray *arr = json_array_new ();
        g_autofree char *data = NULL;
        gsize len = 0;

        /* A guest without utmp (containers, minimal images) simply has no sessions to
         * report: that is not a sysinfo failure. The file is parsed directly because
         * getutxent() keeps static state and is not safe in a worker thread. */
        if (!g_file_get_contents (_PATH_UTMP, &data, &len, NULL))
                return arr;
        for (gsize off = 0; off + sizeof (struct utmp) <= len; off += sizeof (struct utmp)) {
                struct utmp ut;
                JsonObject *u;
                g_autofree char *name = NULL, *line = NULL, *host = NULL;

                memcpy (&ut, data + off, sizeof ut);
                if (ut.ut_type != USER_PROCESS || ut.ut_user[0] == '\0')
                        continue;
                name = g_utf8_make_valid (ut.ut_user, strnlen (ut.ut_user, sizeof ut.ut_user));
                line = g_utf8_make_valid (ut.ut_line, strnlen (ut.ut_line, sizeof ut.ut_line));
                host = g_utf8_make_valid (ut.ut_host, strnlen (ut.ut_host, sizeof ut.ut_host));
                u = json_object_new ();
                json_object_set_string_member (u, "name", name);
                json_object_set_string_member (u, "device", line);
                json_object_set_string_member (u, "host", host);
                json_object_set_int_member (u, "login_time", ut.ut_tv.tv_sec);
                json_array_add_object_element (arr, u);
        }
        return arr;
}

/* The mount of `dev` (a /dev path), or NULL. Mount sources are compared after resolving
 * symlinks, since fstab often names /dev/disk/by-uuid/... links. */
static GUnixMountEntry *
find_mount (GList *mounts, const char *dev)
{
        for (GList *l = mounts; l != NULL; l = l->next) {
                const char *src = g_unix_mount_get_device_path (l->data);
                char resolved[PATH_MAX];

                if (src == NULL || src[0] != '/')
                        continue;
                if (g_str_equal (src, dev) || (realpath (src, resolved) != NULL && g_str_equal (resolved, dev)))
                        return l->data;
        }
        return NULL;
}

/* The disk's own mount, else the first mounted partition's (a VM disk is usually
 * mounted through /dev/vda1, and hosts want to see that it is in use). */
static GUnixMountEntry *
disk_mount (GList *mounts, const char *name)
{
        g_autofree char *dev = g_strconcat ("/dev/", name, NULL);
        g_autofree char *sysdir = g_build_filename ("/sys/block", name, NULL);
        g_autoptr(GDir) dir = NULL;
        g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
        GUnixMountEntry *m = find_mount (mounts, dev);
        const char *entry;

        if (m != NULL)
                return m;
        dir = g_dir_open (sysdir, 0, NULL);
        while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL) {
                g_autofree char *partfile = g_build_filename (sysdir, entry, "partition", NULL);
                if (g_file_test (partfile, G_FILE_TEST_EXISTS))
                        g_ptr_array_add (parts, g_strdup (entry));
        }
        g_ptr_array_sort (parts, (GCompareFunc) g_strcmp0);
        for (guint i = 0; i < parts->len; i++) {
                g_autofree char *pdev = g_strconcat ("/dev/", (char *) g_ptr_array_index (parts, i), NULL);
                if ((m = find_mount (mounts, pdev)) != NULL)
                        return m;
        }
        return NULL;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
        return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static JsonArray *
disks_array (void)
{
        JsonArray *arr = json_array_new ();
        g_autoptr(GDir) dir = g_dir_open ("/sys/block", 0, NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
        GList *mounts = g_unix_mounts_get (NULL);
        const char *entry;

        while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL) {
                /* Physical devices have a `device` link; loop, zram and dm do not. */
                g_autofree char *link = g_build_filename ("/sys/block", entry, "device", NULL);
                if (g_file_test (link, G_FILE_TEST_EXISTS))
                        g_ptr_array_add (names, g_strdup (entry));
        }
        g_ptr_array_sort (names, compare_strings);
        for (guint i = 0; i < names->len; i++) {
                const char *name = g_ptr_array_index (names, i);
                g_autofree char *dev = g_strconcat ("/dev/", name, NULL);
                GUnixMountEntry *m = disk_mount (mounts, name);
                JsonObject *d = json_object_new ();
                struct statvfs sv;
                gboolean sized = m != NULL && statvfs (g_unix_mount_get_mount_path (m), &sv) == 0;
                guint64 frsize = sized ? sv.f_frsize : 0;

                json_object_set_string_member (d, "name", dev);
                json_object_set_boolean_member (d, "is_mounted", m != NULL);
                json_object_set_string_member (d, "mountpoint", m != NULL ? g_unix_mount_get_mount_path (m) : "");
                json_object_set_int_member (d, "size_total", sized ? sv.f_blocks * frsize / 1024 : 0);
                json_object_set_int_member (d, "size_used", sized ? (sv.f_blocks - sv.f_bfree) * frsize / 1024 : 0);
                json_object_set_int_member (d, "size_avail", sized ? sv.f_bavail * frsize / 1024 : 0);
                json_array_add_object_element (arr, d);
        }
        g_list_free_full (mounts, (GDestroyNotify) g_unix_mount_free);
        return arr;
}

static JsonNode *
sysinfo_cmd (PhxCall *call, GError **error)
{
        g_autoptr(JsonObject) obj = json_object_new ();
        g_autoptr(GHashTable) meminfo = NULL;
        JsonObject *part;
        struct sysinfo si;

        if ((part = uname_object (error)) == NULL)
                return NULL;
        json_object_set_object_member (obj, "uname", part);
        json_object_set_int_member (obj, "long_bit", sizeof (long) * 8);
        if (sysinfo (&si) < 0) {
                phx_error_set_errno (error, errno, "sysinfo");
                return NULL;
        }
        json_object_set_int_member (obj, "uptime", si.uptime);
        if ((part = loadavg_object (error)) == NULL)
                return NULL;
        json_object_set_object_member (obj, "loadavg", part);

        if ((meminfo = read_meminfo (error)) == NULL)
                return NULL;
        part = json_object_new ();
        set_kib (part, "total", meminfo, "MemTotal");
        set_kib (part, "free", meminfo, "MemFree");
        set_kib (part, "buffer", meminfo, "Buffers");
        set_kib (part, "available", meminfo, "MemAvailable");
        set_kib (part, "cached", meminfo, "Cached");
        json_object_set_object_member (obj, "ram", part);
        part = json_object_new ();
        set_kib (part, "total", meminfo, "SwapTotal");
        set_kib (part, "free", meminfo, "SwapFree");
        json_object_set_object_member (obj, "swap", part);

        json_object_set_array_member (obj, "users", users_array ());
        json_object_set_array_member (obj, "disks", disks_array ());
        return json_node_init_object (json_node_alloc (), obj);
}

static const PhxCommand sysinfo_commands[] = {
        { "sysinfo", sysinfo_cmd, NULL, PHX_CMD_THREADED },
        { NULL }
};

PHX_DEFINE_STATELESS_FAMILY (PhxSysinfoFamily, phx_sysinfo_family, sysinfo_commands)
