/* cmd-sysinfo.c — the system-information family: Phoenix's sysinfo (uname, uptime, load,
 * memory, logged-in users, block devices) and qemu-ga's time, host name, osinfo, time zone,
 * users, load and CPU statistics. The machine is read by the sysinfo-*.c readers, shared by
 * both dialects; this file only shapes their replies. */
#define G_LOG_DOMAIN "cmd-sysinfo"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utmp.h>

#include <gio/gunixmounts.h>

#include "phx-error.h"
#include "phx-family.h"
#include "sysinfo-cpu.h"
#include "sysinfo-os.h"
#include "sysinfo-time.h"
#include "sysinfo-users.h"

/* Where the users are read from; a test runs the agent with its own /run. */
#define LOGIND_SESSIONS_DIR "/run/systemd/sessions"

static JsonObject *
uname_object (GError **error)
{
        struct utsname u;
        JsonObject *obj;

        if (!phx_os_uname (&u, error))
                return NULL;
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
        double load[3];
        JsonObject *obj;

        if (!phx_cpu_loadavg (load, error))
                return NULL;
        obj = json_object_new ();
        json_object_set_double_member (obj, "1m", load[0]);
        json_object_set_double_member (obj, "5m", load[1]);
        json_object_set_double_member (obj, "15m", load[2]);
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
        g_autoptr(GPtrArray) logins = NULL;

        /* A guest without utmp (containers, minimal images) simply has no sessions to
         * report: that is not a sysinfo failure. Phoenix's sysinfo lists utmp's records as it
         * always did; qemu-ga's guest-get-users also asks logind (see below). */
        logins = phx_users_read_utmp (_PATH_UTMP, NULL);
        for (guint i = 0; logins != NULL && i < logins->len; i++) {
                PhxLogin *login = g_ptr_array_index (logins, i);
                JsonObject *u = json_object_new ();

                json_object_set_string_member (u, "name", login->user);
                json_object_set_string_member (u, "device", login->line);
                json_object_set_string_member (u, "host", login->host);
                json_object_set_int_member (u, "login_time", login->login_usec / G_USEC_PER_SEC);
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

/* ---- qemu-ga's faces: each row reads through the same readers as sysinfo ---- */

/* json_node_init_object/_array take a reference of their own: these hand the caller's on. */
static JsonNode *
object_node (JsonObject *obj)
{
        JsonNode *node = json_node_init_object (json_node_alloc (), obj);

        json_object_unref (obj);
        return node;
}

static JsonNode *
array_node (JsonArray *arr)
{
        JsonNode *node = json_node_init_array (json_node_alloc (), arr);

        json_array_unref (arr);
        return node;
}

static JsonNode *
qga_get_time (PhxCall *call, GError **error)
{
        return json_node_init_int (json_node_alloc (), phx_time_now_ns ());
}

/* qemu-ga 7.2 refuses times outside the years 1970..2069 ("Invalid time"). */
#define QGA_TIME_MAX_NS (G_GINT64_CONSTANT (3155760000) * 1000000000) /* 2070-01-01 UTC */

static JsonNode *
qga_set_time (PhxCall *call, GError **error)
{
        if (phx_args_has (call->args, "time")) {
                gint64 ns = phx_args_get_int (call->args, "time");

                if (ns < 0 || ns >= QGA_TIME_MAX_NS) {
                        phx_error_set (error, EINVAL, "Invalid time %" G_GINT64_FORMAT ": not within the years 1970 to 2069",
                                       ns);
                        return NULL;
                }
                if (!phx_time_set (ns, PHX_RTC_DEVICE, error))
                        return NULL;
        } else if (!phx_time_set_from_rtc (PHX_RTC_DEVICE, error)) {
                return NULL;
        }
        return object_node (json_object_new ());
}

static JsonNode *
qga_get_host_name (PhxCall *call, GError **error)
{
        g_autofree char *name = phx_os_host_name (error);
        JsonObject *obj;

        if (name == NULL)
                return NULL;
        obj = json_object_new ();
        json_object_set_string_member (obj, "host-name", name);
        return object_node (obj);
}

static JsonNode *
qga_get_osinfo (PhxCall *call, GError **error)
{
        /* qemu-ga's member <- os-release variable; absent variables are absent members */
        static const char *const members[][2] = {
                { "id", "ID" },
                { "name", "NAME" },
                { "pretty-name", "PRETTY_NAME" },
                { "version", "VERSION" },
                { "version-id", "VERSION_ID" },
                { "variant", "VARIANT" },
                { "variant-id", "VARIANT_ID" },
        };
        g_autoptr(GHashTable) release = phx_os_release_read ();
        struct utsname u;
        JsonObject *obj;

        if (!phx_os_uname (&u, error))
                return NULL;
        obj = json_object_new ();
        json_object_set_string_member (obj, "kernel-release", u.release);
        json_object_set_string_member (obj, "kernel-version", u.version);
        json_object_set_string_member (obj, "machine", u.machine);
        for (guint i = 0; i < G_N_ELEMENTS (members); i++) {
                const char *value = g_hash_table_lookup (release, members[i][1]);
                if (value != NULL)
                        json_object_set_string_member (obj, members[i][0], value);
        }
        return object_node (obj);
}

static JsonNode *
qga_get_timezone (PhxCall *call, GError **error)
{
        g_autofree char *zone = NULL;
        JsonObject *obj = json_object_new ();
        gint offset;

        phx_time_zone_now (&zone, &offset);
        json_object_set_string_member (obj, "zone", zone);
        json_object_set_int_member (obj, "offset", offset);
        return object_node (obj);
}

static JsonNode *
qga_get_users (PhxCall *call, GError **error)
{
        g_autoptr(GPtrArray) logins = phx_users_first_logins (_PATH_UTMP, LOGIND_SESSIONS_DIR);
        JsonArray *arr = json_array_sized_new (logins->len);

        for (guint i = 0; i < logins->len; i++) {
                PhxLogin *login = g_ptr_array_index (logins, i);
                JsonObject *u = json_object_new ();

                json_object_set_string_member (u, "user", login->user);
                json_object_set_double_member (u, "login-time", (double) login->login_usec / G_USEC_PER_SEC);
                json_array_add_object_element (arr, u);
        }
        return array_node (arr);
}

static JsonNode *
qga_get_load (PhxCall *call, GError **error)
{
        double load[3];
        JsonObject *obj;

        if (!phx_cpu_loadavg (load, error))
                return NULL;
        obj = json_object_new ();
        json_object_set_double_member (obj, "load1m", load[0]);
        json_object_set_double_member (obj, "load5m", load[1]);
        json_object_set_double_member (obj, "load15m", load[2]);
        return object_node (obj);
}

static JsonNode *
qga_get_cpustats (PhxCall *call, GError **error)
{
        static const char *const names[PHX_CPU_TIMES_MAX] = {
                "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guestnice",
        };
        g_autoptr(GArray) cpus = phx_cpu_times_read (error);
        long tck = sysconf (_SC_CLK_TCK);
        JsonArray *arr;

        if (cpus == NULL)
                return NULL;
        arr = json_array_sized_new (cpus->len);
        for (guint i = 0; i < cpus->len; i++) {
                const PhxCpuTimes *t = &g_array_index (cpus, PhxCpuTimes, i);
                JsonObject *c = json_object_new ();

                json_object_set_string_member (c, "type", "linux");
                json_object_set_int_member (c, "cpu", t->cpu);
                /* milliseconds, as qemu-ga: /proc/stat counts USER_HZ ticks */
                for (guint k = 0; k < t->n_times; k++)
                        json_object_set_int_member (c, names[k], (gint64) (t->ticks[k] * 1000 / tck));
                json_array_add_object_element (arr, c);
        }
        return array_node (arr);
}

static const PhxArgSpec qga_set_time_args[] = {
        { "time", PHX_ARG_INT, 0 },
        { NULL }
};

/* Nothing here writes to a filesystem, so all of it answers while filesystems are frozen.
 * The qemu-ga rows run inline, not in a worker: each is a system call or a read of a small
 * file in /proc, /run or /etc (a frozen filesystem does not block reads), and a reply from a
 * worker may overtake the replies to requests sent after it, while qemu-ga answers in order
 * and its clients may pipeline requests without an `id` (a guest-sync after a command). */
static const PhxCommand sysinfo_commands[] = {
        { "sysinfo", sysinfo_cmd, NULL, PHX_CMD_THREADED },
        { "qga-get-time", qga_get_time, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-set-time", qga_set_time, qga_set_time_args, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-get-host-name", qga_get_host_name, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-get-osinfo", qga_get_osinfo, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-get-timezone", qga_get_timezone, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-get-users", qga_get_users, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-get-load", qga_get_load, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-get-cpustats", qga_get_cpustats, NULL, PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { NULL }
};

static const PhxFace sysinfo_faces[] = {
        { PHX_DIALECT_QGA, "guest-get-time", "qga-get-time", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-set-time", "qga-set-time", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-host-name", "qga-get-host-name", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-osinfo", "qga-get-osinfo", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-timezone", "qga-get-timezone", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-users", "qga-get-users", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-load", "qga-get-load", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-cpustats", "qga-get-cpustats", NULL, NULL, PHX_FACE_STRICT },
        { .name = NULL }
};

PHX_DEFINE_STATELESS_FAMILY_WITH_FACES (PhxSysinfoFamily, phx_sysinfo_family, sysinfo_commands, sysinfo_faces)
