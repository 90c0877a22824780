/* phoenix-ga-client — the host-side command line for phoenix-ga: one subcommand per
 * protocol command, readable output (or the raw reply with --json), errors as
 * "phoenix-ga-client: MESSAGE (errno NAME)" and a non-zero exit status. */
#define G_LOG_DOMAIN "phoenix-ga-client"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client-conn.h"
#include "phx-base64.h"
#include "phx-error.h"
#include "phx-limits.h"

#define CHUNK ((gint64) 16 * 1024 * 1024)

typedef struct {
        ClientConn *conn;
        gboolean json;
        int argc;
        char **argv; /* the subcommand's arguments, argv[0] is its name */
} Ctx;

typedef gboolean (*SubFunc) (Ctx *ctx, GError **error);

static JsonObject *
args_new (void)
{
        return json_object_new ();
}

static gboolean
usage_error (GError **error, const char *usage)
{
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "usage: phoenix-ga-client %s", usage);
        return FALSE;
}

/* Runs a command; with --json prints the raw reply instead of handing back the value. */
static JsonNode *
run (Ctx *ctx, const char *execute, JsonObject *arguments, GError **error)
{
        if (ctx->json) {
                g_autofree char *raw = client_conn_call_raw (ctx->conn, execute, arguments, error);
                if (raw != NULL)
                        g_print ("%s\n", raw);
                return raw != NULL ? json_node_new (JSON_NODE_NULL) : NULL;
        }
        return client_conn_call (ctx->conn, execute, arguments, error);
}

static void
print_json (JsonNode *node)
{
        g_autofree char *text = json_to_string (node, TRUE);
        g_print ("%s\n", text);
}

static gboolean
parse_octal (const char *text, gint64 *out)
{
        guint64 v;

        if (!g_ascii_string_to_unsigned (text, 8, 0, 07777, &v, NULL))
                return FALSE;
        *out = (gint64) v;
        return TRUE;
}

static gboolean
parse_owner (const char *text, gint64 *uid, gint64 *gid)
{
        g_auto(GStrv) parts = g_strsplit (text, ":", 2);
        gint64 u, g;

        if (g_strv_length (parts) != 2 || !g_ascii_string_to_signed (parts[0], 10, -1, G_MAXUINT32 - 1, &u, NULL) ||
            !g_ascii_string_to_signed (parts[1], 10, -1, G_MAXUINT32 - 1, &g, NULL))
                return FALSE;
        *uid = u;
        *gid = g;
        return TRUE;
}

static gboolean
sub_simple (Ctx *ctx, const char *execute, GError **error)
{
        g_autoptr(JsonNode) ret = run (ctx, execute, NULL, error);

        if (ret == NULL)
                return FALSE;
        if (!ctx->json)
                print_json (ret);
        return TRUE;
}

static gboolean sub_ping (Ctx *c, GError **e) { return sub_simple (c, "ping", e); }
static gboolean sub_freeze (Ctx *c, GError **e) { return sub_simple (c, "fs-freeze", e); }
static gboolean sub_thaw (Ctx *c, GError **e) { return sub_simple (c, "fs-unfreeze", e); }
static gboolean sub_freeze_status (Ctx *c, GError **e) { return sub_simple (c, "get-freeze-status", e); }
static gboolean sub_shutdown (Ctx *c, GError **e) { return sub_simple (c, "agent-shutdown", e); }

static gboolean
sub_commands (Ctx *ctx, GError **error)
{
        g_autoptr(JsonNode) ret = run (ctx, "get-commands", NULL, error);

        if (ret == NULL)
                return FALSE;
        if (!ctx->json) {
                JsonArray *arr = json_node_get_array (ret);
                for (guint i = 0; i < json_array_get_length (arr); i++)
                        g_print ("%s\n", json_array_get_string_element (arr, i));
        }
        return TRUE;
}

