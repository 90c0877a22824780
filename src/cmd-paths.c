/* cmd-paths.c — commands on paths rather than handles: hashes, stat, chmod/chown,
 * directory-create, directory-list. Slow ones (hashing, listing) run in worker threads. */
#define G_LOG_DOMAIN "cmd-paths"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "phx-error.h"
#include "phx-family.h"
#include "phx-limits.h"
#include "util-path.h"
#include "util-stat.h"

/* Only what has an end: a regular file or a block device. /dev/zero, /dev/urandom, a FIFO
 * or a tty would keep a worker hashing (or waiting) for as long as the agent lives. Long but
 * finite work (a large disk, a huge sparse file) stops when the call is cancelled. */
static char *
hash_file (const char *path, GChecksumType type, GCancellable *cancellable, GError **error)
{
        g_autoptr(GChecksum) sum = g_checksum_new (type);
        g_autofree guint8 *buf = NULL;
        struct stat st;
        int fd, fl;

        /* Non-blocking open: a FIFO without a writer must not hang the worker before the
         * type check below can refuse it. */
        fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                phx_error_set_errno (error, errno, "open %s", path);
                return NULL;
        }
        if (fstat (fd, &st) < 0) {
                int errsv = errno;
                close (fd);
                phx_error_set_errno (error, errsv, "fstat %s", path);
                return NULL;
        }
        /* A directory keeps the EISDIR that read(2) gave hosts before the type check. */
        if (S_ISDIR (st.st_mode)) {
                close (fd);
                phx_error_set_errno (error, EISDIR, "read %s", path);
                return NULL;
        }
        if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode)) {
                close (fd);
                phx_error_set (error, EINVAL, "%s: not a regular file", path);
                return NULL;
        }
        fl = fcntl (fd, F_GETFL);
        if (fl >= 0)
                fcntl (fd, F_SETFL, fl & ~O_NONBLOCK);
        buf = g_malloc (PHX_IO_CHUNK);
        for (;;) {
                ssize_t n;

                if (g_cancellable_is_cancelled (cancellable)) {
                        close (fd);
                        phx_error_set (error, ECANCELED, "hash %s: cancelled", path);
                        return NULL;
                }
                n = read (fd, buf, PHX_IO_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int errsv = errno;
                        close (fd);
                        phx_error_set_errno (error, errsv, "read %s", path);
                        return NULL;
                }
                if (n == 0)
                        break;
                g_checksum_update (sum, buf, n);
        }
        close (fd);
        return g_strdup (g_checksum_get_string (sum));
}

static JsonNode *
string_node (char *take)
{
        JsonNode *node = json_node_init_string (json_node_alloc (), take);

        g_free (take);
        return node;
}

static JsonNode *
get_file_md5sum (PhxCall *call, GError **error)
{
        char *hex = hash_file (phx_args_get_string (call->args, "path"), G_CHECKSUM_MD5,
                               call->cancellable, error);

        return hex != NULL ? string_node (hex) : NULL;
}

static JsonNode *
get_file_hash (PhxCall *call, GError **error)
{
        static const struct {
                const char *name;
                GChecksumType type;
        } algorithms[] = {
                { "md5", G_CHECKSUM_MD5 },
                { "sha1", G_CHECKSUM_SHA1 },
                { "sha256", G_CHECKSUM_SHA256 },
                { "sha512", G_CHECKSUM_SHA512 },
        };
        const char *algorithm = phx_args_get_string (call->args, "algorithm");

        for (guint i = 0; i < G_N_ELEMENTS (algorithms); i++) {
                if (g_str_equal (algorithm, algorithms[i].name)) {
                        char *hex = hash_file (phx_args_get_string (call->args, "path"),
                                               algorithms[i].type, call->cancellable, error);
                        return hex != NULL ? string_node (hex) : NULL;
                }
        }
        phx_error_set (error, EINVAL, "unknown algorithm '%s' (use md5, sha1, sha256 or sha512)", algorithm);
        return NULL;
}

