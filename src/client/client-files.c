/* client-files.c — the file subcommands: stat, ls, cat, get, put, mkdir, chmod, chown,
 * md5, hash. Transfers are verified with get-file-hash; put is atomic on the guest. */
#define G_LOG_DOMAIN "client-files"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "phx-base64.h"
#include "client-limits.h"

gboolean
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
                return client_usage_error (error, "hash [-a md5|sha1|sha256|sha512] PATH");
        }
        a = client_path_args (path);
        json_object_set_string_member (a, "algorithm", algo);
        ret = client_run (ctx, "get-file-hash", a, error);
        if (ret != NULL && !ctx->json)
                g_print ("%s  %s\n", json_node_get_string (ret), path);
        return ret != NULL;
}

gboolean
sub_md5 (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 2)
                return client_usage_error (error, "md5 PATH");
        a = client_path_args (ctx->argv[1]);
        ret = client_run (ctx, "get-file-md5sum", a, error);
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

gboolean
sub_stat (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 2)
                return client_usage_error (error, "stat PATH");
        a = client_path_args (ctx->argv[1]);
        ret = client_run (ctx, "file-stat", a, error);
        if (ret != NULL && !ctx->json)
                print_entry (json_node_get_object (ret));
        return ret != NULL;
}

gboolean
sub_ls (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 2)
                return client_usage_error (error, "ls PATH");
        a = client_path_args (ctx->argv[1]);
        ret = client_run (ctx, "directory-list", a, error);
        if (ret != NULL && !ctx->json) {
                JsonArray *arr = json_node_get_array (ret);
                for (guint i = 0; i < json_array_get_length (arr); i++)
                        print_entry (json_array_get_object_element (arr, i));
        }
        return ret != NULL;
}

gboolean
sub_mkdir (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;
        gint64 perm = 0755;

        if (ctx->argc == 4 && g_str_equal (ctx->argv[1], "-m")) {
                if (!client_want_octal ("mkdir", "-m", ctx->argv[2], &perm, error))
                        return FALSE;
        } else if (ctx->argc != 2) {
                return client_usage_error (error, "mkdir [-m OCTAL] PATH");
        }
        a = client_path_args (ctx->argv[ctx->argc - 1]);
        json_object_set_int_member (a, "perm", perm);
        ret = client_run (ctx, "directory-create", a, error);
        return ret != NULL;
}

gboolean
sub_chmod (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;
        gint64 perm;

        if (ctx->argc != 3)
                return client_usage_error (error, "chmod OCTAL PATH");
        if (!client_want_octal ("chmod", _("mode"), ctx->argv[1], &perm, error))
                return FALSE;
        a = client_path_args (ctx->argv[2]);
        json_object_set_int_member (a, "perm", perm);
        ret = client_run (ctx, "file-chmod", a, error);
        return ret != NULL;
}

gboolean
sub_chown (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;
        gint64 uid, gid;

        if (ctx->argc != 3)
                return client_usage_error (error, "chown UID:GID PATH");
        if (!client_want_owner ("chown", ctx->argv[1], &uid, &gid, error))
                return FALSE;
        a = client_path_args (ctx->argv[2]);
        json_object_set_int_member (a, "uid", uid);
        json_object_set_int_member (a, "gid", gid);
        ret = client_run (ctx, "file-chown", a, error);
        return ret != NULL;
}

