/* main.c — phoenix-ga's entry point: command line, process set-up, signals, main loop.
 * No command logic lives here. */
#define G_LOG_DOMAIN "phoenix-ga"

#include "config.h"

#include <limits.h>
#include <locale.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
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
        char *path;
        gboolean debug;
        gint freeze_timeout;
        char *hook;
        char *runtime_dir;
        gboolean no_dbus;
        char *block;
        char *allow;
} CommandLine;

static void
command_line_clear (CommandLine *cl)
{
        g_free (cl->config);
        g_free (cl->method);
        g_free (cl->path);
        g_free (cl->hook);
        g_free (cl->runtime_dir);
        g_free (cl->block);
        g_free (cl->allow);
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
                { "path", cl->path, "" },
                { "fsfreeze-hook", cl->hook, "" },
                { "runtime-dir", cl->runtime_dir, "" },
                { "block-commands", cl->block, "--block-commands: " },
                { "allow-commands", cl->allow, "--allow-commands: " },
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
        if (config->path == NULL)
                config->path = g_strdup (phx_config_default_path (config->method));
        return TRUE;
}

int
main (int argc, char **argv)
{
        CommandLine cl = { .freeze_timeout = G_MININT };
        gboolean version = FALSE;
        GOptionEntry entries[] = {
                { "config", 'c', 0, G_OPTION_ARG_FILENAME, &cl.config, NULL /* below */, N_("FILE") },
                { "no-config", 0, 0, G_OPTION_ARG_NONE, &cl.no_config, N_("Read no configuration file"), NULL },
                { "method", 'm', 0, G_OPTION_ARG_STRING, &cl.method,
                  N_("Transport: virtio-serial (default), isa-serial or unix-listen"), N_("METHOD") },
                { "path", 'p', 0, G_OPTION_ARG_FILENAME, &cl.path,
                  N_("Device or socket path (default depends on the method)"), N_("PATH") },
                { "debug", 0, 0, G_OPTION_ARG_NONE, &cl.debug, N_("Log every command"), NULL },
                { "freeze-timeout", 0, 0, G_OPTION_ARG_INT, &cl.freeze_timeout,
                  N_("Thaw by itself when no fs-unfreeze comes within SECONDS (default 600, 0 = never)"),
                  N_("SECONDS") },
                { "fsfreeze-hook", 0, 0, G_OPTION_ARG_FILENAME, &cl.hook,
                  N_("Run PATH with 'freeze' before freezing and 'thaw' after thawing"), N_("PATH") },
                { "runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &cl.runtime_dir,
                  N_("Directory for the frozen-state marker, on tmpfs (default /run/phoenix-ga)"), N_("DIR") },
                { "no-dbus", 0, 0, G_OPTION_ARG_NONE, &cl.no_dbus, N_("Do not publish state on the system bus"), NULL },
                { "block-commands", 0, 0, G_OPTION_ARG_STRING, &cl.block,
                  N_("Disable these commands (comma-separated)"), N_("LIST") },
                { "allow-commands", 0, 0, G_OPTION_ARG_STRING, &cl.allow,
                  N_("Enable only these commands, and ping and get-commands (comma-separated)"), N_("LIST") },
                { "version", 'v', 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
                { NULL }
        };
        g_auto(PhxConfig) config;
        g_autofree char *config_help = NULL;
        PhxAgentOptions options = { 0 };
        g_autoptr(GOptionContext) context = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GMainLoop) loop = NULL;
        g_autoptr(PhxAgent) agent = NULL;

        reexec_without_gslice (argv);
        setlocale (LC_ALL, "");
        bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
        bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
        textdomain (GETTEXT_PACKAGE);

        /* the default file depends on the build's sysconfdir: not part of the msgid */
        config_help = g_strdup_printf (_("Read settings from FILE (default %s)"), PHX_DEFAULT_CONFIG_FILE);
        entries[0].description = config_help;
        phx_config_init (&config);
        rewrite_legacy_flags (argc, argv);
        context = g_option_context_new (NULL);
        g_option_context_set_summary (context, _("Guest agent for qemu-kvm virtual machines (Phoenix protocol)."));
        g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
        if (!g_option_context_parse (context, &argc, &argv, &error))
                goto failed;
        if (version) {
                g_print ("phoenix-ga %s\n", PHX_VERSION);
                command_line_clear (&cl);
                return 0;
        }
        if (cl.config != NULL && cl.no_config) {
                g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                             _("--config and --no-config exclude each other"));
                goto failed;
        }
        /* the file's problems are reported as FILE:LINE: message, on a line of their own */
        if (!cl.no_config && !phx_config_load (&config, cl.config != NULL ? cl.config : PHX_DEFAULT_CONFIG_FILE,
                                               cl.config != NULL, &error)) {
                g_printerr ("%s\n", error->message);
                command_line_clear (&cl);
                return 1;
        }
        if (!apply_command_line (&config, &cl, &error))
                goto failed;
        command_line_clear (&cl);
        if (config.debug)
                g_log_set_debug_enabled (TRUE);
        phx_log_install ();

        /* A fixed threshold keeps transfer buffers in mmap'ed blocks that go straight back
         * to the kernel; glibc's sliding threshold would keep the largest one forever. */
        mallopt (M_MMAP_THRESHOLD, 128 * 1024);
        mallopt (M_ARENA_MAX, 1);
        /* Permissions given by the host (perm) are applied exactly, not filtered. */
        umask (0);
        signal (SIGPIPE, SIG_IGN);

        options.method = config.method;
        options.path = config.path;
        options.freeze_timeout = config.freeze_timeout;
        options.fsfreeze_hook = config.fsfreeze_hook;
        options.runtime_dir = config.runtime_dir;
        options.dbus = config.dbus;
        options.allow_commands = (const char *const *) config.allow_commands;
        options.block_commands = (const char *const *) config.block_commands;
        agent = phx_agent_new (&options, &error);
        if (agent == NULL) {
                g_printerr ("%s: %s\n", g_get_prgname (), error->message);
                return 1;
        }
        loop = g_main_loop_new (NULL, FALSE);
        g_unix_signal_add (SIGTERM, on_quit_signal, agent);
        g_unix_signal_add (SIGINT, on_quit_signal, agent);
        g_signal_connect (agent, "shutdown", G_CALLBACK (on_shutdown), loop);
        g_message (_("phoenix-ga %s serving on %s (%s)"), PHX_VERSION, config.path,
                   phx_method_to_string (config.method));
        g_main_loop_run (loop);
        /* A guest that could not be thawed: exit with failure so the service manager starts
         * the agent again, which finds the marker and thaws. */
        return exit_thawed ? 0 : 1;

failed:
        g_printerr ("%s: %s\n", g_get_prgname (), error->message);
        command_line_clear (&cl);
        return 2;
}