static JsonNode *
true_node (void)
{
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

/* chown and chmod act on the path's last component itself, never on where a link there
 * points: a guest user's "upload" may be a link to /etc/shadow. Links on the way there are
 * followed only if root owns them (util-path.c). */
static JsonNode *
file_chown (PhxCall *call, GError **error)
{
        const char *path = phx_args_get_string (call->args, "path");
        g_auto(UtilPath) where = UTIL_PATH_INIT;

        if (!util_path_resolve (path, 0, 0, &where, error)) {
                g_prefix_error (error, "chown ");
                return NULL;
        }
        /* -1 leaves that id unchanged, as chown(2) defines. */
        if (fchownat (where.dirfd, where.name, (uid_t) phx_args_get_int (call->args, "uid"),
                      (gid_t) phx_args_get_int (call->args, "gid"), AT_SYMLINK_NOFOLLOW) < 0) {
                phx_error_set_errno (error, errno, "chown %s", path);
                return NULL;
        }
        return true_node ();
}

static JsonNode *
file_chmod (PhxCall *call, GError **error)
{
        const char *path = phx_args_get_string (call->args, "path");
        g_auto(UtilPath) where = UTIL_PATH_INIT;
        gboolean ok = FALSE;
        struct stat st;
        int fd;

        if (!util_path_resolve (path, 0, 0, &where, error)) {
                g_prefix_error (error, "chmod ");
                return NULL;
        }
        /* O_PATH: the mode of a tty or a FIFO is changed without opening it for real */
        fd = openat (where.dirfd, where.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat (fd, &st) < 0)
                phx_error_set_errno (error, errno, "chmod %s", path);
        else if (S_ISLNK (st.st_mode)) /* Linux links have no mode of their own */
                phx_error_set_errno (error, ELOOP, "chmod %s: a symbolic link is not followed", path);
        else if (util_path_chmod_fd (fd, (mode_t) phx_args_get_int (call->args, "perm")) < 0)
                phx_error_set_errno (error, errno, "chmod %s", path);
        else
                ok = TRUE;
        if (fd >= 0)
                close (fd);
        return ok ? true_node () : NULL;
}

static JsonNode *
file_stat (PhxCall *call, GError **error)
{
        const char *path = phx_args_get_string (call->args, "path");
        g_autofree char *name = g_path_get_basename (path);
        struct stat st;

        if (lstat (path, &st) < 0) {
                phx_error_set_errno (error, errno, "lstat %s", path);
                return NULL;
        }
        return util_stat_entry (name, &st);
}

/* Every directory this creates, parents included, gets exactly `perm` (the umask is not
 * ours to apply); existing ones are left as they are. */
static JsonNode *
directory_create (PhxCall *call, GError **error)
{
        const char *path = phx_args_get_string (call->args, "path");
        g_auto(UtilPath) where = UTIL_PATH_INIT;
        struct stat st;

        if (!util_path_resolve (path, UTIL_PATH_MKDIRS, (mode_t) phx_args_get_int (call->args, "perm"),
                                &where, error)) {
                g_prefix_error (error, "mkdir ");
                return NULL;
        }
        if (fstatat (where.dirfd, where.name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                phx_error_set_errno (error, errno, "mkdir %s", path);
                return NULL;
        }
        if (!S_ISDIR (st.st_mode)) {
                phx_error_set_errno (error, EEXIST, "mkdir %s", path);
                return NULL;
        }
        return true_node ();
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
        return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The `keep` smallest names seen so far, as a max-heap on strcmp: a directory of millions
 * of entries costs no more than `keep` names while it is scanned, and what is kept is
 * exactly the first `keep` of the full sorted listing, whatever order readdir gives. */
typedef struct {
        char **names;
        guint len;
        guint cap;  /* grown on demand: most directories are small, `keep` may be large */
        guint keep;
        guint64 seen;
} NameHeap;

static void
heap_sift_down (NameHeap *h, guint i)
{
        for (;;) {
                guint l = 2 * i + 1, r = l + 1, top = i;
                char *tmp;

                if (l < h->len && strcmp (h->names[l], h->names[top]) > 0)
                        top = l;
                if (r < h->len && strcmp (h->names[r], h->names[top]) > 0)
                        top = r;
                if (top == i)
                        return;
                tmp = h->names[i];
                h->names[i] = h->names[top];
                h->names[top] = tmp;
                i = top;
        }
}

static void
heap_offer (NameHeap *h, const char *name)
{
        h->seen++;
        if (h->len < h->keep) {
                guint i;

                if (h->len == h->cap) {
                        h->cap = MIN (h->keep, MAX (64, h->cap * 2));
                        h->names = g_renew (char *, h->names, h->cap);
                }
                i = h->len++;
                h->names[i] = g_strdup (name);
                while (i > 0 && strcmp (h->names[(i - 1) / 2], h->names[i]) < 0) {
                        char *tmp = h->names[i];
                        h->names[i] = h->names[(i - 1) / 2];
                        h->names[(i - 1) / 2] = tmp;
                        i = (i - 1) / 2;
                }
                return;
        }
        if (h->keep == 0 || strcmp (name, h->names[0]) >= 0)
                return;
        g_free (h->names[0]);
        h->names[0] = g_strdup (name);
        heap_sift_down (h, 0);
}

static void
heap_clear (NameHeap *h)
{
        for (guint i = 0; i < h->len; i++)
                g_free (h->names[i]);
        g_clear_pointer (&h->names, g_free);
        h->len = h->cap = 0;
}

/* Entries between two looks at the cancellable while scanning or stat'ing. */
#define DIRLIST_CANCEL_EVERY 1024

static JsonNode *
directory_list (PhxCall *call, GError **error)
{
        const char *path = phx_args_get_string (call->args, "path");
        gint64 n = phx_args_get_int (call->args, "n");
        g_autoptr(JsonArray) arr = NULL;
        NameHeap heap = { NULL, 0, 0, PHX_DIRLIST_MAX, 0 };
        struct dirent *de;
        DIR *dir;

        if (n > 0 && n < PHX_DIRLIST_MAX)
                heap.keep = (guint) n;
        dir = opendir (path);
        if (dir == NULL) {
                phx_error_set_errno (error, errno, "opendir %s", path);
                return NULL;
        }
        while ((errno = 0, de = readdir (dir)) != NULL) {
                if (g_str_equal (de->d_name, ".") || g_str_equal (de->d_name, ".."))
                        continue;
                if (heap.seen % DIRLIST_CANCEL_EVERY == 0 && g_cancellable_is_cancelled (call->cancellable))
                        goto cancelled;
                heap_offer (&heap, de->d_name);
        }
        if (errno != 0) {
                int errsv = errno;
                closedir (dir);
                heap_clear (&heap);
                phx_error_set_errno (error, errsv, "readdir %s", path);
                return NULL;
        }
        /* The reply stays the plain array the Phoenix contract defines, so the only trace
         * of a cut is this line (documented in protocol.md). */
        if (heap.seen > heap.len && heap.keep == PHX_DIRLIST_MAX)
                g_message ("directory-list %s: %" G_GUINT64_FORMAT " entries, only the first %u by name returned",
                           path, heap.seen, heap.len);
        /* Sorted, so that `n` always picks the same entries and hosts can diff listings. */
        if (heap.len > 0)
                qsort (heap.names, heap.len, sizeof (char *), compare_names);
        arr = json_array_sized_new (heap.len);
        for (guint i = 0; i < heap.len; i++) {
                const char *name = heap.names[i];
                struct stat st;

                if (i % DIRLIST_CANCEL_EVERY == 0 && g_cancellable_is_cancelled (call->cancellable))
                        goto cancelled;
                /* An entry removed since readdir is simply no longer there. */
                if (fstatat (dirfd (dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                json_array_add_element (arr, util_stat_entry (name, &st));
        }
        closedir (dir);
        heap_clear (&heap);
        return json_node_init_array (json_node_alloc (), arr);

cancelled:
        closedir (dir);
        heap_clear (&heap);
        phx_error_set (error, ECANCELED, "directory-list %s: cancelled", path);
        return NULL;
}

/* A listing's peak is its JSON tree and text, entry by entry: charged before it runs, so
 * that several large listings take turns instead of adding up. */
static gsize
directory_list_estimate (PhxArgs *args)
{
        gint64 n = phx_args_get_int (args, "n");
        gsize entries = n > 0 && n < PHX_DIRLIST_MAX ? (gsize) n : PHX_DIRLIST_MAX;

        return entries * PHX_DIRLIST_ENTRY_COST;
}

static const PhxArgSpec path_args[] = {
        { "path", PHX_ARG_PATH, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxArgSpec hash_args[] = {
        { "path", PHX_ARG_PATH, PHX_ARG_REQUIRED },
        { "algorithm", PHX_ARG_STRING, 0, .def.s = "sha256" },
        { NULL }
};

static const PhxArgSpec chown_args[] = {
        { "path", PHX_ARG_PATH, PHX_ARG_REQUIRED },
        { "uid", PHX_ARG_INT, 0, .def.i = 0, .min = -1, .max = G_MAXUINT32 - 1 },
        { "gid", PHX_ARG_INT, 0, .def.i = 0, .min = -1, .max = G_MAXUINT32 - 1 },
        { NULL }
};

static const PhxArgSpec chmod_args[] = {
        { "path", PHX_ARG_PATH, PHX_ARG_REQUIRED },
        { "perm", PHX_ARG_INT, PHX_ARG_REQUIRED, .min = 0, .max = 07777 },
        { NULL }
};

static const PhxArgSpec mkdir_args[] = {
        { "path", PHX_ARG_PATH, PHX_ARG_REQUIRED },
        { "perm", PHX_ARG_INT, 0, .def.i = 0755, .min = 0, .max = 07777 },
        { NULL }
};

static const PhxArgSpec list_args[] = {
        { "path", PHX_ARG_PATH, PHX_ARG_REQUIRED },
        { "n", PHX_ARG_INT, 0, .def.i = 0 },
        { NULL }
};

static const PhxCommand path_commands[] = {
        { "get-file-md5sum", get_file_md5sum, path_args, PHX_CMD_THREADED | PHX_CMD_LONG },
        { "get-file-hash", get_file_hash, hash_args, PHX_CMD_THREADED | PHX_CMD_LONG },
        { "file-chown", file_chown, chown_args, PHX_CMD_THREADED },
        { "file-chmod", file_chmod, chmod_args, PHX_CMD_THREADED },
        { "file-stat", file_stat, path_args, PHX_CMD_THREADED },
        { "directory-create", directory_create, mkdir_args, PHX_CMD_THREADED },
        { "directory-list", directory_list, list_args, PHX_CMD_THREADED | PHX_CMD_LONG, 0, directory_list_estimate },
        { NULL }
};

PHX_DEFINE_STATELESS_FAMILY (PhxPathsFamily, phx_paths_family, path_commands)