/* A progress line with rate and ETA, on a terminal only: scripts piping stderr see nothing. */
typedef struct {
        gboolean on;
        gint64 total, done, start, last, end;
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
        if (final)
                p->end = now;
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

/* sha256 on a thread of its own, fed in order, so hashing overlaps the transfer instead of
 * adding to it (hashing costs about as much CPU as the whole transfer path). */
typedef struct {
        GThreadPool *pool; /* one exclusive thread: chunks are hashed in the order given */
        GChecksum *sum;
        GMutex lock;
        GCond done;        /* signalled when a chunk has been hashed */
        guint queued;      /* chunks given and not hashed yet (under lock) */
} Hasher;

static void
hash_chunk (gpointer data, gpointer user_data)
{
        Hasher *h = user_data;
        gsize len;
        const guint8 *bytes = g_bytes_get_data (data, &len);

        g_checksum_update (h->sum, bytes, len);
        g_bytes_unref (data);
        g_mutex_lock (&h->lock);
        h->queued--;
        g_cond_signal (&h->done);
        g_mutex_unlock (&h->lock);
}

static void
hasher_init (Hasher *h)
{
        h->sum = g_checksum_new (G_CHECKSUM_SHA256);
        g_mutex_init (&h->lock);
        g_cond_init (&h->done);
        h->queued = 0;
        h->pool = g_thread_pool_new (hash_chunk, h, 1, TRUE, NULL);
        if (h->pool == NULL) /* no thread to be had: hash inline (hash_chunk runs in push) */
                g_warning (_("hashing without a thread"));
}

static void
hasher_feed (Hasher *h, GBytes *bytes)
{
        g_mutex_lock (&h->lock);
        while (h->queued >= CLIENT_HASH_QUEUE_MAX)
                g_cond_wait (&h->done, &h->lock);
        h->queued++;
        g_mutex_unlock (&h->lock);
        if (h->pool == NULL || !g_thread_pool_push (h->pool, g_bytes_ref (bytes), NULL))
                hash_chunk (g_bytes_ref (bytes), h);
}

/* Waits for the queued chunks; returns the hex digest. */
static char *
hasher_finish (Hasher *h)
{
        char *hex;

        if (h->pool != NULL)
                g_thread_pool_free (g_steal_pointer (&h->pool), FALSE, TRUE);
        hex = g_strdup (g_checksum_get_string (h->sum));
        g_clear_pointer (&h->sum, g_checksum_free);
        g_mutex_clear (&h->lock);
        g_cond_clear (&h->done);
        return hex;
}

static void
print_timing (Ctx *ctx, const Progress *p)
{
        if (ctx->timing)
                g_printerr ("transfer=%.6f verify=%.6f\n", (p->end - p->start) / (double) G_USEC_PER_SEC,
                            (g_get_monotonic_time () - p->end) / (double) G_USEC_PER_SEC);
}

static char *
send_read (Ctx *ctx, gint64 handle, GError **error)
{
        g_autoptr(JsonObject) ra = client_args_new ();

        json_object_set_int_member (ra, "handle_id", handle);
        json_object_set_int_member (ra, "count", PHX_READ_COUNT_MAX);
        return client_conn_send (ctx->conn, "file-read", ra, error);
}

/* Streams a guest file to `out`, feeding `hasher` (if any) so the caller can verify. The
 * next file-read is always sent before the current reply is decoded, hashed and written,
 * so the agent reads and encodes while the client works. */
static gboolean
read_guest_file (Ctx *ctx, const char *path, FILE *out, Hasher *hasher, Progress *progress, GError **error)
{
        g_autoptr(JsonObject) a = client_path_args (path);
        g_autoptr(JsonNode) h = client_conn_call (ctx->conn, "file-open", a, error);
        g_autofree char *next = NULL;
        gint64 handle;

        if (h == NULL)
                return FALSE;
        handle = json_node_get_int (h);
        if ((next = send_read (ctx, handle, error)) == NULL)
                return FALSE;
        for (;;) {
                g_autofree char *tag = g_steal_pointer (&next);
                g_autoptr(JsonNode) r = client_conn_receive (ctx->conn, tag, error);
                g_autoptr(GBytes) data = NULL;
                const char *b64;
                JsonObject *ro;
                gboolean eof;
                gsize len;
                const guint8 *bytes;

                if (r == NULL)
                        return FALSE;
                ro = json_node_get_object (r);
                eof = json_object_get_boolean_member (ro, "eof");
                if (!eof && (next = send_read (ctx, handle, error)) == NULL)
                        return FALSE;
                b64 = json_object_get_string_member (ro, "bufb64");
                data = phx_base64_decode (b64, strlen (b64), error);
                if (data == NULL)
                        return FALSE;
                if (hasher != NULL)
                        hasher_feed (hasher, data);
                bytes = g_bytes_get_data (data, &len);
                if (progress != NULL)
                        progress_update (progress, len, eof);
                if (len > 0 && fwrite (bytes, 1, len, out) != len) {
                        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), _("write: %s"), g_strerror (errno));
                        return FALSE;
                }
                if (eof)
                        return TRUE;
        }
}

/* Asks for the agent's sha256 of a guest file; the answer is collected by verify_receive(). */
static char *
verify_send (Ctx *ctx, const char *guest_path, GError **error)
{
        g_autoptr(JsonObject) a = client_path_args (guest_path);

        json_object_set_string_member (a, "algorithm", "sha256");
        return client_conn_send (ctx->conn, "get-file-hash", a, error);
}

