/* Fuzz target: bytes from the port through framing, the envelope and argument validation,
 * exactly as the agent runs them, minus execution. Built for libFuzzer with
 * -Dfuzzing=true; otherwise its main() replays the corpus as an ordinary test. */
#include "phx-error.h"
#include "phx-framer.h"
#include "phx-handler.h"
#include "phx-protocol.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static GHashTable *commands;

static void
load_commands (void)
{
        g_autofree GType *types = NULL;
        guint n;

        if (commands != NULL)
                return;
        commands = g_hash_table_new (g_str_hash, g_str_equal);
        types = phx_handler_family_types (&n);
        for (guint i = 0; i < n; i++) {
                PhxHandler *h = g_object_new (types[i], NULL); /* kept for the process */
                for (const PhxCommand *c = phx_handler_get_commands (h); c->name != NULL; c++)
                        g_hash_table_insert (commands, (gpointer) c->name, (gpointer) c);
        }
}

static void
on_frame (PhxFrameKind kind, GBytes *bytes, gpointer user_data)
{
        gsize len;
        const char *line;
        g_autoptr(GError) error = NULL;
        g_autofree char *tag = NULL;
        g_autoptr(PhxRequest) req = NULL;
        g_autoptr(GBytes) reply = NULL;
        const PhxCommand *cmd;

        if (kind != PHX_FRAME_LINE)
                return;
        line = g_bytes_get_data (bytes, &len);
        g_assert (line[len] == '\0');
        req = phx_request_parse (line, len, &tag, &error);
        if (req != NULL && (cmd = g_hash_table_lookup (commands, req->execute)) != NULL) {
                g_autoptr(PhxArgs) args = phx_args_validate (cmd->args, req->arguments, &error);
        }
        reply = error != NULL ? phx_reply_encode_error (error, tag) : phx_reply_encode (NULL, tag);
        g_assert (g_bytes_get_size (reply) > 0);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
        g_autoptr(PhxFramer) framer = NULL;

        load_commands ();
        /* A small limit, so the fuzzer reaches the drain path too. */
        framer = phx_framer_new (4096, on_frame, NULL);
        /* Two pushes: lines split across reads are the common case. */
        phx_framer_push (framer, (const char *) data, size / 2);
        phx_framer_push (framer, (const char *) data + size / 2, size - size / 2);
        return 0;
}

#ifndef PHX_LIBFUZZER
int
main (int argc, char **argv)
{
        guint n = 0;

        g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
        for (int i = 1; i < argc; i++) {
                g_autoptr(GDir) dir = g_dir_open (argv[i], 0, NULL);
                const char *name;

                if (dir == NULL) {
                        g_printerr ("cannot open corpus %s\n", argv[i]);
                        return 1;
                }
                while ((name = g_dir_read_name (dir)) != NULL) {
                        g_autofree char *path = g_build_filename (argv[i], name, NULL);
                        g_autofree char *data = NULL;
                        gsize len;
                        if (!g_file_get_contents (path, &data, &len, NULL))
                                return 1;
                        LLVMFuzzerTestOneInput ((const guint8 *) data, len);
                        n++;
                }
        }
        g_print ("replayed %u corpus inputs\n", n);
        return n > 0 ? 0 : 1;
}
#endif
