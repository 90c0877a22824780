/* client-accounts.c — the guest's users and power: passwd, ssh-keys, poweroff, reboot, halt. */
#define G_LOG_DOMAIN "client-accounts"

#include "config.h"

#include <glib/gi18n.h>

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "phx-base64.h"

/* One line of the terminal without echo, or of stdin as it comes (a script's pipe). */
static char *
read_secret (const char *prompt)
{
        gboolean tty = isatty (STDIN_FILENO);
        struct termios old, quiet;
        char buf[1024];
        char *line;

        if (tty) {
                fputs (prompt, stderr);
                tcgetattr (STDIN_FILENO, &old);
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t) ECHO;
                tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        line = fgets (buf, sizeof buf, stdin);
        if (tty) {
                tcsetattr (STDIN_FILENO, TCSAFLUSH, &old);
                fputs ("\n", stderr);
        }
        if (line == NULL)
                return NULL;
        buf[strcspn (buf, "\r\n")] = '\0';
        line = g_strdup (buf);
        explicit_bzero (buf, sizeof buf);
        return line;
}

/* passwd USER [--crypted]: the password from the terminal (twice) or one line of stdin */
gboolean
sub_passwd (Ctx *ctx, GError **error)
{
        static const char usage[] = "passwd USER [--crypted]";
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonNode) ret = NULL;
        g_autofree char *pw = NULL;
        g_autofree char *again = NULL;
        g_autofree char *b64 = NULL;
        gboolean crypted = ctx->argc == 3 && g_str_equal (ctx->argv[2], "--crypted");

        if (ctx->argc != 2 && !crypted)
                return client_usage_error (error, usage);
        pw = read_secret (_("New password: "));
        if (pw == NULL || pw[0] == '\0')
                return client_bad_argument (error, "passwd", _("no password given"));
        if (isatty (STDIN_FILENO)) {
                again = read_secret (_("Again: "));
                if (again == NULL || !g_str_equal (pw, again))
                        return client_bad_argument (error, "passwd", _("the two passwords differ"));
        }
        b64 = phx_base64_encode ((const guint8 *) pw, strlen (pw));
        explicit_bzero (pw, strlen (pw));
        json_object_set_string_member (a, "username", ctx->argv[1]);
        json_object_set_string_member (a, "password", b64);
        json_object_set_boolean_member (a, "crypted", crypted);
        ret = client_run (ctx, "set-user-password", a, error);
        return ret != NULL;
}

/* The lines of FILE (or stdin for "-"), each a key. */
static JsonArray *
read_keys (const char *file, GError **error)
{
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        JsonArray *keys;

        if (g_str_equal (file, "-")) {
                g_autoptr(GString) all = g_string_new (NULL);
                char buf[4096];
                size_t n;

                while ((n = fread (buf, 1, sizeof buf, stdin)) > 0)
                        g_string_append_len (all, buf, (gssize) n);
                text = g_string_free (g_steal_pointer (&all), FALSE);
        } else if (!g_file_get_contents (file, &text, NULL, error)) {
                return NULL;
        }
        lines = g_strsplit (text, "\n", -1);
        keys = json_array_new ();
        for (guint i = 0; lines[i] != NULL; i++) {
                g_strstrip (lines[i]);
                if (lines[i][0] != '\0' && lines[i][0] != '#')
                        json_array_add_string_element (keys, lines[i]);
        }
        return keys;
}

/* ssh-keys USER [add|remove|reset FILE|-] */
gboolean
sub_ssh_keys (Ctx *ctx, GError **error)
{
        static const char usage[] = "ssh-keys USER [add|remove|reset FILE|-]";
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonNode) ret = NULL;
        const char *verb = ctx->argc == 4 ? ctx->argv[2] : NULL;
        JsonArray *keys;

        if (ctx->argc != 2 && ctx->argc != 4)
                return client_usage_error (error, usage);
        json_object_set_string_member (a, "username", ctx->argv[1]);
        if (verb == NULL) {
                ret = client_run (ctx, "ssh-get-authorized-keys", a, error);
                if (ret != NULL && !ctx->json) {
                        JsonArray *arr = json_object_get_array_member (json_node_get_object (ret), "keys");
                        for (guint i = 0; i < json_array_get_length (arr); i++)
                                g_print ("%s\n", json_array_get_string_element (arr, i));
                }
                return ret != NULL;
        }
        if (!g_str_equal (verb, "add") && !g_str_equal (verb, "remove") && !g_str_equal (verb, "reset"))
                return client_bad_argument (error, "ssh-keys", _("'%s' is not add, remove or reset (%s)"), verb,
                                            usage);
        keys = read_keys (ctx->argv[3], error);
        if (keys == NULL)
                return FALSE;
        json_object_set_array_member (a, "keys", keys);
        if (g_str_equal (verb, "reset"))
                json_object_set_boolean_member (a, "reset", TRUE);
        ret = client_run (ctx, g_str_equal (verb, "remove") ? "ssh-remove-authorized-keys" : "ssh-add-authorized-keys",
                          a, error);
        return ret != NULL;
}

/* poweroff, reboot, halt: the guest may go down before its answer leaves, which is success */
gboolean
sub_power (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonNode) ret = NULL;
        g_autoptr(GError) local = NULL;
        const char *mode = g_str_equal (ctx->argv[0], "poweroff") ? "powerdown" : ctx->argv[0];

        if (ctx->argc != 1)
                return client_usage_error (error, ctx->argv[0]);
        json_object_set_string_member (a, "mode", mode);
        ret = client_run (ctx, "system-shutdown", a, &local);
        if (ret == NULL && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
                return TRUE;
        if (ret == NULL)
                g_propagate_error (error, g_steal_pointer (&local));
        return ret != NULL;
}