static gboolean
sub_call (Ctx *ctx, GError **error)
{
        g_autoptr(JsonNode) args = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc < 2 || ctx->argc > 3)
                return usage_error (error, "call NAME [JSON-ARGUMENTS]");
        if (ctx->argc == 3) {
                args = json_from_string (ctx->argv[2], error);
                if (args == NULL || !JSON_NODE_HOLDS_OBJECT (args)) {
                        if (error != NULL && *error == NULL)
                                usage_error (error, "call NAME [JSON-ARGUMENTS]  (arguments must be a JSON object)");
                        return FALSE;
                }
        }
        ret = run (ctx, ctx->argv[1], args != NULL ? json_node_get_object (args) : NULL, error);
        if (ret == NULL)
                return FALSE;
        if (!ctx->json)
                print_json (ret);
        return TRUE;
}

static JsonObject *
path_args (const char *path)
{
        JsonObject *a = args_new ();

        json_object_set_string_member (a, "path", path);
        return a;
}

static gboolean
sub_hash (Ctx *ctx, GError **error)
{
        const char *algo = "sha256";
        const char *path;
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc == 4 && g_str_equal (ctx->argv[1], "-a")) {
                algo = ctx->argv[2];
                path = ctx->argv[3];
        } else if (ctx->argc == 2) {
                path = ctx->argv[1];
        } else {
                return usage_error (error, "hash [-a md5|sha1|sha256|sha512] PATH");
        }
        a = path_args (path);
        json_object_set_string_member (a, "algorithm", algo);
        ret = run (ctx, "get-file-hash", a, error);
        if (ret != NULL && !ctx->json)
                g_print ("%s  %s\n", json_node_get_string (ret), path);
        return ret != NULL;
}

static gboolean
sub_md5 (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 2)
                return usage_error (error, "md5 PATH");
        a = path_args (ctx->argv[1]);
        ret = run (ctx, "get-file-md5sum", a, error);
        if (ret != NULL && !ctx->json)
                g_print ("%s  %s\n", json_node_get_string (ret), ctx->argv[1]);
        return ret != NULL;
}

static char *
mode_string (gint64 mode)
{
        const char *types = "?pc?d?b?-?l?s???";
        char s[11];

        s[0] = types[(mode >> 12) & 15];
        for (int i = 0; i < 9; i++)
                s[1 + i] = (mode & (0400 >> i)) ? "rwxrwxrwx"[i] : '-';
        s[10] = '\0';
        return g_strdup (s);
}

static void
print_entry (JsonObject *entry)
{
        JsonObject *st = json_object_get_object_member (entry, "stat");
        g_autofree char *mode = mode_string (json_object_get_int_member (st, "Mode"));
        time_t mtime = (time_t) json_object_get_int_member (json_object_get_object_member (st, "Mtim"), "Sec");
        char when[32];

        strftime (when, sizeof when, "%Y-%m-%d %H:%M", localtime (&mtime));
        g_print ("%s %3" G_GINT64_FORMAT " %5" G_GINT64_FORMAT " %5" G_GINT64_FORMAT " %12" G_GINT64_FORMAT " %s %s\n",
                 mode, json_object_get_int_member (st, "Nlink"), json_object_get_int_member (st, "Uid"),
                 json_object_get_int_member (st, "Gid"), json_object_get_int_member (st, "Size"), when,
                 json_object_get_string_member (entry, "name"));
}

static gboolean
sub_stat (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 2)
                return usage_error (error, "stat PATH");
        a = path_args (ctx->argv[1]);
        ret = run (ctx, "file-stat", a, error);
        if (ret != NULL && !ctx->json)
                print_entry (json_node_get_object (ret));
        return ret != NULL;
}

static gboolean
sub_ls (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 2)
                return usage_error (error, "ls PATH");
        a = path_args (ctx->argv[1]);
        ret = run (ctx, "directory-list", a, error);
        if (ret != NULL && !ctx->json) {
                JsonArray *arr = json_node_get_array (ret);
                for (guint i = 0; i < json_array_get_length (arr); i++)
                        print_entry (json_array_get_object_element (arr, i));
        }
        return ret != NULL;
}

static gboolean
sub_mkdir (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;
        gint64 perm = 0755;

        if (ctx->argc == 4 && g_str_equal (ctx->argv[1], "-m")) {
                if (!parse_octal (ctx->argv[2], &perm))
                        return usage_error (error, "mkdir [-m OCTAL] PATH  (mode like 0755)");
        } else if (ctx->argc != 2) {
                return usage_error (error, "mkdir [-m OCTAL] PATH");
        }
        a = path_args (ctx->argv[ctx->argc - 1]);
        json_object_set_int_member (a, "perm", perm);
        ret = run (ctx, "directory-create", a, error);
        return ret != NULL;
}

