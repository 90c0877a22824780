/* main.c — phoenix-ga's entry point: command line, process set-up, signals, main loop.
 * No command logic lives here. */
#define G_LOG_DOMAIN "phoenix-ga"

#include "config.h"

#include <limits.h>
#include <locale.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "phx-agent.h"
#include "phx-config.h"
#include "phx-limits.h"
#include "phx-log.h"

/* GLib before 2.76 serves small blocks from its slab allocator (GSlice), whose per-thread
 * magazines and page-sized slabs cost the agent ~100 KiB of private memory at start; 2.76
 * replaced it with plain malloc. GLib reads G_SLICE once, in a library constructor that
 * runs before main() (setting it from .preinit_array does not survive libc's own start-up),
 * so on such a GLib the agent re-executes itself once with G_SLICE=always-malloc. An
 * explicit G_SLICE from the environment wins; if the exec fails the agent simply goes on. */
static void
reexec_without_gslice (char **argv)
{
        char self[PATH_MAX];
        ssize_t len;

        if (glib_check_version (2, 76, 0) == NULL || getenv ("G_SLICE") != NULL)
                return;
        /* the binary's own path, not /proc/self/exe: the kernel names the process after the
         * file executed, and "exe" in ps and the journal would help nobody */
        len = readlink ("/proc/self/exe", self, sizeof self - 1);
        if (len <= 0)
                return;
        self[len] = '\0';
        if (setenv ("G_SLICE", "always-malloc", 0) != 0)
                return;
        execv (self, argv);
        unsetenv ("G_SLICE"); /* e.g. the binary was replaced: go on as we are */
}

static gboolean
on_quit_signal (gpointer user_data)
{
        g_message (_("signal received, exiting"));
        phx_agent_shutdown (user_data);
        return G_SOURCE_CONTINUE;
}

static gboolean exit_thawed = TRUE;

