/* client-exec.c — `exec`: runs a command in the guest the way `ssh host cmd` runs one. The
 * host's stdin (when it is not a terminal) becomes the command's input, its output streams
 * to the host's stdout and stderr as it comes (exec-status with offsets), the client exits
 * with the command's status (128+N for a signal), and Ctrl-C is passed on to the command's
 * process group (a second one kills it). */
#define G_LOG_DOMAIN "client-exec"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "client-limits.h"
#include "phx-base64.h"

#define EXEC_USAGE "exec [--timeout S] [--cwd DIR] [--env K=V]... [--user U] -- CMD [ARGS]"

static volatile sig_atomic_t interrupts;

static void
on_sigint (int sig)
{
        interrupts++;
}

static gboolean
parse_exec_args (Ctx *ctx, JsonObject *a, int *cmd, GError **error)
{
        g_autoptr(JsonArray) env = json_array_new ();
        int i;

        for (i = 1; i < ctx->argc; i++) {
                const char *opt = ctx->argv[i];
                const char *val = i + 1 < ctx->argc ? ctx->argv[i + 1] : NULL;
                gint64 seconds;

                if (g_str_equal (opt, "--"))
                        break;
                if (opt[0] != '-')
                        break; /* the command, without -- */
                if (!g_str_equal (opt, "--timeout") && !g_str_equal (opt, "--cwd") && !g_str_equal (opt, "--env") &&
                    !g_str_equal (opt, "--user"))
                        return client_bad_argument (error, "exec", _("unknown option '%s' (%s)"), opt, EXEC_USAGE);
                if (val == NULL)
                        return client_bad_argument (error, "exec", _("%s needs a value"), opt);
                if (g_str_equal (opt, "--timeout")) {
                        if (!g_ascii_string_to_signed (val, 10, 1, 7 * 24 * 3600, &seconds, NULL))
                                return client_bad_argument (error, "exec",
                                                            _("--timeout '%s' is not a number of seconds (1 to 604800)"),
                                                            val);
                        json_object_set_int_member (a, "timeout", seconds);
                } else if (g_str_equal (opt, "--cwd")) {
                        json_object_set_string_member (a, "cwd", val);
                } else if (g_str_equal (opt, "--user")) {
                        json_object_set_string_member (a, "user", val);
                } else {
                        if (strchr (val, '=') == NULL)
                                return client_bad_argument (error, "exec", _("--env '%s' is not NAME=VALUE"), val);
                        json_array_add_string_element (env, val);
                }
                i++;
        }
        if (i < ctx->argc && g_str_equal (ctx->argv[i], "--"))
                i++;
        if (i >= ctx->argc)
                return client_bad_argument (error, "exec", _("no command given (%s)"), EXEC_USAGE);
        *cmd = i;
        if (json_array_get_length (env) > 0)
                json_object_set_array_member (a, "env", g_steal_pointer (&env));
        return TRUE;
}

/* All of stdin when it is a file or a pipe (bounded: it travels in one request). */
static gboolean
read_input (JsonObject *a, GError **error)
{
        g_autoptr(GByteArray) data = g_byte_array_new ();
        guint8 buf[65536];
        ssize_t n;
        g_autofree char *text = NULL;

        if (isatty (STDIN_FILENO))
                return TRUE;
        while ((n = read (STDIN_FILENO, buf, sizeof buf)) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), _("stdin: %s"),
                                     g_strerror (errno));
                        return FALSE;
                }
                g_byte_array_append (data, buf, (guint) n);
                if (data->len > CLIENT_EXEC_INPUT_MAX) {
                        g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                     _("stdin is over %lu bytes: too much to send with the command"),
                                     (unsigned long) CLIENT_EXEC_INPUT_MAX);
                        return FALSE;
                }
        }
        if (data->len == 0)
                return TRUE;
        text = phx_base64_encode (data->data, data->len);
        json_object_set_string_member (a, "input-data", text);
        return TRUE;
}