static gboolean
sub_chmod (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;
        gint64 perm;

        if (ctx->argc != 3 || !parse_octal (ctx->argv[1], &perm))
                return usage_error (error, "chmod OCTAL PATH");
        a = path_args (ctx->argv[2]);
        json_object_set_int_member (a, "perm", perm);
        ret = run (ctx, "file-chmod", a, error);
        return ret != NULL;
}

static gboolean
sub_chown (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;
        gint64 uid, gid;

        if (ctx->argc != 3 || !parse_owner (ctx->argv[1], &uid, &gid))
                return usage_error (error, "chown UID:GID PATH");
        a = path_args (ctx->argv[2]);
        json_object_set_int_member (a, "uid", uid);
        json_object_set_int_member (a, "gid", gid);
        ret = run (ctx, "file-chown", a, error);
        return ret != NULL;
}

/* A progress line with rate and ETA, on a terminal only: scripts piping stderr see nothing. */
typedef struct {
        gboolean on;
        gint64 total, done, start, last;
        const char *what;
} Progress;

static void
progress_init (Progress *p, const char *what, gint64 total)
{
        p->on = isatty (STDERR_FILENO);
        p->what = what;
        p->total = total;
        p->done = 0;
        p->start = p->last = g_get_monotonic_time ();
}

static void
progress_update (Progress *p, gint64 bytes, gboolean final)
{
        gint64 now = g_get_monotonic_time ();
        double secs, rate;

        p->done += bytes;
        if (!p->on || (!final && now - p->last < G_USEC_PER_SEC / 10))
                return;
        p->last = now;
        secs = MAX (now - p->start, 1) / (double) G_USEC_PER_SEC;
        rate = p->done / secs;
        g_printerr ("\r%s  %5.1f%%  %8.1f MiB  %7.1f MiB/s  ETA %3.0f s ", p->what,
                    p->total > 0 ? 100.0 * p->done / p->total : 100.0, p->done / 1048576.0, rate / 1048576.0,
                    rate > 0 && p->total > p->done ? (p->total - p->done) / rate : 0.0);
        if (final)
                g_printerr ("\n");
}

/* Streams a guest file to `out`; returns the bytes' sha256 so the caller can verify. */
static char *
read_guest_file (Ctx *ctx, const char *path, FILE *out, Progress *progress, GError **error)
{
        g_autoptr(JsonObject) a = path_args (path);
        g_autoptr(JsonNode) h = client_conn_call (ctx->conn, "file-open", a, error);
        g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
        gint64 handle;

        if (h == NULL)
                return NULL;
        handle = json_node_get_int (h);
        for (;;) {
                g_autoptr(JsonObject) ra = args_new ();
                g_autoptr(JsonNode) r = NULL;
                g_autoptr(GBytes) data = NULL;
                const char *b64;
                JsonObject *ro;
                gsize len;
                const guint8 *bytes;

                json_object_set_int_member (ra, "handle_id", handle);
                json_object_set_int_member (ra, "count", PHX_READ_COUNT_MAX);
                r = client_conn_call (ctx->conn, "file-read", ra, error);
                if (r == NULL)
                        return NULL;
                ro = json_node_get_object (r);
                b64 = json_object_get_string_member (ro, "bufb64");
                data = phx_base64_decode (b64, strlen (b64), error);
                if (data == NULL)
                        return NULL;
                bytes = g_bytes_get_data (data, &len);
                g_checksum_update (sum, bytes, len);
                if (progress != NULL)
                        progress_update (progress, len, json_object_get_boolean_member (ro, "eof"));
                if (len > 0 && fwrite (bytes, 1, len, out) != len) {
                        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "write: %s", g_strerror (errno));
                        return NULL;
                }
                if (json_object_get_boolean_member (ro, "eof"))
                        break;
        }
        return g_strdup (g_checksum_get_string (sum));
}