static gboolean
verify_receive (Ctx *ctx, const char *tag, const char *guest_path, const char *local_sha256, GError **error)
{
        g_autoptr(JsonNode) ret = client_conn_receive (ctx->conn, tag, error);

        if (ret == NULL)
                return FALSE;
        if (!g_str_equal (json_node_get_string (ret), local_sha256)) {
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: sha256 differs after the transfer"), guest_path);
                return FALSE;
        }
        return TRUE;
}

static gboolean
verify (Ctx *ctx, const char *guest_path, const char *local_sha256, GError **error)
{
        g_autofree char *tag = verify_send (ctx, guest_path, error);

        return tag != NULL && verify_receive (ctx, tag, guest_path, local_sha256, error);
}

gboolean
sub_cat (Ctx *ctx, GError **error)
{
        gboolean ok;

        if (ctx->argc != 2)
                return client_usage_error (error, "cat PATH");
        ok = read_guest_file (ctx, ctx->argv[1], stdout, NULL, NULL, error);
        fflush (stdout);
        return ok;
}

gboolean
sub_get (Ctx *ctx, GError **error)
{
        g_autofree char *local = NULL;
        g_autofree char *tmp = NULL;
        g_autofree char *sum = NULL;
        g_autofree char *hash_tag = NULL;
        g_autoptr(JsonObject) sa = NULL;
        g_autoptr(JsonNode) st = NULL;
        Progress progress;
        Hasher hasher;
        gboolean ok;
        FILE *out;

        if (ctx->argc != 2 && ctx->argc != 3)
                return client_usage_error (error, "get GUEST_PATH [LOCAL]");
        sa = client_path_args (ctx->argv[1]);
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
        /* The agent hashes the file while it is being read (its hash runs on a worker of its
         * own): the verification costs the guest the same CPU, but no extra wall time at
         * the end. A file that changes during the get fails the comparison either way. */
        hash_tag = verify_send (ctx, ctx->argv[1], error);
        hasher_init (&hasher);
        ok = hash_tag != NULL && read_guest_file (ctx, ctx->argv[1], out, &hasher, &progress, error);
        sum = hasher_finish (&hasher);
        if (fclose (out) != 0 && ok) {
                g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", tmp, g_strerror (errno));
                ok = FALSE;
        }
        if (!ok || !verify_receive (ctx, hash_tag, ctx->argv[1], sum, error) || rename (tmp, local) != 0) {
                if (error != NULL && *error == NULL)
                        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", local, g_strerror (errno));
                remove (tmp);
                return FALSE;
        }
        print_timing (ctx, &progress);
        return TRUE;
}

/* Waits for the reply to a file-write of `n` bytes (file-write answers `true`). */
static gboolean
receive_written (Ctx *ctx, const char *tag, gsize n, gboolean last, Progress *progress, GError **error)
{
        g_autoptr(JsonNode) r = client_conn_receive (ctx->conn, tag, error);

        if (r == NULL)
                return FALSE;
        progress_update (progress, (gint64) n, last);
        return TRUE;
}

#define PUT_USAGE "put LOCAL GUEST_PATH [--mode OCTAL] [--owner UID:GID]"

typedef struct {
        const char *local, *guest, *owner;
        gint64 perm, uid, gid;
} PutArgs;

static gboolean
parse_put_args (Ctx *ctx, PutArgs *a, GError **error)
{
        *a = (PutArgs) { .perm = 0644 };
        for (int i = 1; i < ctx->argc; i++) {
                if (g_str_equal (ctx->argv[i], "--mode") || g_str_equal (ctx->argv[i], "--owner")) {
                        if (i + 1 == ctx->argc)
                                return client_bad_argument (error, "put", _("%s needs a value"), ctx->argv[i]);
                        if (g_str_equal (ctx->argv[i], "--mode") &&
                            !client_want_octal ("put", "--mode", ctx->argv[i + 1], &a->perm, error))
                                return FALSE;
                        if (g_str_equal (ctx->argv[i], "--owner")) {
                                a->owner = ctx->argv[i + 1];
                                if (!client_want_owner ("put", a->owner, &a->uid, &a->gid, error))
                                        return FALSE;
                        }
                        i++;
                } else if (g_str_has_prefix (ctx->argv[i], "--")) {
                        return client_bad_argument (error, "put", _("unknown option '%s' (%s)"), ctx->argv[i],
                                                    PUT_USAGE);
                } else if (a->local == NULL) {
                        a->local = ctx->argv[i];
                } else if (a->guest == NULL) {
                        a->guest = ctx->argv[i];
                } else {
                        return client_bad_argument (error, "put", _("one argument too many: '%s' (%s)"), ctx->argv[i],
                                                    PUT_USAGE);
                }
        }
        if (a->local == NULL || a->guest == NULL)
                return client_usage_error (error, PUT_USAGE);
        return TRUE;
}