/* Writes what came of one stream since the last time; returns the new offset. */
static gint64
drain (JsonObject *st, const char *prefix, FILE *to, gint64 offset)
{
        g_autofree char *data_name = g_strdup_printf ("%s-data", prefix);
        g_autofree char *end_name = g_strdup_printf ("%s-end", prefix);
        const char *text = json_object_get_string_member_with_default (st, data_name, "");
        g_autoptr(GBytes) bytes = phx_base64_decode (text, strlen (text), NULL);

        if (bytes != NULL && g_bytes_get_size (bytes) > 0) {
                fwrite (g_bytes_get_data (bytes, NULL), 1, g_bytes_get_size (bytes), to);
                fflush (to);
        }
        return json_object_get_int_member_with_default (st, end_name, offset);
}

gboolean
sub_exec (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonArray) args = json_array_new ();
        g_autoptr(JsonNode) started = NULL;
        struct sigaction sa = { 0 }, old;
        gint64 pid, out = 0, err = 0;
        guint delay_ms = CLIENT_EXEC_POLL_MIN_MS;
        int cmd = 0, sent = 0;

        if (!parse_exec_args (ctx, a, &cmd, error))
                return FALSE;
        json_object_set_string_member (a, "path", ctx->argv[cmd]);
        for (int i = cmd + 1; i < ctx->argc; i++)
                json_array_add_string_element (args, ctx->argv[i]);
        json_object_set_array_member (a, "arg", g_steal_pointer (&args));
        json_object_set_string_member (a, "capture-output", "separated");
        if (!read_input (a, error))
                return FALSE;
        started = client_conn_call (ctx->conn, "exec", a, error);
        if (started == NULL)
                return FALSE;
        pid = json_object_get_int_member (json_node_get_object (started), "pid");

        sa.sa_handler = on_sigint;
        sigaction (SIGINT, &sa, &old);
        for (;;) {
                g_autoptr(JsonObject) sa_args = client_args_new ();
                g_autoptr(JsonNode) ret = NULL;
                JsonObject *st;
                gint64 new_out, new_err;
                gboolean moved;

                if (interrupts > sent) {
                        g_autoptr(JsonObject) ka = client_args_new ();
                        g_autoptr(JsonNode) killed = NULL;
                        json_object_set_int_member (ka, "pid", pid);
                        json_object_set_int_member (ka, "signal", interrupts > 1 ? SIGKILL : SIGINT);
                        killed = client_conn_call (ctx->conn, "exec-kill", ka, NULL); /* it may have exited */
                        sent = interrupts;
                }
                json_object_set_int_member (sa_args, "pid", pid);
                json_object_set_int_member (sa_args, "out-offset", out);
                json_object_set_int_member (sa_args, "err-offset", err);
                ret = client_conn_call (ctx->conn, "exec-status", sa_args, error);
                if (ret == NULL) {
                        sigaction (SIGINT, &old, NULL);
                        return FALSE;
                }
                st = json_node_get_object (ret);
                new_out = drain (st, "out", stdout, out);
                new_err = drain (st, "err", stderr, err);
                if (json_object_get_boolean_member (st, "exited") &&
                    new_out >= json_object_get_int_member_with_default (st, "out-captured", 0) &&
                    new_err >= json_object_get_int_member_with_default (st, "err-captured", 0)) {
                        sigaction (SIGINT, &old, NULL);
                        if (json_object_get_boolean_member_with_default (st, "timed-out", FALSE))
                                g_printerr (_("phoenix-ga-client: exec: the command timed out and was killed\n"));
                        if (json_object_has_member (st, "signal"))
                                ctx->exit_status = 128 + (int) json_object_get_int_member (st, "signal");
                        else
                                ctx->exit_status = (int) json_object_get_int_member (st, "exitcode");
                        return TRUE;
                }
                /* output coming: ask again at once; quiet: back off to a few times a second */
                moved = new_out != out || new_err != err;
                out = new_out;
                err = new_err;
                if (moved) {
                        delay_ms = CLIENT_EXEC_POLL_MIN_MS;
                } else if (interrupts == sent) {
                        g_usleep (delay_ms * 1000); /* a Ctrl-C cuts it short */
                        delay_ms = MIN (delay_ms * 2, CLIENT_EXEC_POLL_MAX_MS);
                }
        }
}
