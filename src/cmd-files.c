/* cmd-files.c — the handle family: file-open, file-read, file-write, file-close. All run in
 * worker threads; the dispatcher guarantees one call per handle at a time. */
#define G_LOG_DOMAIN "cmd-files"

#include "phx-base64.h"
#include "phx-file.h"
#include "phx-handler.h"
#include "phx-limits.h"

static JsonNode *
file_open (PhxCall *call, GError **error)
{
        PhxArgs *a = call->args;

        call->opened = phx_file_open (phx_args_get_string (a, "path"), phx_args_get_string (a, "mode"),
                                      phx_args_has (a, "perm") ? (gint) phx_args_get_int (a, "perm") : -1,
                                      phx_args_get_bool (a, "force"),
                                      phx_args_get_bool (a, "atomic"), error);
        /* The id is given on the main thread, where the handle table lives. */
        return NULL;
}

static JsonNode *
file_read (PhxCall *call, GError **error)
{
        g_autoptr(JsonObject) obj = json_object_new ();
        g_autoptr(GBytes) data = NULL;
        gboolean eof;
        gsize len, b64_len;
        const guint8 *buf;
        char *b64;

        data = phx_file_read (call->file, (gsize) phx_args_get_int (call->args, "count"), &eof, error);
        if (data == NULL)
                return NULL;
        buf = g_bytes_get_data (data, &len);
        b64_len = phx_base64_encoded_len (len);
        b64 = g_malloc (b64_len + 1);
        phx_base64_encode_to (buf, len, b64);
        /* 48 MiB of base64 needs no escaping: it goes out as it is (see PhxCall.payload). */
        call->payload_member = "bufb64";
        call->payload = g_bytes_new_take (b64, b64_len);
        json_object_set_string_member (obj, "bufb64", "");
        json_object_set_boolean_member (obj, "eof", eof);
        /* The contract closes the handle at end of file; the host must not close it again. */
        if (eof && !phx_file_close (call->file, error))
                return NULL;
        return json_node_init_object (json_node_alloc (), obj);
}

static JsonNode *
file_write (PhxCall *call, GError **error)
{
        GBytes *data = phx_args_get_bytes (call->args, "bufb64");
        gsize len;
        const guint8 *buf = g_bytes_get_data (data, &len);

        /* With eof the data is written first, then the handle closed (the original agent
         * closed without writing). A failed write leaves the handle open so the host can
         * retry or close it. */
        if (!phx_file_write (call->file, buf, len, error))
                return NULL;
        if (phx_args_get_bool (call->args, "eof") && !phx_file_close (call->file, error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static JsonNode *
file_close (PhxCall *call, GError **error)
{
        if (!phx_file_close (call->file, error))
                return NULL;
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
        { "bufb64", PHX_ARG_BASE64, PHX_ARG_REQUIRED },
        { "eof", PHX_ARG_BOOL, 0, .def.b = FALSE },
        { NULL }
};

static const PhxArgSpec close_args[] = {
        { "handle_id", PHX_ARG_INT, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxCommand file_commands[] = {
        { "file-open", file_open, open_args, PHX_CMD_THREADED },
        { "file-read", file_read, read_args, PHX_CMD_THREADED | PHX_CMD_HANDLE },
        { "file-write", file_write, write_args, PHX_CMD_THREADED | PHX_CMD_HANDLE },
        { "file-close", file_close, close_args, PHX_CMD_THREADED | PHX_CMD_HANDLE },
        { NULL }
};

PHX_DEFINE_HANDLER (PhxFilesHandler, phx_files_handler, file_commands)