static gboolean
verify (Ctx *ctx, const char *guest_path, const char *local_sha256, GError **error)
{
        g_autoptr(JsonObject) a = path_args (guest_path);
        g_autoptr(JsonNode) ret = NULL;

        json_object_set_string_member (a, "algorithm", "sha256");
        ret = client_conn_call (ctx->conn, "get-file-hash", a, error);
        if (ret == NULL)
                return FALSE;
        if (!g_str_equal (json_node_get_string (ret), local_sha256)) {
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: sha256 differs after the transfer", guest_path);
                return FALSE;
        }
        return TRUE;
}

static gboolean
sub_cat (Ctx *ctx, GError **error)
{
        g_autofree char *sum = NULL;

        if (ctx->argc != 2)
                return usage_error (error, "cat PATH");
        sum = read_guest_file (ctx, ctx->argv[1], stdout, NULL, error);
        fflush (stdout);
        return sum != NULL;
}

static gboolean
sub_get (Ctx *ctx, GError **error)
{
        g_autofree char *local = NULL;
        g_autofree char *tmp = NULL;
        g_autofree char *sum = NULL;
        g_autoptr(JsonObject) sa = NULL;
        g_autoptr(JsonNode) st = NULL;
        Progress progress;
        FILE *out;

        if (ctx->argc != 2 && ctx->argc != 3)
                return usage_error (error, "get GUEST_PATH [LOCAL]");
        sa = path_args (ctx->argv[1]);
        st = client_conn_call (ctx->conn, "file-stat", sa, error);
        if (st == NULL)
                return FALSE;
        progress_init (&progress, "get", json_object_get_int_member (
                               json_object_get_object_member (json_node_get_object (st), "stat"), "Size"));
        local = ctx->argc == 3 ? g_strdup (ctx->argv[2]) : g_path_get_basename (ctx->argv[1]);
        /* written aside and renamed once verified: a failed get leaves no half file */
        tmp = g_strdup_printf ("%s.part", local);
        out = fopen (tmp, "wb");
        if (out == NULL) {
                g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", tmp, g_strerror (errno));
                return FALSE;
        }
        sum = read_guest_file (ctx, ctx->argv[1], out, &progress, error);
        if (fclose (out) != 0 && sum != NULL) {
                g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", tmp, g_strerror (errno));
                g_clear_pointer (&sum, g_free);
        }
        if (sum == NULL || !verify (ctx, ctx->argv[1], sum, error) || rename (tmp, local) != 0) {
                if (error != NULL && *error == NULL)
                        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", local, g_strerror (errno));
                remove (tmp);
                return FALSE;
        }
        return TRUE;
}

static gboolean
sub_put (Ctx *ctx, GError **error)
{
        const char *local = NULL, *guest = NULL, *owner = NULL;
        gint64 perm = 0644, uid = 0, gid = 0, handle;
        g_autoptr(GMappedFile) map = NULL;
        g_autoptr(JsonObject) oa = NULL;
        g_autoptr(JsonNode) h = NULL;
        g_autofree char *sum = NULL;
        const guint8 *data;
        gsize size, off = 0;
        Progress progress;

        for (int i = 1; i < ctx->argc; i++) {
                if (g_str_equal (ctx->argv[i], "--mode") && i + 1 < ctx->argc) {
                        if (!parse_octal (ctx->argv[++i], &perm))
                                return usage_error (error, "put LOCAL GUEST_PATH [--mode OCTAL] [--owner UID:GID]");
                } else if (g_str_equal (ctx->argv[i], "--owner") && i + 1 < ctx->argc) {
                        owner = ctx->argv[++i];
                        if (!parse_owner (owner, &uid, &gid))
                                return usage_error (error, "put LOCAL GUEST_PATH [--mode OCTAL] [--owner UID:GID]");
                } else if (local == NULL) {
                        local = ctx->argv[i];
                } else if (guest == NULL) {
                        guest = ctx->argv[i];
                } else {
                        return usage_error (error, "put LOCAL GUEST_PATH [--mode OCTAL] [--owner UID:GID]");
                }
        }
        if (local == NULL || guest == NULL)
                return usage_error (error, "put LOCAL GUEST_PATH [--mode OCTAL] [--owner UID:GID]");
        map = g_mapped_file_new (local, FALSE, error);
        if (map == NULL)
                return FALSE;
        data = (const guint8 *) g_mapped_file_get_contents (map);
        size = g_mapped_file_get_length (map);
        sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data != NULL ? data : (const guint8 *) "", size);

        /* atomic: the guest file is replaced only once the last chunk is in */
        oa = path_args (guest);
        json_object_set_string_member (oa, "mode", "w");
        json_object_set_int_member (oa, "perm", perm);
        json_object_set_boolean_member (oa, "atomic", TRUE);
        h = client_conn_call (ctx->conn, "file-open", oa, error);
        if (h == NULL)
                return FALSE;
        handle = json_node_get_int (h);
        progress_init (&progress, "put", (gint64) size);
        do {
                gsize n = MIN ((gsize) CHUNK, size - off);
                g_autofree char *b64 = phx_base64_encode (data + off, n);
                g_autoptr(JsonObject) wa = args_new ();
                g_autoptr(JsonNode) r = NULL;

                json_object_set_int_member (wa, "handle_id", handle);
                json_object_set_string_member (wa, "bufb64", b64);
                json_object_set_boolean_member (wa, "eof", off + n == size);
                r = client_conn_call (ctx->conn, "file-write", wa, error);
                if (r == NULL)
                        return FALSE;
                off += n;
                progress_update (&progress, (gint64) n, off == size);
        } while (off < size);
        if (owner != NULL) {
                g_autoptr(JsonObject) ca = path_args (guest);
                g_autoptr(JsonNode) r = NULL;
                json_object_set_int_member (ca, "uid", uid);
                json_object_set_int_member (ca, "gid", gid);
                if ((r = client_conn_call (ctx->conn, "file-chown", ca, error)) == NULL)
                        return FALSE;
        }
        return verify (ctx, guest, sum, error);
}

