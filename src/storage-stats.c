/* storage-stats.c — guest-get-diskstats (/proc/diskstats, every line, qemu-ga's member names,
 * as many counters as the kernel gives) and guest-fstrim (FITRIM on each mount
 * guest-get-fsinfo lists, latest first, bind mounts too, with qemu-ga's per-path results and
 * error texts). */
#define G_LOG_DOMAIN "storage-stats"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "storage-fsinfo.h"
#include "storage-stats.h"

/* /proc/diskstats' counters after "major minor name", in the kernel's order: 11 since 2.6,
 * 4 discard counters since 4.18, 2 flush counters since 5.5. */
static const char *const counters[] = {
        "read-ios", "read-merges", "read-sectors", "read-ticks",
        "write-ios", "write-merges", "write-sectors", "write-ticks",
        "ios-pgr", "total-ticks", "weight-ticks",
        "discard-ios", "discard-merges", "discard-sectors", "discard-ticks",
        "flush-ios", "flush-ticks",
};

JsonNode *
phx_storage_diskstats (GError **error)
{
        g_autoptr(GError) local = NULL;
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        JsonArray *out;

        if (!g_file_get_contents ("/proc/diskstats", &text, NULL, &local)) {
                phx_error_set (error, PHX_ERROR_GENERIC, "%s", local->message);
                return NULL;
        }
        lines = g_strsplit (text, "\n", -1);
        out = json_array_new ();
        for (guint i = 0; lines[i] != NULL && json_array_get_length (out) < PHX_STORAGE_ENTRIES_MAX; i++) {
                g_auto(GStrv) f = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
                g_autoptr(GPtrArray) fields = g_ptr_array_new ();
                guint64 maj, min;
                JsonObject *entry, *stats;
                guint n;

                for (guint k = 0; f[k] != NULL; k++) {
                        if (f[k][0] != '\0')
                                g_ptr_array_add (fields, f[k]);
                }
                /* qemu-ga wants the first 11 counters at least */
                if (fields->len < 3 + 11 ||
                    !g_ascii_string_to_unsigned (fields->pdata[0], 10, 0, G_MAXUINT32, &maj, NULL) ||
                    !g_ascii_string_to_unsigned (fields->pdata[1], 10, 0, G_MAXUINT32, &min, NULL))
                        continue;
                entry = json_object_new ();
                stats = json_object_new ();
                n = MIN (fields->len - 3, G_N_ELEMENTS (counters));
                /* a kernel may add counters: only whole groups are reported, as qemu-ga */
                if (n < 17)
                        n = n >= 15 ? 15 : 11;
                for (guint k = 0; k < n; k++) {
                        guint64 v;

                        if (g_ascii_string_to_unsigned (fields->pdata[3 + k], 10, 0, G_MAXUINT64, &v, NULL))
                                json_object_set_int_member (stats, counters[k], (gint64) v);
                }
                json_object_set_string_member (entry, "name", fields->pdata[2]);
                json_object_set_int_member (entry, "major", (gint64) maj);
                json_object_set_int_member (entry, "minor", (gint64) min);
                json_object_set_object_member (entry, "stats", stats);
                json_array_add_object_element (out, entry);
        }
        return json_node_init_array (json_node_alloc (), out);
}

static JsonObject *
trim_one (const char *path, gboolean has_minimum, gint64 minimum)
{
        JsonObject *res = json_object_new ();
        struct fstrim_range r = { .start = 0, .len = G_MAXUINT64, .minlen = has_minimum ? (guint64) minimum : 0 };
        int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        int errsv;

        json_object_set_string_member (res, "path", path);
        if (fd < 0) {
                g_autofree char *msg = g_strdup_printf ("failed to open: %s", g_strerror (errno));

                json_object_set_string_member (res, "error", msg);
                return res;
        }
        if (ioctl (fd, FITRIM, &r) < 0) {
                g_autofree char *msg = NULL;

                errsv = errno;
                close (fd);
                /* qemu-ga's texts: clients show them as they are */
                if (errsv == ENOTTY || errsv == EOPNOTSUPP)
                        msg = g_strdup ("trim not supported");
                else
                        msg = g_strdup_printf ("failed to trim: %s", g_strerror (errsv));
                json_object_set_string_member (res, "error", msg);
                return res;
        }
        close (fd);
        json_object_set_int_member (res, "minimum", (gint64) r.minlen);
        json_object_set_int_member (res, "trimmed", (gint64) r.len);
        return res;
}

/* Worker. FITRIM can take minutes on a large disk: the host leaving stops it between mounts. */
JsonNode *
phx_storage_fstrim (gboolean has_minimum, gint64 minimum, GCancellable *cancellable, GError **error)
{
        g_autoptr(GArray) mounts = phx_storage_mounts (error);
        JsonArray *paths;
        JsonObject *out;

        if (mounts == NULL)
                return NULL;
        paths = json_array_sized_new (mounts->len);
        for (guint i = mounts->len; i > 0; i--) {
                const PhxStorageMount *m = &g_array_index (mounts, PhxStorageMount, i - 1);

                if (g_cancellable_set_error_if_cancelled (cancellable, error)) {
                        json_array_unref (paths);
                        return NULL;
                }
                json_array_add_object_element (paths, trim_one (m->mountpoint, has_minimum, minimum));
        }
        out = json_object_new ();
        json_object_set_array_member (out, "paths", paths);
        return json_node_init_object (json_node_alloc (), out);
}
