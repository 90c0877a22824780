/* cmd-handles.c — the handles family: file-open, file-read, file-write, file-close, and
 * qemu-ga's guest-file-* faces of them (plus its seek and flush). It owns
 * the handle table and each handle's lane; its main-thread steps reserve a slot before a file
 * is opened, run a handle's calls one at a time in the order sent, cancel what waits on a
 * handle when it is closed, and close a file whose id could not be told to the host that
 * opened it (so a host that crashes cannot exhaust the table). The I/O runs in workers. */
#define G_LOG_DOMAIN "cmd-handles"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "cmd-handles.h"
#include "phx-base64.h"
#include "phx-connection.h"
#include "phx-error.h"
#include "phx-handle-table.h"
#include "phx-limits.h"
#include "phx-spare-buffer.h"

struct _PhxFilesFamily {
        PhxFamily parent_instance;
        PhxHandleTable *table;
        PhxSpareBuffer *spare; /* the last large read's buffer, for the next (thread-safe) */
};

enum { PROP_0, PROP_OPEN_HANDLES, N_PROPS };
static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (PhxFilesFamily, phx_files_family, PHX_TYPE_FAMILY)

/* family_flags of the rows */
enum { ON_HANDLE = 1 << 0 };

static PhxFile *
handle_file (PhxCall *call)
{
        return ((PhxHandle *) call->family_data)->file;
}

static gboolean
is_qga (PhxCall *call)
{
        return call->dialect == PHX_DIALECT_QGA;
}

/* qemu-ga's words for an unknown handle, which its clients may match on. */
static void
set_unknown_handle (PhxCall *call, gint64 id, GError **error)
{
        if (is_qga (call))
                phx_error_set (error, EBADF, "handle '%" G_GINT64_FORMAT "' has not been found", id);
        else
                phx_error_set (error, EBADF, "unknown handle %" G_GINT64_FORMAT, id);
}

/* An optional argument only one face has: the other face's spec does not list it. */
static gboolean
get_flag (PhxArgs *a, const char *name)
{
        return phx_args_has (a, name) && phx_args_get_bool (a, name);
}

static JsonNode *
file_open (PhxCall *call, GError **error)
{
        PhxArgs *a = call->args;
        const char *mode_name = phx_args_get_string (a, "mode");
        PhxFileMode mode;
        PhxFile *file;

        /* The Phoenix dialect keeps its two modes: its file-read closes the handle at end of
         * file, which would surprise a host reading back what it wrote through "w+". */
        if (!phx_file_mode_parse (mode_name, &mode) ||
            (!is_qga (call) && !g_str_equal (mode_name, "r") && !g_str_equal (mode_name, "w"))) {
                if (is_qga (call))
                        phx_error_set (error, EINVAL, "invalid file open mode '%s'", mode_name);
                else
                        phx_error_set (error, EINVAL, "unsupported mode '%s' (use \"r\" or \"w\")", mode_name);
                return NULL;
        }
        file = phx_file_open (phx_args_get_string (a, "path"), mode,
                              phx_args_has (a, "perm") ? (gint) phx_args_get_int (a, "perm") : -1,
                              get_flag (a, "force"), get_flag (a, "atomic"), error);

        /* The id is given on the main thread, in the slot admit reserved (see finish). */
        call->family_data = file;
        call->family_data_free = (GDestroyNotify) phx_file_free;
        return NULL;
}

/* A large buffer is fresh memory (transfer buffers are mmap'ed, see main.c): the pages a
 * read will touch are faulted in with one call instead of one trap per page (20% of a
 * read's CPU). Older kernels (before 5.14) do not know the advice: the traps then happen as
 * before. */
static void
prefault (char *buf, gsize len)
{
        const gsize page = 4096;
        guintptr start = ((guintptr) buf + page - 1) & ~(guintptr) (page - 1);
        guintptr end = ((guintptr) buf + len) & ~(guintptr) (page - 1);

        if (len >= PHX_PREFAULT_MIN && end > start)
                (void) madvise ((void *) start, end - start, MADV_POPULATE_WRITE);
}

/* The file's bytes are read into the tail of the buffer that will hold their base64 and
 * encoded in place, and that text is spliced into the reply unescaped (see PhxCall.payload):
 * one buffer, two passes over it. */
