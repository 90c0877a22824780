/* phoenix-ga-client — the host-side command line for phoenix-ga: one subcommand per
 * protocol command, readable output (or the raw reply with --json), errors as
 * "phoenix-ga-client: MESSAGE (errno NAME)" and a non-zero exit status. */
#define G_LOG_DOMAIN "phoenix-ga-client"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "phx-base64.h"
#include "phx-error.h"

static gboolean
sub_simple (Ctx *ctx, const char *execute, GError **error)
{
        g_autoptr(JsonNode) ret = client_run (ctx, execute, NULL, error);

        if (ret == NULL)
                return FALSE;
        if (!ctx->json)
                client_print_json (ret);
        return TRUE;
}

static gboolean sub_ping (Ctx *c, GError **e) { return sub_simple (c, "ping", e); }
static gboolean sub_freeze (Ctx *c, GError **e) { return sub_simple (c, "fs-freeze", e); }
static gboolean sub_thaw (Ctx *c, GError **e) { return sub_simple (c, "fs-unfreeze", e); }
static gboolean sub_shutdown (Ctx *c, GError **e) { return sub_simple (c, "agent-shutdown", e); }

/* In the words a person uses (and qemu-ga's guest-fsfreeze-status answers): thawed or frozen. */
static gboolean
sub_freeze_status (Ctx *ctx, GError **error)
{
        g_autoptr(JsonNode) ret = client_run (ctx, "get-freeze-status", NULL, error);

        if (ret == NULL)
                return FALSE;
        if (!ctx->json)
                g_print ("%s\n", json_node_get_boolean (ret) ? "frozen" : "thawed");
        return TRUE;
}