static char *
human_kib (gint64 kib)
{
        if (kib >= 1024 * 1024)
                return g_strdup_printf ("%.1f GiB", kib / (1024.0 * 1024.0));
        return g_strdup_printf ("%.1f MiB", kib / 1024.0);
}

static gboolean
sub_info (Ctx *ctx, GError **error)
{
        g_autoptr(JsonNode) ret = run (ctx, "sysinfo", NULL, error);
        JsonObject *o, *u, *l, *ram, *swap;
        JsonArray *users, *disks;
        gint64 up;
        g_autofree char *total = NULL, *avail = NULL, *stotal = NULL, *sfree = NULL;

        if (ret == NULL)
                return FALSE;
        if (ctx->json)
                return TRUE;
        o = json_node_get_object (ret);
        u = json_object_get_object_member (o, "uname");
        l = json_object_get_object_member (o, "loadavg");
        ram = json_object_get_object_member (o, "ram");
        swap = json_object_get_object_member (o, "swap");
        up = json_object_get_int_member (o, "uptime");
        total = human_kib (json_object_get_int_member (ram, "total"));
        avail = human_kib (json_object_get_int_member (ram, "available"));
        stotal = human_kib (json_object_get_int_member (swap, "total"));
        sfree = human_kib (json_object_get_int_member (swap, "free"));
        g_print ("host:    %s (%s %s %s)\n", json_object_get_string_member (u, "nodename"),
                 json_object_get_string_member (u, "sysname"), json_object_get_string_member (u, "release"),
                 json_object_get_string_member (u, "machine"));
        g_print ("uptime:  %" G_GINT64_FORMAT " days %" G_GINT64_FORMAT " hours %" G_GINT64_FORMAT " minutes\n",
                 up / 86400, up % 86400 / 3600, up % 3600 / 60);
        g_print ("load:    %.2f %.2f %.2f\n", json_object_get_double_member (l, "1m"),
                 json_object_get_double_member (l, "5m"), json_object_get_double_member (l, "15m"));
        g_print ("memory:  %s total, %s available\n", total, avail);
        g_print ("swap:    %s total, %s free\n", stotal, sfree);
        users = json_object_get_array_member (o, "users");
        g_print ("users:   %u\n", json_array_get_length (users));
        for (guint i = 0; i < json_array_get_length (users); i++) {
                JsonObject *x = json_array_get_object_element (users, i);
                g_print ("  %s on %s from %s\n", json_object_get_string_member (x, "name"),
                         json_object_get_string_member (x, "device"), json_object_get_string_member (x, "host"));
        }
        disks = json_object_get_array_member (o, "disks");
        for (guint i = 0; i < json_array_get_length (disks); i++) {
                JsonObject *d = json_array_get_object_element (disks, i);
                gint64 t = json_object_get_int_member (d, "size_total");
                gint64 used = json_object_get_int_member (d, "size_used");
                g_autofree char *ts = human_kib (t);
                if (json_object_get_boolean_member (d, "is_mounted"))
                        g_print ("disk:    %s on %s, %s, %" G_GINT64_FORMAT "%% used\n",
                                 json_object_get_string_member (d, "name"), json_object_get_string_member (d, "mountpoint"),
                                 ts, t > 0 ? used * 100 / t : 0);
                else
                        g_print ("disk:    %s (not mounted)\n", json_object_get_string_member (d, "name"));
        }
        return TRUE;
}