static GBytes *
read_base64 (PhxCall *call, gsize count, gsize *got, gboolean *eof, GError **error)
{
        PhxFilesFamily *self = PHX_FILES_FAMILY (call->family);
        gsize capacity = phx_base64_encoded_len (count);
        gsize size = capacity + 1;
        gboolean fresh;
        char *buf = phx_spare_buffer_take (self->spare, &size, &fresh);
        gsize b64_len;

        if (fresh) {
                gsize expected = phx_file_read_expected (handle_file (call), count);

                prefault (buf, phx_base64_encoded_len (expected));
                prefault (buf + phx_base64_tail_offset (count), expected);
        }
        if (!phx_file_read_into (handle_file (call), (guint8 *) buf + phx_base64_tail_offset (count), count, got,
                                 eof, call->cancellable, error)) {
                g_free (buf);
                return NULL;
        }
        b64_len = phx_base64_encode_in_place (buf, count, *got);
        /* A large count on a small file must not pin the whole buffer. */
        if (b64_len < capacity / 2)
                return g_bytes_new_take (g_realloc (buf, b64_len + 1), b64_len);
        return phx_spare_buffer_wrap (self->spare, buf, size, b64_len);
}

static JsonNode *
file_read (PhxCall *call, GError **error)
{
        g_autoptr(JsonObject) obj = json_object_new ();
        gboolean eof;
        gsize got;

        call->payload = read_base64 (call, (gsize) phx_args_get_int (call->args, "count"), &got, &eof, error);
        if (call->payload == NULL)
                return NULL;
        call->payload_member = is_qga (call) ? "buf-b64" : "bufb64";
        json_object_set_string_member (obj, call->payload_member, "");
        if (is_qga (call)) {
                /* qemu-ga keeps the handle open at end of file: its host closes it */
                json_object_set_int_member (obj, "count", (gint64) got);
                json_object_set_boolean_member (obj, "eof", eof);
                return json_node_init_object (json_node_alloc (), obj);
        }
        json_object_set_boolean_member (obj, "eof", eof);
        /* The contract closes the handle at end of file; the host must not close it again. */
        if (eof && !phx_file_close (handle_file (call), error))
                return NULL;
        return json_node_init_object (json_node_alloc (), obj);
}

/* What a read will queue for the host: its count as base64, and the envelope. */
static gsize
file_read_estimate (PhxArgs *args)
{
        return phx_base64_encoded_len ((gsize) phx_args_get_int (args, "count")) + 64;
}

/* text without its line feeds, in a new buffer. */
static char *
without_newlines (const char *text, gsize *len)
{
        char *out = g_malloc (*len + 1);
        const char *p = text, *end = text + *len, *nl;
        gsize n = 0;

        while ((nl = memchr (p, '\n', end - p)) != NULL) {
                memcpy (out + n, p, nl - p);
                n += nl - p;
                p = nl + 1;
        }
        memcpy (out + n, p, end - p);
        n += end - p;
        out[n] = '\0';
        *len = n;
        return out;
}

/* The data to write, checked: canonical base64 (or nothing is written), and qemu-ga's count
 * no more than it holds. *text: the base64 (in *owned when it had to be rewritten), *len:
 * the bytes to write. */
static gboolean
write_data (PhxCall *call, const char **text, gsize *text_len, gsize *len, char **owned, GError **error)
{
        JsonNode *node = phx_args_get_node (call->args, "bufb64");
        const char *wire = is_qga (call) ? "buf-b64" : "bufb64";

        if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
                if (is_qga (call))
                        phx_error_set (error, EINVAL, "Invalid parameter type for '%s', expected: string", wire);
                else
                        phx_error_set (error, EINVAL, "argument '%s' must be a string", wire);
                return FALSE;
        }
        *text = json_node_get_string (node);
        *text_len = strlen (*text);
        /* qemu-ga takes line feeds anywhere in the base64, and Proxmox sends them: its
         * file-write encodes with Perl's encode_base64, a line break every 76 characters.
         * Only LF, as qemu-ga; the Phoenix dialect stays strict. Looked for only when the
         * text is not plain base64: one pass fewer over megabytes for everyone else. */
        if (!phx_base64_check (*text, *text_len, len, NULL)) {
                if (is_qga (call) && memchr (*text, '\n', *text_len) != NULL)
                        *text = *owned = without_newlines (*text, text_len);
                if (!phx_base64_check (*text, *text_len, len, error)) {
                        g_prefix_error (error, "argument '%s': ", wire);
                        return FALSE;
                }
        }
        /* qemu-ga's count: only the first bytes of the data are written */
        if (phx_args_has (call->args, "count")) {
                gint64 count = phx_args_get_int (call->args, "count");

                if (count < 0 || (guint64) count > *len) {
                        phx_error_set (error, EINVAL, "value '%" G_GINT64_FORMAT "' is invalid for argument count",
                                       count);
                        return FALSE;
                }
                *len = (gsize) count;
        }
        return TRUE;
}