static void
on_shutdown (PhxAgent *agent, gboolean thawed, gpointer user_data)
{
        exit_thawed = thawed;
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

/* The command line, over the file: what was not given stays unset (NULL, G_MININT, FALSE). */
typedef struct {
        char *config;
        gboolean no_config;
        char *method;
        char **paths;          /* -p more than once: more channels */
        gboolean debug;
        gint freeze_timeout;
        char *hook;
        char *runtime_dir;
        gboolean no_dbus;
        gboolean no_online_hotplug;
        char *block;
        char *allow;
        char *socket_mode;
        char *dialect;
        char *exec_capture_max;
        char *clients_max;
        char *idle_timeout;
        char *stall_timeout;
        gboolean vsock_any_peer;
        gboolean version;
} CommandLine;

static void
command_line_clear (CommandLine *cl)
{
        g_clear_pointer (&cl->config, g_free);
        g_clear_pointer (&cl->method, g_free);
        g_clear_pointer (&cl->paths, g_strfreev);
        g_clear_pointer (&cl->hook, g_free);
        g_clear_pointer (&cl->runtime_dir, g_free);
        g_clear_pointer (&cl->block, g_free);
        g_clear_pointer (&cl->allow, g_free);
        g_clear_pointer (&cl->socket_mode, g_free);
        g_clear_pointer (&cl->dialect, g_free);
        g_clear_pointer (&cl->exec_capture_max, g_free);
        g_clear_pointer (&cl->clients_max, g_free);
        g_clear_pointer (&cl->idle_timeout, g_free);
        g_clear_pointer (&cl->stall_timeout, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CommandLine, command_line_clear)

/* Exit statuses: usage errors are 2, everything that stops a well-formed start is 1. */
enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

static gboolean
parse_command_line (int *argc, char ***argv, CommandLine *cl, GError **error)
{
        GOptionEntry entries[] = {
                { "config", 'c', 0, G_OPTION_ARG_FILENAME, &cl->config, NULL /* below */, N_("FILE") },
                { "no-config", 0, 0, G_OPTION_ARG_NONE, &cl->no_config, N_("Read no configuration file"), NULL },
                { "method", 'm', 0, G_OPTION_ARG_STRING, &cl->method,
                  N_("Transport: virtio-serial (default), isa-serial, unix-listen or vsock-listen"), N_("METHOD") },
                { "path", 'p', 0, G_OPTION_ARG_FILENAME_ARRAY, &cl->paths,
                  N_("Device or socket path, or CID:PORT for vsock-listen (default depends on the method)"),
                  N_("PATH") },
                { "socket-mode", 0, 0, G_OPTION_ARG_STRING, &cl->socket_mode,
                  N_("Permissions of the unix-listen socket (default 0600: root only)"), N_("OCTAL") },
                { "clients-max", 0, 0, G_OPTION_ARG_STRING, &cl->clients_max,
                  N_("Listening transports: clients served at once (default 8)"), N_("N") },
                { "client-idle-timeout", 0, 0, G_OPTION_ARG_STRING, &cl->idle_timeout,
                  N_("Disconnect a client idle for SECONDS (default 600, 0 = never)"), N_("SECONDS") },
                { "client-stall-timeout", 0, 0, G_OPTION_ARG_STRING, &cl->stall_timeout,
                  N_("Disconnect a client that leaves its replies unread for SECONDS (default 60, 0 = never)"),
                  N_("SECONDS") },
                { "vsock-any-peer", 0, 0, G_OPTION_ARG_NONE, &cl->vsock_any_peer,
                  N_("vsock-listen: serve peers other than the host (CID 2) too"), NULL },
                { "debug", 0, 0, G_OPTION_ARG_NONE, &cl->debug, N_("Log every command"), NULL },
                { "freeze-timeout", 0, 0, G_OPTION_ARG_INT, &cl->freeze_timeout,
                  N_("Thaw by itself when no fs-unfreeze comes within SECONDS (default 600, 0 = never)"),
                  N_("SECONDS") },
                { "fsfreeze-hook", 0, 0, G_OPTION_ARG_FILENAME, &cl->hook,
                  N_("Run PATH with 'freeze' before freezing and 'thaw' after thawing"), N_("PATH") },
                { "runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &cl->runtime_dir,
                  N_("Directory for the frozen-state marker, on tmpfs (default /run/phoenix-ga)"), N_("DIR") },
                { "no-dbus", 0, 0, G_OPTION_ARG_NONE, &cl->no_dbus, N_("Do not publish state on the system bus"), NULL },
                { "no-online-hotplug", 0, 0, G_OPTION_ARG_NONE, &cl->no_online_hotplug,
                  N_("Leave vCPUs and memory that the host hot-adds offline"), NULL },
                { "block-commands", 0, 0, G_OPTION_ARG_STRING, &cl->block,
                  N_("Disable these commands (comma-separated)"), N_("LIST") },
                { "allow-commands", 0, 0, G_OPTION_ARG_STRING, &cl->allow,
                  N_("Enable only these commands, and ping and get-commands (comma-separated)"), N_("LIST") },
                { "exec-capture-max", 0, 0, G_OPTION_ARG_STRING, &cl->exec_capture_max,
                  N_("MiB of output kept per stream of a command the host runs (default 16)"), N_("MIB") },
                { "dialect", 0, 0, G_OPTION_ARG_STRING, &cl->dialect,
                  N_("Serve both dialects on the port (default), or only phoenix or qemu-ga"), N_("DIALECT") },
                { "version", 'v', 0, G_OPTION_ARG_NONE, &cl->version, N_("Print the version and exit"), NULL },
                { NULL }
        };
        /* the default file depends on the build's sysconfdir: not part of the msgid */
        g_autofree char *config_help = g_strdup_printf (_("Read settings from FILE (default %s)"),
                                                        PHX_DEFAULT_CONFIG_FILE);
        g_autoptr(GOptionContext) context = g_option_context_new (NULL);

        entries[0].description = config_help;
        rewrite_legacy_flags (*argc, *argv);
        g_option_context_set_summary (context, _("Guest agent for qemu-kvm virtual machines (Phoenix protocol)."));
        g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
        return g_option_context_parse (context, argc, argv, error);
}

static gboolean
apply_command_line (PhxConfig *config, const CommandLine *cl, GError **error)
{
        const struct {
                const char *key;
                const char *value;
                const char *prefix; /* for the error, when the message alone does not say */
        } given[] = {
                { "method", cl->method, "" },
                { "path", cl->paths != NULL ? cl->paths[0] : NULL, "" },
                { "fsfreeze-hook", cl->hook, "" },
                { "runtime-dir", cl->runtime_dir, "" },
                { "block-commands", cl->block, "--block-commands: " },
                { "allow-commands", cl->allow, "--allow-commands: " },
                { "socket-mode", cl->socket_mode, "--socket-mode: " },
                { "dialect", cl->dialect, "--dialect: " },
                { "exec-capture-max", cl->exec_capture_max, "--exec-capture-max: " },
                { "clients-max", cl->clients_max, "--clients-max: " },
                { "client-idle-timeout", cl->idle_timeout, "--client-idle-timeout: " },
                { "client-stall-timeout", cl->stall_timeout, "--client-stall-timeout: " },
        };

        for (guint i = 0; i < G_N_ELEMENTS (given); i++) {
                if (given[i].value != NULL && !phx_config_set (config, given[i].key, given[i].value, error)) {
                        g_prefix_error (error, "%s", given[i].prefix);
                        return FALSE;
                }
        }
        if (cl->debug)
                config->debug = TRUE;
        if (cl->freeze_timeout != G_MININT) {
                if (cl->freeze_timeout < 0) {
                        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                     _("--freeze-timeout must be 0 or more"));
                        return FALSE;
                }
                config->freeze_timeout = (guint) cl->freeze_timeout;
        }
        if (cl->no_dbus)
                config->dbus = FALSE;
        if (cl->vsock_any_peer)
                config->vsock_any_peer = TRUE;
        /* each -p after the first is a channel more: METHOD:PATH, or a path for -m's method;
         * given on the command line, they replace the file's list */
        if (cl->paths != NULL && cl->paths[0] != NULL && cl->paths[1] != NULL)
                g_clear_pointer (&config->channels, g_strfreev);
        for (guint i = 1; cl->paths != NULL && cl->paths[i] != NULL; i++) {
                PhxMethod method;
                const char *path;
                g_autofree char *spec = phx_method_split (cl->paths[i], &method, &path)
                                                ? g_strdup (cl->paths[i])
                                                : g_strdup_printf ("%s:%s", phx_method_to_string (config->method),
                                                                   cl->paths[i]);

                if (!phx_config_add_channel (config, spec, error))
                        return FALSE;
        }
        if (cl->no_online_hotplug)
                config->online_hotplug = FALSE;
        if (config->path == NULL)
                config->path = g_strdup (phx_config_default_path (config->method));
        return TRUE;
}

/* The file, then the command line over it. Returns 0 or the exit status; the file's
 * problems are reported as FILE:LINE: message, on a line of their own. */
static int
load_config (PhxConfig *config, const CommandLine *cl)
{
        g_autoptr(GError) error = NULL;

        if (cl->config != NULL && cl->no_config) {
                g_printerr ("%s: %s\n", g_get_prgname (), _("--config and --no-config exclude each other"));
                return EXIT_USAGE;
        }
        if (!cl->no_config && !phx_config_load (config, cl->config != NULL ? cl->config : PHX_DEFAULT_CONFIG_FILE,
                                                cl->config != NULL, &error)) {
                g_printerr ("%s\n", error->message);
                return EXIT_FAILED;
        }
        if (!apply_command_line (config, cl, &error)) {
                g_printerr ("%s: %s\n", g_get_prgname (), error->message);
                return EXIT_USAGE;
        }
        if (config->fsfreeze_hook != NULL && !phx_config_check_hook (config->fsfreeze_hook, &error)) {
                g_printerr ("%s\n", error->message);
                return EXIT_FAILED;
        }
        return 0;
}

/* Logging and the process-wide settings. No umask games: the umask stays as inherited
 * (022 from systemd), and every mode the host asks for is applied where the file is made. */
static void
set_up_process (const PhxConfig *config)
{
        if (config->debug)
                g_log_set_debug_enabled (TRUE);
        phx_log_install ();
        /* A fixed threshold keeps transfer buffers in mmap'ed blocks that go straight back
         * to the kernel; glibc's sliding threshold would keep the largest one forever. */
        mallopt (M_MMAP_THRESHOLD, 128 * 1024);
        mallopt (M_ARENA_MAX, 1);
        signal (SIGPIPE, SIG_IGN);
}

static int
run (const PhxConfig *config)
{
        PhxAgentOptions options = {
                .method = config->method,
                .path = config->path,
                .socket_mode = config->socket_mode,
                .freeze_timeout = config->freeze_timeout,
                .fsfreeze_hook = config->fsfreeze_hook,
                .runtime_dir = config->runtime_dir,
                .dbus = config->dbus,
                .allow_commands = (const char *const *) config->allow_commands,
                .block_commands = (const char *const *) config->block_commands,
                .dialects = config->dialects,
                .exec_capture_max = config->exec_capture_max,
                .clients_max = config->clients_max,
                .client_idle_timeout = config->client_idle_timeout,
                .client_stall_timeout = config->client_stall_timeout,
                .vsock_any_peer = config->vsock_any_peer,
                .channels = (const char *const *) config->channels,
                .online_hotplug = config->online_hotplug,
        };
        g_autoptr(GError) error = NULL;
        g_autoptr(GMainLoop) loop = NULL;
        g_autoptr(PhxAgent) agent = phx_agent_new (&options, &error);

        if (agent == NULL) {
                g_printerr ("%s: %s\n", g_get_prgname (), error->message);
                return EXIT_FAILED;
        }
        loop = g_main_loop_new (NULL, FALSE);
        g_unix_signal_add (SIGTERM, on_quit_signal, agent);
        g_unix_signal_add (SIGINT, on_quit_signal, agent);
        g_signal_connect (agent, "shutdown", G_CALLBACK (on_shutdown), loop);
        g_message (_("phoenix-ga %s serving on %s (%s)"), PHX_VERSION, config->path,
                   phx_method_to_string (config->method));
        g_main_loop_run (loop);
        /* A guest that could not be thawed: exit with failure so the service manager starts
         * the agent again, which finds the marker and thaws. */
        return exit_thawed ? 0 : EXIT_FAILED;
}

int
main (int argc, char **argv)
{
        g_auto(CommandLine) cl = { .freeze_timeout = G_MININT };
        g_auto(PhxConfig) config;
        g_autoptr(GError) error = NULL;
        int status;

        reexec_without_gslice (argv);
        setlocale (LC_ALL, "");
        bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
        bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
        textdomain (GETTEXT_PACKAGE);

        phx_config_init (&config);
        if (!parse_command_line (&argc, &argv, &cl, &error)) {
                g_printerr ("%s: %s\n", g_get_prgname (), error->message);
                return EXIT_USAGE;
        }
        if (cl.version) {
                g_print ("phoenix-ga %s\n", PHX_VERSION);
                return 0;
        }
        status = load_config (&config, &cl);
        if (status != 0)
                return status;
        command_line_clear (&cl);
        set_up_process (&config);
        return run (&config);
}