static gboolean
sub_ifaces (Ctx *ctx, GError **error)
{
        g_autoptr(JsonNode) ret = run (ctx, "get-netifaces", NULL, error);
        JsonArray *arr;

        if (ret == NULL)
                return FALSE;
        if (ctx->json)
                return TRUE;
        arr = json_node_get_array (ret);
        g_print ("%-5s %-16s %-17s %-6s %-32s %s\n", "INDEX", "NAME", "HWADDR", "MTU", "FLAGS", "ADDRESSES");
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonObject *x = json_array_get_object_element (arr, i);
                JsonArray *ips = json_object_get_array_member (x, "ips");
                g_autoptr(GString) list = g_string_new (NULL);
                for (guint j = 0; j < json_array_get_length (ips); j++)
                        g_string_append_printf (list, "%s%s", j ? " " : "", json_array_get_string_element (ips, j));
                g_print ("%-5" G_GINT64_FORMAT " %-16s %-17s %-6" G_GINT64_FORMAT " %-32s %s\n",
                         json_object_get_int_member (x, "index"), json_object_get_string_member (x, "name"),
                         json_object_get_string_member (x, "hwaddr"), json_object_get_int_member (x, "mtu"),
                         json_object_get_string_member (x, "flags"), list->str);
        }
        return TRUE;
}

static gboolean
sub_routes (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = args_new ();
        g_autoptr(JsonNode) ret = NULL;
        JsonArray *arr;

        if (ctx->argc > 2 || (ctx->argc == 2 && !g_str_equal (ctx->argv[1], "-4") && !g_str_equal (ctx->argv[1], "-6")))
                return usage_error (error, "routes [-4|-6]");
        json_object_set_int_member (a, "family", ctx->argc == 1 ? 0 : g_str_equal (ctx->argv[1], "-4") ? 2 : 10);
        ret = run (ctx, "get-route-list", a, error);
        if (ret == NULL)
                return FALSE;
        if (ctx->json)
                return TRUE;
        arr = json_node_get_array (ret);
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonObject *r = json_array_get_object_element (arr, i);
                JsonObject *dst = json_object_get_object_member (r, "dst");
                const char *ip = json_object_get_string_member (dst, "ip");
                const char *gw = json_object_get_string_member (r, "gateway");
                const char *src = json_object_get_string_member (r, "src");
                g_autofree char *d = ip[0] == '\0' ? g_strdup ("default")
                                                   : g_strdup_printf ("%s/%" G_GINT64_FORMAT, ip,
                                                                      json_object_get_int_member (r, "prefixlen"));
                g_print ("%s%s%s dev %s scope %" G_GINT64_FORMAT "%s%s metric %" G_GINT64_FORMAT "\n", d,
                         gw[0] ? " via " : "", gw, json_object_get_string_member (r, "ifname"),
                         json_object_get_int_member (r, "scope"), src[0] ? " src " : "", src,
                         json_object_get_int_member (r, "metric"));
        }
        return TRUE;
}

/* addr add|del CIDR dev IFNAME */
static gboolean
sub_addr (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = args_new ();
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 5 || !g_str_equal (ctx->argv[3], "dev") ||
            (!g_str_equal (ctx->argv[1], "add") && !g_str_equal (ctx->argv[1], "del")))
                return usage_error (error, "addr add|del CIDR dev IFNAME");
        json_object_set_string_member (a, "ip", ctx->argv[2]);
        json_object_set_string_member (a, "ifname", ctx->argv[4]);
        ret = run (ctx, g_str_equal (ctx->argv[1], "add") ? "ipaddr-add" : "ipaddr-del", a, error);
        return ret != NULL;
}