/* Decodes and writes a piece at a time through one small buffer: no copy of the whole data,
 * and what the kernel copies into the file is still in the cache. */
static gboolean
write_base64 (PhxCall *call, const char *text, gsize text_len, gsize len, GError **error)
{
        g_autofree guint8 *buf = g_malloc (PHX_WRITE_PIECE / 4 * 3 + 1);
        gsize done = 0;

        for (gsize at = 0; done < len; at += PHX_WRITE_PIECE) {
                gsize n = phx_base64_decode_valid (text + at, MIN (PHX_WRITE_PIECE, text_len - at), buf);

                n = MIN (n, len - done);
                if (!phx_file_write (handle_file (call), buf, n, call->cancellable, error)) {
                        if (done > 0)
                                g_prefix_error (error, "after %" G_GSIZE_FORMAT " bytes: ", done);
                        return FALSE;
                }
                done += n;
        }
        return TRUE;
}

static JsonNode *
file_write (PhxCall *call, GError **error)
{
        g_autoptr(JsonObject) obj = NULL;
        g_autofree char *owned = NULL;
        const char *text;
        gsize text_len, len;

        /* With eof the data is written first, then the handle closed (the original agent
         * closed without writing). A failed write leaves the handle open so the host can
         * retry or close it. */
        if (!write_data (call, &text, &text_len, &len, &owned, error) ||
            !write_base64 (call, text, text_len, len, error))
                return NULL;
        if (get_flag (call->args, "eof") && !phx_file_close (handle_file (call), error))
                return NULL;
        if (!is_qga (call))
                return json_node_init_boolean (json_node_alloc (), TRUE);
        /* qemu-ga's eof says whether its stdio stream had met the end of the file, which a
         * write never does: always false */
        obj = json_object_new ();
        json_object_set_int_member (obj, "count", (gint64) len);
        json_object_set_boolean_member (obj, "eof", FALSE);
        return json_node_init_object (json_node_alloc (), obj);
}

static JsonNode *
file_close (PhxCall *call, GError **error)
{
        if (!phx_file_close (handle_file (call), error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

/* qemu-ga's whence: 0, 1, 2 or their names (QAPI's alternate of an int and an enum). */
static gboolean
whence_from_node (JsonNode *node, int *whence, GError **error)
{
        static const char *const names[] = { "set", "cur", "end" };
        static const int values[] = { SEEK_SET, SEEK_CUR, SEEK_END };

        if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64) {
                gint64 code = json_node_get_int (node);

                if (code < 0 || code >= (gint64) G_N_ELEMENTS (values)) {
                        phx_error_set (error, EINVAL, "invalid whence code %" G_GINT64_FORMAT, code);
                        return FALSE;
                }
                *whence = values[code];
                return TRUE;
        }
        if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING) {
                const char *name = json_node_get_string (node);

                for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
                        if (g_str_equal (name, names[i])) {
                                *whence = values[i];
                                return TRUE;
                        }
                }
                phx_error_set (error, EINVAL, "Parameter 'whence' does not accept value '%s'", name);
                return FALSE;
        }
        /* a number that is not an integer is read as a wrong integer, as qemu-ga reads it */
        if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_DOUBLE)
                phx_error_set (error, EINVAL, "Invalid parameter type for 'whence', expected: integer");
        else
                phx_error_set (error, EINVAL, "Invalid parameter type for 'whence', expected: GuestFileWhence");
        return FALSE;
}

static JsonNode *
file_seek (PhxCall *call, GError **error)
{
        g_autoptr(JsonObject) obj = json_object_new ();
        gint64 position;
        int whence;

        if (!whence_from_node (phx_args_get_node (call->args, "whence"), &whence, error) ||
            !phx_file_seek (handle_file (call), phx_args_get_int (call->args, "offset"), whence, &position,
                            error))
                return NULL;
        json_object_set_int_member (obj, "position", position);
        /* a seek clears qemu-ga's end-of-file flag */
        json_object_set_boolean_member (obj, "eof", FALSE);
        return json_node_init_object (json_node_alloc (), obj);
}