static gboolean
sub_commands (Ctx *ctx, GError **error)
{
        g_autoptr(JsonNode) ret = client_run (ctx, "get-commands", NULL, error);

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
                return client_usage_error (error, "call NAME [JSON-ARGUMENTS]");
        if (ctx->argc == 3) {
                args = json_from_string (ctx->argv[2], error);
                if (args == NULL || !JSON_NODE_HOLDS_OBJECT (args)) {
                        if (error != NULL && *error == NULL)
                                client_usage_error (error, "call NAME [JSON-ARGUMENTS]  (arguments must be a JSON object)");
                        return FALSE;
                }
        }
        ret = client_run (ctx, ctx->argv[1], args != NULL ? json_node_get_object (args) : NULL, error);
        if (ret == NULL)
                return FALSE;
        if (!ctx->json)
                client_print_json (ret);
        return TRUE;
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
        g_autoptr(JsonNode) ret = client_run (ctx, "sysinfo", NULL, error);
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

static const struct {
        const char *name;
        SubFunc func;
        const char *help; /* NULL: not listed in --help (the completion's helper) */
} subcommands[] = {
        { "ping", sub_ping, N_("the agent's version") },
        { "commands", sub_commands, N_("the commands the agent accepts") },
        { "call", sub_call, N_("NAME [JSON-ARGUMENTS]: any command, raw") },
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
        { "freeze", sub_freeze, N_("freeze the guest's filesystems") },
        { "thaw", sub_thaw, N_("thaw them") },
        { "freeze-status", sub_freeze_status, N_("whether they are frozen") },
        { "shutdown-agent", sub_shutdown, N_("stop the agent") },
        { "passwd", sub_passwd, N_("USER [--crypted]: set a guest user's password (read from the terminal or stdin)") },
        { "ssh-keys", sub_ssh_keys, N_("USER [add|remove|reset FILE|-]: a guest user's SSH keys") },
        { "poweroff", sub_power, N_("power the guest off") },
        { "reboot", sub_power, N_("reboot the guest") },
        { "halt", sub_power, N_("halt the guest") },
        { "info", sub_info, N_("system information, readable") },
        { "exec", sub_exec, "[--timeout S] [--cwd DIR] [--env K=V]... [--user U] -- CMD [ARGS]" },
        { "login", sub_login, N_("[--term T] [USER]: a guest user's login shell on this terminal (~. leaves)") },
        { "shell", sub_shell, N_("raw JSON lines in, pretty replies out") },
        { "ifaces", sub_ifaces, N_("network interfaces, a table") },
        { "addr", sub_addr, "add|del CIDR dev IFNAME" },
        { "link", sub_link, "up|down IFNAME" },
        { "routes", sub_routes, "[-4|-6]" },
        { "route", sub_route, "add|del DST dev IFNAME [via GATEWAY] [src ADDR] [scope NAME|N]" },
        { "__complete-path", sub_complete_path, NULL },
};

static void
print_error (const GError *error)
{
        if (error->domain == PHX_ERROR && error->code > 0)
                g_printerr (_("phoenix-ga-client: %s (errno %s)\n"), error->message, strerrorname_np (error->code));
        else
                g_printerr ("phoenix-ga-client: %s\n", error->message);
}

int
main (int argc, char **argv)
{
        g_autofree char *socket_path = NULL;
        gboolean json = FALSE, timing = FALSE, version = FALSE;
        gint timeout = 30;
        const GOptionEntry entries[] = {
                { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
                  N_("The agent's socket: PATH, unix:PATH or vsock:CID:PORT (default: $PHOENIX_GA_SOCKET)"),
                  N_("PATH") },
                { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the raw reply"), NULL },
                { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
                  N_("Seconds to wait for the agent to connect or answer (default 30)"), N_("SECONDS") },
                { "timing", 0, 0, G_OPTION_ARG_NONE, &timing,
                  N_("get/put: print transfer=SECONDS verify=SECONDS on stderr"), NULL },
                { "version", 'V', 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
                { NULL }
        };
        g_autoptr(GOptionContext) context = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) desc = NULL;
        Ctx ctx = { 0 };

        setlocale (LC_ALL, "");
        bindtextdomain (CLIENT_GETTEXT_PACKAGE, LOCALEDIR);
        bind_textdomain_codeset (CLIENT_GETTEXT_PACKAGE, "UTF-8");
        textdomain (CLIENT_GETTEXT_PACKAGE);
        context = g_option_context_new (_("COMMAND [ARGS]"));
        desc = g_string_new (_("Commands:\n"));
        /* get/put allocate and free a chunk-sized buffer per request: kept in the heap they
         * are reused as they are, instead of being mapped, faulted in and zeroed each time */
        mallopt (M_MMAP_THRESHOLD, 256 * 1024 * 1024);
        mallopt (M_TRIM_THRESHOLD, 512 * 1024 * 1024);
        for (guint i = 0; i < G_N_ELEMENTS (subcommands); i++) {
                if (subcommands[i].help != NULL)
                        g_string_append_printf (desc, "  %-15s %s\n", subcommands[i].name, _(subcommands[i].help));
        }
        g_option_context_add_main_entries (context, entries, CLIENT_GETTEXT_PACKAGE);
        g_option_context_set_description (context, desc->str);
        /* options of the subcommand (put --mode, mkdir -m) are its own */
        g_option_context_set_strict_posix (context, TRUE);
        if (!g_option_context_parse (context, &argc, &argv, &error)) {
                g_printerr ("phoenix-ga-client: %s\n", error->message);
                return 2;
        }
        if (version) {
                g_print ("phoenix-ga-client %s\n", PHX_VERSION);
                return 0;
        }
        if (argc < 2) {
                g_printerr (_("phoenix-ga-client: no command given (see --help)\n"));
                return 2;
        }
        if (socket_path == NULL)
                socket_path = g_strdup (g_getenv ("PHOENIX_GA_SOCKET"));
        if (socket_path == NULL) {
                g_printerr (_("phoenix-ga-client: no socket: use --socket or set PHOENIX_GA_SOCKET\n"));
                return 2;
        }
        for (guint i = 0; i < G_N_ELEMENTS (subcommands); i++) {
                if (!g_str_equal (argv[1], subcommands[i].name))
                        continue;
                ctx.json = json;
                ctx.timing = timing;
                ctx.argc = argc - 1;
                ctx.argv = argv + 1;
                ctx.conn = client_conn_new (socket_path, (guint) MAX (timeout, 1));
                if (!subcommands[i].func (&ctx, &error)) {
                        print_error (error);
                        client_conn_free (ctx.conn);
                        return g_error_matches (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE) ? 2 : 1;
                }
                client_conn_free (ctx.conn);
                return ctx.exit_status;
        }
        g_printerr (_("phoenix-ga-client: unknown command '%s' (see --help)\n"), argv[1]);
        return 2;
}