/* link up|down IFNAME */
static gboolean
sub_link (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = args_new ();
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 3 || (!g_str_equal (ctx->argv[1], "up") && !g_str_equal (ctx->argv[1], "down")))
                return usage_error (error, "link up|down IFNAME");
        json_object_set_string_member (a, "ifname", ctx->argv[2]);
        ret = run (ctx, g_str_equal (ctx->argv[1], "up") ? "net-iface-up" : "net-iface-down", a, error);
        return ret != NULL;
}

/* route add|del DST dev IFNAME [via GATEWAY] [src ADDR] [scope N] */
static gboolean
sub_route (Ctx *ctx, GError **error)
{
        static const char usage[] = "route add|del DST dev IFNAME [via GATEWAY] [src ADDR] [scope N]";
        g_autoptr(JsonObject) a = args_new ();
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc < 5 || (!g_str_equal (ctx->argv[1], "add") && !g_str_equal (ctx->argv[1], "del")))
                return usage_error (error, usage);
        json_object_set_string_member (a, "dst", ctx->argv[2]);
        for (int i = 3; i < ctx->argc; i += 2) {
                const char *key = ctx->argv[i];
                const char *val = i + 1 < ctx->argc ? ctx->argv[i + 1] : NULL;
                gint64 scope;
                if (val == NULL)
                        return usage_error (error, usage);
                if (g_str_equal (key, "dev"))
                        json_object_set_string_member (a, "ifname", val);
                else if (g_str_equal (key, "via"))
                        json_object_set_string_member (a, "gateway", val);
                else if (g_str_equal (key, "src"))
                        json_object_set_string_member (a, "src", val);
                else if (g_str_equal (key, "scope") && g_ascii_string_to_signed (val, 10, 0, 255, &scope, NULL))
                        json_object_set_int_member (a, "scope", scope);
                else
                        return usage_error (error, usage);
        }
        if (!json_object_has_member (a, "ifname"))
                return usage_error (error, usage);
        ret = run (ctx, g_str_equal (ctx->argv[1], "add") ? "route-add" : "route-del", a, error);
        return ret != NULL;
}

/* shell: raw JSON lines in, replies pretty-printed (bufb64 error messages decoded). */
static gboolean
sub_shell (Ctx *ctx, GError **error)
{
        g_autoptr(GIOChannel) in = g_io_channel_unix_new (STDIN_FILENO);
        gboolean tty = isatty (STDIN_FILENO);

        for (;;) {
                g_autofree char *line = NULL;
                g_autofree char *reply = NULL;
                g_autoptr(JsonNode) node = NULL;
                gsize term;

                if (tty)
                        g_print ("phoenix-ga> ");
                if (g_io_channel_read_line (in, &line, NULL, &term, NULL) != G_IO_STATUS_NORMAL)
                        break;
                line[term] = '\0';
                g_strstrip (line);
                if (line[0] == '\0')
                        continue;
                reply = client_conn_send_line (ctx->conn, line, error);
                if (reply == NULL)
                        return FALSE;
                node = json_from_string (reply, NULL);
                if (node == NULL) {
                        g_print ("%s\n", reply);
                        continue;
                }
                print_json (node);
                if (JSON_NODE_HOLDS_OBJECT (node) && json_object_has_member (json_node_get_object (node), "error")) {
                        JsonObject *e = json_object_get_object_member (json_node_get_object (node), "error");
                        const char *b64 = json_object_get_string_member_with_default (e, "bufb64", "");
                        g_autoptr(GBytes) msg = phx_base64_decode (b64, strlen (b64), NULL);
                        if (msg != NULL)
                                g_print ("# %.*s\n", (int) g_bytes_get_size (msg), (const char *) g_bytes_get_data (msg, NULL));
                }
        }
        return TRUE;
}