/* Writes go straight to the file (no stdio buffer, unlike qemu-ga's): nothing waits to be
 * pushed, so a flush only answers for the handle, in its turn. Like qemu-ga's, it does
 * not sync to disk. */
static JsonNode *
file_flush (PhxCall *call, GError **error)
{
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static const PhxArgSpec open_args[] = {
        { "path", PHX_ARG_PATH, PHX_ARG_REQUIRED },
        { "mode", PHX_ARG_STRING, 0, .def.s = "r" },
        { "perm", PHX_ARG_INT, 0, .def.i = 0644, .min = 0, .max = 07777 },
        { "force", PHX_ARG_BOOL, 0, .def.b = FALSE },
        { "atomic", PHX_ARG_BOOL, 0, .def.b = FALSE },
        { NULL }
};

static const PhxArgSpec read_args[] = {
        { "handle_id", PHX_ARG_INT, PHX_ARG_REQUIRED },
        { "count", PHX_ARG_INT, 0, .def.i = PHX_READ_COUNT_DEFAULT, .min = 1, .max = PHX_READ_COUNT_MAX },
        { NULL }
};

static const PhxArgSpec write_args[] = {
        { "handle_id", PHX_ARG_INT, PHX_ARG_REQUIRED },
        /* a string of base64, checked by file_write: it is decoded a piece at a time */
        { "bufb64", PHX_ARG_ANY, PHX_ARG_REQUIRED },
        { "eof", PHX_ARG_BOOL, 0, .def.b = FALSE },
        { "count", PHX_ARG_INT, 0 }, /* qemu-ga's, checked against the data by file_write */
        { NULL }
};

static const PhxArgSpec close_args[] = {
        { "handle_id", PHX_ARG_INT, PHX_ARG_REQUIRED },
        { NULL }
};

/* The face-only rows' own specs are qemu-ga's (they have no other face). */
static const PhxArgSpec seek_args[] = {
        { "handle", PHX_ARG_INT, PHX_ARG_REQUIRED, .as = "handle_id" },
        { "offset", PHX_ARG_INT, PHX_ARG_REQUIRED },
        { "whence", PHX_ARG_ANY, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxArgSpec flush_args[] = {
        { "handle", PHX_ARG_INT, PHX_ARG_REQUIRED, .as = "handle_id" },
        { NULL }
};

static const PhxCommand handle_commands[] = {
        { "file-open", file_open, open_args, PHX_CMD_THREADED },
        { "file-read", file_read, read_args, PHX_CMD_THREADED | PHX_CMD_LONG, ON_HANDLE, file_read_estimate },
        { "file-write", file_write, write_args, PHX_CMD_THREADED | PHX_CMD_LONG, ON_HANDLE },
        { "file-close", file_close, close_args, PHX_CMD_THREADED | PHX_CMD_LONG, ON_HANDLE },
        { "qga-file-seek", file_seek, seek_args, PHX_CMD_THREADED | PHX_CMD_LONG | PHX_CMD_FACE_ONLY, ON_HANDLE },
        { "qga-file-flush", file_flush, flush_args, PHX_CMD_THREADED | PHX_CMD_LONG | PHX_CMD_FACE_ONLY, ON_HANDLE },
        { NULL }
};

/* qemu-ga's faces. No perm: a new file gets the Phoenix default (0644), not qemu-ga's
 * 0666 (see doc/protocol.md, "Files"). qemu-ga allows a read of 0 bytes. */
static const PhxArgSpec qga_open_args[] = {
        { "path", PHX_ARG_PATH, PHX_ARG_REQUIRED },
        { "mode", PHX_ARG_STRING, 0, .def.s = "r" },
        { NULL }
};

static const PhxArgSpec qga_read_args[] = {
        { "handle", PHX_ARG_INT, PHX_ARG_REQUIRED, .as = "handle_id" },
        { "count", PHX_ARG_INT, 0, .def.i = PHX_READ_COUNT_DEFAULT, .min = 0, .max = PHX_READ_COUNT_MAX },
        { NULL }
};

static const PhxArgSpec qga_write_args[] = {
        { "handle", PHX_ARG_INT, PHX_ARG_REQUIRED, .as = "handle_id" },
        { "buf-b64", PHX_ARG_ANY, PHX_ARG_REQUIRED, .as = "bufb64" },
        { "count", PHX_ARG_INT, 0 },
        { NULL }
};

static const PhxArgSpec qga_handle_args[] = {
        { "handle", PHX_ARG_INT, PHX_ARG_REQUIRED, .as = "handle_id" },
        { NULL }
};

static const PhxFace handle_faces[] = {
        { PHX_DIALECT_QGA, "guest-file-open", "file-open", qga_open_args, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-file-read", "file-read", qga_read_args, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-file-write", "file-write", qga_write_args, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-file-close", "file-close", qga_handle_args, phx_face_no_value, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-file-seek", "qga-file-seek", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-file-flush", "qga-file-flush", NULL, phx_face_no_value, PHX_FACE_STRICT },
        { .name = NULL }
};

static void
notify_handles (PhxFilesFamily *self)
{
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_OPEN_HANDLES]);
}

static void
cancel_call (PhxCall *call)
{
        if (call != NULL && call->cancellable != NULL)
                g_cancellable_cancel (call->cancellable);
}

/* Nobody can use it: opened for a host that left without using it, and idle. (A weak
 * reference: a handle must not keep its opener's connection alive.) */
static gboolean
is_orphan (PhxHandle *handle)
{
        g_autoptr(PhxConnection) opener = g_weak_ref_get (&handle->opener);

        return !handle->used && (opener == NULL || phx_connection_is_closed (opener)) &&
               handle->running == NULL && !handle->lane.busy;
}

/* A full table first gives back a handle whose opener left before ever using it (oldest
 * first): a host that crashes between file-open and reading its reply cannot exhaust the
 * table, while handles a host opened and goes on using across connections are kept. */
static gboolean
reserve_slot (PhxFilesFamily *self, GError **error)
{
        PhxHandle *orphan;

        if (phx_handle_table_reserve (self->table, NULL))
                return TRUE;
        orphan = phx_handle_table_find_oldest (self->table, is_orphan);
        if (orphan != NULL) {
                g_debug ("handle %" G_GINT64_FORMAT " (%s) reclaimed: its host left without using it", orphan->id,
                         orphan->file->path);
                phx_handle_table_remove (self->table, orphan);
                notify_handles (self);
        }
        return phx_handle_table_reserve (self->table, error);
}

static gboolean
handles_admit (PhxFamily *family, PhxCall *call, GError **error)
{
        PhxFilesFamily *self = PHX_FILES_FAMILY (family);
        PhxHandle *handle;

        if (!(call->command->family_flags & ON_HANDLE))
                return reserve_slot (self, error); /* file-open */
        handle = phx_handle_table_lookup (self->table, phx_args_get_int (call->args, "handle_id"), NULL);
        if (handle == NULL) {
                set_unknown_handle (call, phx_args_get_int (call->args, "handle_id"), error);
                return FALSE;
        }
        call->lane = &handle->lane;
        call->family_data = phx_handle_ref (handle);
        call->family_data_free = (GDestroyNotify) phx_handle_unref;
        if (call->command->func == file_close) {
                /* Closing a handle stops what waits on it (a read on a silent pipe): the
                 * close would otherwise wait behind it for ever. Reads and writes of a
                 * regular file do not wait, and still complete in order. */
                handle->closing = TRUE;
                cancel_call (handle->running);
                for (GList *l = handle->lane.pending.head; l != NULL; l = l->next)
                        cancel_call (l->data);
        }
        return TRUE;
}

static gboolean
handles_start (PhxFamily *family, PhxCall *call, GError **error)
{
        PhxHandle *handle;

        if (!(call->command->family_flags & ON_HANDLE))
                return TRUE;
        handle = call->family_data;
        /* Queued behind the call that closed it (file-close, or a read that met end of
         * file): as if sent after. */
        if (handle->file->closed) {
                set_unknown_handle (call, handle->id, error);
                return FALSE;
        }
        handle->running = call;
        handle->used = TRUE;
        return TRUE;
}

static void
finish_open (PhxFilesFamily *self, PhxCall *call, JsonNode **result, GError **error)
{
        PhxFile *file = g_steal_pointer (&call->family_data);
        PhxHandle *handle;

        if (*error != NULL || file == NULL) {
                phx_handle_table_unreserve (self->table);
                phx_file_free (file);
                return;
        }
        if (call->connection != NULL && phx_connection_is_closed (call->connection)) {
                /* Nobody will learn this id: close it now (an atomic write is discarded). */
                g_debug ("the host that opened %s left: handle not kept", file->path);
                phx_handle_table_unreserve (self->table);
                phx_file_free (file);
                return;
        }
        handle = phx_handle_table_add (self->table, file);
        phx_spare_buffer_set_keep (self->spare, TRUE);
        g_weak_ref_set (&handle->opener, call->connection);
        /* opened by the agent itself (no connection): never an orphan */
        handle->used = call->connection == NULL;
        *result = json_node_init_int (json_node_alloc (), handle->id);
        notify_handles (self);
}

static void
handles_finish (PhxFamily *family, PhxCall *call, JsonNode **result, GError **error)
{
        PhxFilesFamily *self = PHX_FILES_FAMILY (family);
        PhxHandle *handle;

        if (!(call->command->family_flags & ON_HANDLE)) {
                finish_open (self, call, result, error);
                return;
        }
        handle = call->family_data;
        if (handle == NULL)
                return;
        if (handle->running == call)
                handle->running = NULL;
        if (handle->file->closed || (call->command->func == file_close)) {
                phx_handle_table_remove (self->table, handle);
                notify_handles (self);
        }
        phx_spare_buffer_set_keep (self->spare, phx_handle_table_count (self->table) > 0);
}

guint
phx_files_family_get_open_handles (PhxFilesFamily *self)
{
        return phx_handle_table_count (self->table);
}

/* runtime_dir: where handle ids are carried over agent restarts. Only when it exists: the
 * service's RuntimeDirectory= makes it and keeps it across restarts, which is the life the
 * ids need; the agent does not make it for them (the freezer makes it when it freezes). */
PhxFilesFamily *
phx_files_family_new (guint max_handles, const char *runtime_dir)
{
        PhxFilesFamily *self = g_object_new (PHX_TYPE_FILES_FAMILY, NULL);
        g_autofree char *state = NULL;
        g_autoptr(GError) error = NULL;

        self->table = phx_handle_table_new (max_handles);
        if (runtime_dir == NULL)
                return self;
        if (!g_file_test (runtime_dir, G_FILE_TEST_IS_DIR)) {
                g_message ("handle ids start at 1 and may repeat after a restart: no directory %s", runtime_dir);
                return self;
        }
        state = g_build_filename (runtime_dir, "handle-ids", NULL);
        if (!phx_handle_table_persist_ids (self->table, state, &error))
                g_warning ("handle ids may repeat after a restart: %s", error->message);
        return self;
}

static void
phx_files_family_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        PhxFilesFamily *self = PHX_FILES_FAMILY (object);

        switch (prop_id) {
        case PROP_OPEN_HANDLES:
                g_value_set_uint (value, phx_handle_table_count (self->table));
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

static void
phx_files_family_finalize (GObject *object)
{
        PhxFilesFamily *self = PHX_FILES_FAMILY (object);

        /* A worker still inside a handle holds a reference: that file outlives the table. */
        g_clear_pointer (&self->table, phx_handle_table_free);
        g_clear_pointer (&self->spare, phx_spare_buffer_free);
        G_OBJECT_CLASS (phx_files_family_parent_class)->finalize (object);
}

static void
phx_files_family_class_init (PhxFilesFamilyClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);
        PhxFamilyClass *family_class = PHX_FAMILY_CLASS (klass);

        object_class->get_property = phx_files_family_get_property;
        object_class->finalize = phx_files_family_finalize;
        family_class->commands = handle_commands;
        family_class->faces = handle_faces;
        family_class->admit = handles_admit;
        family_class->start = handles_start;
        family_class->finish = handles_finish;
        props[PROP_OPEN_HANDLES] = g_param_spec_uint ("open-handles", NULL, NULL, 0, G_MAXUINT, 0,
                                                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS |
                                                              G_PARAM_EXPLICIT_NOTIFY);
        g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
phx_files_family_init (PhxFilesFamily *self)
{
        self->spare = phx_spare_buffer_new (PHX_READ_SPARE_MAX);
}
