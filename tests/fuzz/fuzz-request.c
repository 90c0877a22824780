/* Fuzz target: bytes from the port through framing and the registry's preparation (envelope,
 * lookup, enabled check, argument validation), exactly as the agent runs them, minus
 * execution. Built for libFuzzer with
 * -Dfuzzing=true; otherwise its main() replays the corpus as an ordinary test. */
#include "phx-error.h"
#include "phx-framer.h"
#include "phx-protocol.h"
#include "phx-qga.h"
#include "phx-registry.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static PhxRegistry *registry;

static void
on_frame (PhxFrameKind kind, GBytes *bytes, gpointer user_data)
{
        gsize len;
        const char *line;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = NULL;
        PhxPrepared prepared = { 0 };

        if (kind != PHX_FRAME_LINE)
                return;
        line = g_bytes_get_data (bytes, &len);
        g_assert (line[len] == '\0');
        /* exactly the agent's preparation: envelope, lookup, enabled check, arguments */
        if (!phx_registry_prepare (registry, line, len, &prepared, &error))
                g_assert (error != NULL && prepared.tag != NULL);
        if (prepared.dialect == PHX_DIALECT_QGA)
                reply = error != NULL ? phx_qga_reply_encode_error (error, prepared.id) :
                                        phx_qga_reply_encode (NULL, prepared.id, FALSE);
        else
                reply = error != NULL ? phx_reply_encode_error (error, prepared.tag) :
                                        phx_reply_encode (NULL, prepared.tag);
        g_assert (g_bytes_get_size (reply) > 0);
        phx_prepared_clear (&prepared);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
        g_autoptr(PhxFramer) framer = NULL;

        if (registry == NULL) {
                /* one command off, so the disabled path is reached too */
                const char *const block[] = { "directory-create", NULL };
                registry = phx_registry_new ();
                g_assert (phx_registry_set_enabled (registry, NULL, block, NULL));
        }
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
