/* main.c — phoenix-ga's entry point: command line, process set-up, signals, main loop.
 * No command logic lives here. */
#define G_LOG_DOMAIN "phoenix-ga"

#include "config.h"

#include <locale.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "phx-agent.h"
#include "phx-limits.h"
#include "phx-log.h"

#define DEFAULT_VIRTIO_PATH "/dev/virtio-ports/org.guest-agent.0"
#define DEFAULT_ISA_PATH "/dev/ttyS0"
#define DEFAULT_SOCKET_PATH "/run/phoenix-ga.sock"
#define DEFAULT_RUNTIME_DIR "/run/phoenix-ga"

/* GLib before 2.76 serves small blocks from its slab allocator (GSlice), whose per-thread
 * magazines and page-sized slabs cost the agent ~100 KiB of private memory at start; 2.76
 * replaced it with plain malloc. GLib reads G_SLICE once, in a library constructor that
 * runs before main() (setting it from .preinit_array does not survive libc's own start-up),
 * so on such a GLib the agent re-executes itself once with G_SLICE=always-malloc. An
 * explicit G_SLICE from the environment wins; if the exec fails the agent simply goes on. */
static void
reexec_without_gslice (char **argv)
{
        if (glib_check_version (2, 76, 0) == NULL || getenv ("G_SLICE") != NULL)
                return;
        if (setenv ("G_SLICE", "always-malloc", 0) != 0)
                return;
        execv ("/proc/self/exe", argv);
}

static gboolean
on_quit_signal (gpointer user_data)
{
        g_message ("signal received, exiting");
        g_main_loop_quit (user_data);
        return G_SOURCE_CONTINUE;
}

static void
on_shutdown (PhxAgent *agent, gpointer user_data)
{
        g_message ("agent-shutdown requested, exiting");
        g_main_loop_quit (user_data);
}

/* The original agent spelled its flag "-debug"; GOption would read that as -d -e -b ... */
static void
rewrite_legacy_flags (int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                if (g_str_equal (argv[i], "-debug"))
                        argv[i] = (char *) "--debug";
                if (g_str_equal (argv[i], "--"))
                        break;
        }
}

int
main (int argc, char **argv)
{
        g_autofree char *method_name = NULL;
        g_autofree char *path = NULL;
        g_autofree char *hook = NULL;
        g_autofree char *runtime_dir = NULL;
        gint freeze_timeout = PHX_FREEZE_TIMEOUT_DEFAULT;
        gboolean debug = FALSE, version = FALSE, no_dbus = FALSE;
        PhxAgentOptions options = { 0 };
        const GOptionEntry entries[] = {
                { "method", 'm', 0, G_OPTION_ARG_STRING, &method_name,
                  N_("Transport: virtio-serial (default), isa-serial or unix-listen"), N_("METHOD") },
                { "path", 'p', 0, G_OPTION_ARG_FILENAME, &path,
                  N_("Device or socket path (default depends on the method)"), N_("PATH") },
                { "debug", 0, 0, G_OPTION_ARG_NONE, &debug, N_("Log every command"), NULL },
                { "freeze-timeout", 0, 0, G_OPTION_ARG_INT, &freeze_timeout,
                  N_("Thaw by itself when no fs-unfreeze comes within SECONDS (default 600, 0 = never)"),
                  N_("SECONDS") },
                { "fsfreeze-hook", 0, 0, G_OPTION_ARG_FILENAME, &hook,
                  N_("Run PATH with 'freeze' before freezing and 'thaw' after thawing"), N_("PATH") },
                { "runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &runtime_dir,
                  N_("Directory for the frozen-state marker, on tmpfs (default /run/phoenix-ga)"), N_("DIR") },
                { "no-dbus", 0, 0, G_OPTION_ARG_NONE, &no_dbus, N_("Do not publish state on the system bus"), NULL },
                { "version", 'v', 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
                { NULL }
        };
        g_autoptr(GOptionContext) context = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GMainLoop) loop = NULL;
        g_autoptr(PhxAgent) agent = NULL;
        PhxMethod method = PHX_METHOD_VIRTIO_SERIAL;

        reexec_without_gslice (argv);
        setlocale (LC_ALL, "");
        bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
        bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
        textdomain (GETTEXT_PACKAGE);

        rewrite_legacy_flags (argc, argv);
        context = g_option_context_new (NULL);
        g_option_context_set_summary (context, _("Guest agent for qemu-kvm virtual machines (Phoenix protocol)."));
        g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
        if (!g_option_context_parse (context, &argc, &argv, &error)) {
                g_printerr ("%s: %s\n", g_get_prgname (), error->message);
                return 2;
        }
        if (version) {
                g_print ("phoenix-ga %s\n", PHX_VERSION);
                return 0;
        }
        if (method_name != NULL && !phx_method_from_string (method_name, &method)) {
                g_printerr (_("%s: unknown method '%s' (use virtio-serial, isa-serial or unix-listen)\n"),
                            g_get_prgname (), method_name);
                return 2;
        }
        if (path == NULL)
                path = g_strdup (method == PHX_METHOD_VIRTIO_SERIAL ? DEFAULT_VIRTIO_PATH :
                                 method == PHX_METHOD_ISA_SERIAL ? DEFAULT_ISA_PATH : DEFAULT_SOCKET_PATH);
        if (freeze_timeout < 0) {
                g_printerr (_("%s: --freeze-timeout must be 0 or more\n"), g_get_prgname ());
                return 2;
        }
        if (debug)
                g_log_set_debug_enabled (TRUE);
        phx_log_install ();

        /* A fixed threshold keeps transfer buffers in mmap'ed blocks that go straight back
         * to the kernel; glibc's sliding threshold would keep the largest one forever. */
        mallopt (M_MMAP_THRESHOLD, 128 * 1024);
        mallopt (M_ARENA_MAX, 1);
        /* Permissions given by the host (perm) are applied exactly, not filtered. */
        umask (0);
        signal (SIGPIPE, SIG_IGN);

        options.method = method;
        options.path = path;
        options.freeze_timeout = (guint) freeze_timeout;
        options.fsfreeze_hook = hook;
        options.runtime_dir = runtime_dir != NULL ? runtime_dir : DEFAULT_RUNTIME_DIR;
        options.dbus = !no_dbus;
        agent = phx_agent_new (&options, &error);
        if (agent == NULL) {
                g_printerr ("%s: %s\n", g_get_prgname (), error->message);
                return 1;
        }
        loop = g_main_loop_new (NULL, FALSE);
        g_unix_signal_add (SIGTERM, on_quit_signal, loop);
        g_unix_signal_add (SIGINT, on_quit_signal, loop);
        g_signal_connect (agent, "shutdown", G_CALLBACK (on_shutdown), loop);
        g_message ("phoenix-ga %s serving on %s (%s)", PHX_VERSION, path, phx_method_to_string (method));
        g_main_loop_run (loop);
        phx_agent_prepare_exit (agent);
        return 0;
}