/* Atomic: the guest file is replaced only once the last chunk is in. Returns the handle, or -1. */
static gint64
open_atomic (Ctx *ctx, const PutArgs *a, GError **error)
{
        g_autoptr(JsonObject) oa = client_path_args (a->guest);
        g_autoptr(JsonNode) h = NULL;

        json_object_set_string_member (oa, "mode", "w");
        json_object_set_int_member (oa, "perm", a->perm);
        json_object_set_boolean_member (oa, "atomic", TRUE);
        h = client_conn_call (ctx->conn, "file-open", oa, error);
        return h != NULL ? json_node_get_int (h) : -1;
}

/* Sends the file in chunks with one write always in flight: the next chunk is encoded and
 * sent while the agent decodes and writes the previous one (the handle's lane keeps them in
 * order). Every chunk also goes to the hasher; its sum is returned. */
static char *
send_chunks (Ctx *ctx, gint64 handle, const guint8 *data, gsize size, Progress *progress, GError **error)
{
        g_autofree char *pending = NULL;
        gsize off = 0, pending_n = 0;
        Hasher hasher;
        char *sum;

        hasher_init (&hasher);
        do {
                gsize n = MIN ((gsize) CLIENT_PUT_CHUNK, size - off);
                g_autoptr(JsonObject) wa = client_args_new ();
                g_autofree char *tag = NULL;

                json_object_set_int_member (wa, "handle_id", handle);
                json_object_set_boolean_member (wa, "eof", off + n == size);
                tag = client_conn_send_payload (ctx->conn, "file-write", wa, "bufb64", data + off, n, error);
                if (tag == NULL ||
                    (pending != NULL && !receive_written (ctx, pending, pending_n, FALSE, progress, error))) {
                        g_free (hasher_finish (&hasher));
                        return NULL;
                }
                /* the map outlives the hasher: hasher_finish() below waits for it */
                g_autoptr(GBytes) chunk = g_bytes_new_static (data + off, n);
                hasher_feed (&hasher, chunk);
                g_free (pending);
                pending = g_steal_pointer (&tag);
                pending_n = n;
                off += n;
        } while (off < size);
        sum = hasher_finish (&hasher);
        if (!receive_written (ctx, pending, pending_n, TRUE, progress, error)) {
                g_free (sum);
                return NULL;
        }
        return sum;
}

static gboolean
set_owner (Ctx *ctx, const PutArgs *a, GError **error)
{
        g_autoptr(JsonObject) ca = client_path_args (a->guest);
        g_autoptr(JsonNode) r = NULL;

        json_object_set_int_member (ca, "uid", a->uid);
        json_object_set_int_member (ca, "gid", a->gid);
        r = client_conn_call (ctx->conn, "file-chown", ca, error);
        return r != NULL;
}

gboolean
sub_put (Ctx *ctx, GError **error)
{
        g_autoptr(GMappedFile) map = NULL;
        g_autofree char *sum = NULL;
        Progress progress;
        PutArgs a;
        gint64 handle;
        gsize size;

        if (!parse_put_args (ctx, &a, error))
                return FALSE;
        map = g_mapped_file_new (a.local, FALSE, error);
        if (map == NULL)
                return FALSE;
        size = g_mapped_file_get_length (map);
        handle = open_atomic (ctx, &a, error);
        if (handle < 0)
                return FALSE;
        progress_init (&progress, "put", (gint64) size);
        sum = send_chunks (ctx, handle, (const guint8 *) g_mapped_file_get_contents (map), size, &progress, error);
        if (sum == NULL)
                return FALSE;
        if (a.owner != NULL && !set_owner (ctx, &a, error))
                return FALSE;
        if (!verify (ctx, a.guest, sum, error))
                return FALSE;
        print_timing (ctx, &progress);
        return TRUE;
}

