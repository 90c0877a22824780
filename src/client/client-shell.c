/* client-shell.c — `phoenix-ga-client shell`: raw JSON lines in, replies pretty-printed with
 * error messages decoded from bufb64. On a terminal lines are read with libedit (BSD
 * licensed; GNU readline's GPL would not fit our MIT licence), with history kept in
 * $XDG_STATE_HOME/phoenix-ga-client/history; piped input is read as plain lines. */
#define G_LOG_DOMAIN "client-shell"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "client.h"

#define SHELL_PROMPT "phoenix-ga> "
#define SHELL_HISTORY_MAX 1000

static char *
history_path (void)
{
        g_autofree char *dir = g_build_filename (g_get_user_state_dir (), "phoenix-ga-client", NULL);

        if (g_mkdir_with_parents (dir, 0700) != 0)
                return NULL;
        return g_build_filename (dir, "history", NULL);
}

/* The next line typed or piped, without its newline; NULL at the end of input. */
static char *
next_line (gboolean tty, GIOChannel *in)
{
        char *line = NULL;
        gsize term;

        if (tty) {
                char *typed = readline (SHELL_PROMPT);
                line = typed != NULL ? g_strdup (typed) : NULL;
                free (typed);
                if (line != NULL && line[strspn (line, " \t")] != '\0')
                        add_history (line);
                return line;
        }
        if (g_io_channel_read_line (in, &line, NULL, &term, NULL) != G_IO_STATUS_NORMAL)
                return NULL;
        line[term] = '\0';
        return line;
}

static void
print_reply (const char *reply)
{
        g_autoptr(JsonNode) node = json_from_string (reply, NULL);
        JsonObject *e;
        g_autofree char *msg = NULL;

        if (node == NULL) {
                g_print ("%s\n", reply);
                return;
        }
        client_print_json (node);
        if (!JSON_NODE_HOLDS_OBJECT (node) || !json_object_has_member (json_node_get_object (node), "error"))
                return;
        e = json_object_get_object_member (json_node_get_object (node), "error");
        if (e == NULL)
                return;
        msg = client_error_message (e);
        if (msg != NULL)
                g_print ("# %s\n", msg);
}

gboolean
sub_shell (Ctx *ctx, GError **error)
{
        g_autoptr(GIOChannel) in = g_io_channel_unix_new (STDIN_FILENO);
        gboolean tty = isatty (STDIN_FILENO) && isatty (STDOUT_FILENO);
        g_autofree char *history = tty ? history_path () : NULL;
        gboolean ok = TRUE;

        /* a shell with no agent behind it is no use: say so before the first prompt */
        if (!client_conn_connect (ctx->conn, error))
                return FALSE;
        if (history != NULL) {
                using_history ();
                stifle_history (SHELL_HISTORY_MAX);
                read_history (history); /* none yet is fine */
        }
        for (;;) {
                g_autofree char *line = next_line (tty, in);
                g_autofree char *reply = NULL;

                if (line == NULL)
                        break;
                g_strstrip (line);
                if (line[0] == '\0')
                        continue;
                reply = client_conn_send_line (ctx->conn, line, error);
                if (reply == NULL) {
                        ok = FALSE;
                        break;
                }
                print_reply (reply);
        }
        if (history != NULL && write_history (history) != 0)
                g_printerr (_("phoenix-ga-client: %s: history not saved: %s\n"), history, g_strerror (errno));
        if (tty && ok)
                g_print ("\n");
        return ok;
}