static const struct {
        const char *name;
        SubFunc func;
        const char *help;
} subcommands[] = {
        { "ping", sub_ping, "the agent's version" },
        { "commands", sub_commands, "the commands the agent accepts" },
        { "call", sub_call, "NAME [JSON-ARGUMENTS]: any command, raw" },
        { "stat", sub_stat, "PATH" },
        { "ls", sub_ls, "PATH" },
        { "cat", sub_cat, "PATH" },
        { "get", sub_get, "GUEST_PATH [LOCAL]" },
        { "put", sub_put, "LOCAL GUEST_PATH [--mode OCTAL] [--owner UID:GID]" },
        { "mkdir", sub_mkdir, "[-m OCTAL] PATH" },
        { "chmod", sub_chmod, "OCTAL PATH" },
        { "chown", sub_chown, "UID:GID PATH" },
        { "md5", sub_md5, "PATH" },
        { "hash", sub_hash, "[-a ALGO] PATH" },
        { "freeze", sub_freeze, "freeze the guest's filesystems" },
        { "thaw", sub_thaw, "thaw them" },
        { "freeze-status", sub_freeze_status, "whether they are frozen" },
        { "shutdown-agent", sub_shutdown, "stop the agent" },
        { "info", sub_info, "system information, readable" },
        { "shell", sub_shell, "raw JSON lines in, pretty replies out" },
        { "ifaces", sub_ifaces, "network interfaces, a table" },
        { "addr", sub_addr, "add|del CIDR dev IFNAME" },
        { "link", sub_link, "up|down IFNAME" },
        { "routes", sub_routes, "[-4|-6]" },
        { "route", sub_route, "add|del DST dev IFNAME [via GATEWAY] [src ADDR] [scope N]" },
};

static void
print_error (const GError *error)
{
        if (error->domain == PHX_ERROR && error->code > 0)
                g_printerr ("phoenix-ga-client: %s (errno %s)\n", error->message, strerrorname_np (error->code));
        else
                g_printerr ("phoenix-ga-client: %s\n", error->message);
}

int
main (int argc, char **argv)
{
        g_autofree char *socket_path = NULL;
        gboolean json = FALSE;
        gint timeout = 30;
        const GOptionEntry entries[] = {
                { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
                  "The agent's socket (default: $PHOENIX_GA_SOCKET)", "PATH" },
                { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the raw reply", NULL },
                { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Seconds to wait for the agent (default 30)", "SECONDS" },
                { NULL }
        };
        g_autoptr(GOptionContext) context = g_option_context_new ("COMMAND [ARGS]");
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) desc = g_string_new ("Commands:\n");
        Ctx ctx = { 0 };

        for (guint i = 0; i < G_N_ELEMENTS (subcommands); i++)
                g_string_append_printf (desc, "  %-15s %s\n", subcommands[i].name, subcommands[i].help);
        g_option_context_add_main_entries (context, entries, NULL);
        g_option_context_set_description (context, desc->str);
        /* options of the subcommand (put --mode, mkdir -m) are its own */
        g_option_context_set_strict_posix (context, TRUE);
        if (!g_option_context_parse (context, &argc, &argv, &error)) {
                g_printerr ("phoenix-ga-client: %s\n", error->message);
                return 2;
        }
        if (argc < 2) {
                g_printerr ("phoenix-ga-client: no command given (see --help)\n");
                return 2;
        }
        if (socket_path == NULL)
                socket_path = g_strdup (g_getenv ("PHOENIX_GA_SOCKET"));
        if (socket_path == NULL) {
                g_printerr ("phoenix-ga-client: no socket: use --socket or set PHOENIX_GA_SOCKET\n");
                return 2;
        }
        for (guint i = 0; i < G_N_ELEMENTS (subcommands); i++) {
                if (!g_str_equal (argv[1], subcommands[i].name))
                        continue;
                ctx.json = json;
                ctx.argc = argc - 1;
                ctx.argv = argv + 1;
                ctx.conn = client_conn_open (socket_path, (guint) MAX (timeout, 1), &error);
                if (ctx.conn == NULL || !subcommands[i].func (&ctx, &error)) {
                        print_error (error);
                        client_conn_free (ctx.conn);
                        return g_error_matches (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE) ? 2 : 1;
                }
                client_conn_free (ctx.conn);
                return 0;
        }
        g_printerr ("phoenix-ga-client: unknown command '%s' (see --help)\n", argv[1]);
        return 2;
}
