/* client-login.c — `login [--term T] [USER]`: a guest user's login shell on this terminal,
 * through the agent's own connection (doc/protocol.md, "Login terminal"). After the reply
 * to `login` the connection carries frames: what is typed goes out as `i`, a resize as `w`,
 * the shell's output comes back as `o`, and `x` ends the session with the shell's status,
 * which becomes the client's. The local terminal is raw meanwhile (Ctrl-C, Ctrl-Z are bytes
 * for the guest's shell) and is put back on every way out: signals are read from a
 * signalfd in the one poll loop, never handled asynchronously. */
#define G_LOG_DOMAIN "client-login"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "client.h"
#include "client-limits.h"
#include "phx-json.h"

#define LOGIN_USAGE "login [--term T] [USER]"

/* The terminal as it was, put back by every way out and, as the last net, by atexit(): a
 * library's exit() must not leave the user's terminal raw. The one piece of global state,
 * because atexit handlers take no argument. */
static struct {
        gboolean raw;
        gboolean registered;
        struct termios saved;
        struct termios raw_modes;
} terminal;

static void
restore_terminal (void)
{
        if (terminal.raw) {
                tcsetattr (STDIN_FILENO, TCSANOW, &terminal.saved);
                terminal.raw = FALSE;
        }
}

/* cfmakeraw: no echo, no line editing, no signals from keys, no output processing (the
 * guest's terminal does all of it), bytes as they come. TCSANOW, not TCSAFLUSH: what the
 * user typed ahead while the session started is theirs to send. */
static gboolean
make_raw (void)
{
        if (!terminal.raw && tcsetattr (STDIN_FILENO, TCSANOW, &terminal.raw_modes) == 0)
                terminal.raw = TRUE;
        return terminal.raw;
}

static gboolean
enter_raw (GError **error)
{
        if (tcgetattr (STDIN_FILENO, &terminal.saved) < 0) {
                g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), _("login: the terminal: %s"),
                             g_strerror (errno));
                return FALSE;
        }
        terminal.raw_modes = terminal.saved;
        cfmakeraw (&terminal.raw_modes);
        terminal.raw_modes.c_cc[VMIN] = 1;
        terminal.raw_modes.c_cc[VTIME] = 0;
        if (!terminal.registered) {
                atexit (restore_terminal);
                terminal.registered = TRUE;
        }
        if (!make_raw ()) {
                g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), _("login: the terminal: %s"),
                             g_strerror (errno));
                return FALSE;
        }
        return TRUE;
}

typedef enum {
        LOGIN_RUNNING,
        LOGIN_ENDED,   /* `x` read: its status is the exit status */
        LOGIN_LOST,    /* the connection closed or failed before `x` */
        LOGIN_BROKEN,  /* the agent sent a frame this client cannot read */
} LoginState;

typedef struct {
        int sock;
        int sigfd;
        gboolean tty;             /* stdin is a terminal (raw, escapes, window size) */
        GByteArray *from_agent;   /* read, not yet a whole frame */
        GByteArray *to_agent;     /* frames not yet sent */
        GByteArray *to_stdout;    /* terminal output not yet written */
        LoginState state;
        int status;               /* the exit status once ENDED */
        gboolean stdin_open;
        gboolean sock_writable;   /* FALSE once a send failed: what is left is dropped */
        gboolean stdout_dead;     /* a write failed: the output is dropped */
        gboolean line_start;      /* the last byte typed ended a line: '~' may start an escape */
        gboolean tilde;           /* such a '~', held back until the next byte */
        gboolean hung_up;         /* `h` sent (~., the terminal gone): exit 255 whatever `x` says */
        gint64 deadline;          /* monotonic µs: the wait for `x` after `h`, or for `e` to leave */
        int die_signal;           /* a signal that ends the client, once the terminal is back */
        guint16 rows, cols;       /* the size last sent */
        char *lost_reason;
} Login;

static void
queue_frame (GByteArray *q, char type, const guint8 *data, gsize len)
{
        const guint8 head[5] = { (guint8) type, (guint8) (len >> 24), (guint8) (len >> 16), (guint8) (len >> 8),
                                 (guint8) len };

        g_byte_array_append (q, head, sizeof head);
        if (len > 0)
                g_byte_array_append (q, data, (guint) len);
}

static gboolean
window_size (guint16 *rows, guint16 *cols)
{
        struct winsize ws;

        if (ioctl (STDIN_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
                return FALSE;
        *rows = ws.ws_row;
        *cols = ws.ws_col;
        return TRUE;
}

/* A `w` frame when the terminal's size is not the one last sent. */
static void
send_size (Login *l)
{
        guint16 rows, cols;
        guint8 p[4];

        if (!l->tty || l->hung_up || l->state != LOGIN_RUNNING || !window_size (&rows, &cols) ||
            (rows == l->rows && cols == l->cols))
                return;
        l->rows = rows;
        l->cols = cols;
        p[0] = (guint8) (rows >> 8);
        p[1] = (guint8) rows;
        p[2] = (guint8) (cols >> 8);
        p[3] = (guint8) cols;
        queue_frame (l->to_agent, 'w', p, sizeof p);
}

/* Ends the session from this side: the agent hangs the terminal up and answers with `x`,
 * which is waited for, but not for ever. */
static void
hang_up (Login *l)
{
        if (l->hung_up || l->state != LOGIN_RUNNING)
                return;
        queue_frame (l->to_agent, 'h', NULL, 0);
        l->hung_up = TRUE;
        l->stdin_open = FALSE;
        l->deadline = g_get_monotonic_time () + CLIENT_LOGIN_HANGUP_WAIT_MS * 1000;
}

/* Sends what it can without waiting. */
static void
flush_to_agent (Login *l)
{
        while (l->to_agent->len > 0 && l->sock_writable) {
                ssize_t n = send (l->sock, l->to_agent->data, l->to_agent->len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (n < 0) {
                        /* what the agent sent before it went is still to be read */
                        l->sock_writable = FALSE;
                        g_byte_array_set_size (l->to_agent, 0);
                        return;
                }
                g_byte_array_remove_range (l->to_agent, 0, (guint) n);
        }
}

/* Writes one piece: after POLLOUT a pipe takes PIPE_BUF bytes without blocking, so the loop
 * never waits on a slow reader while a signal or the agent needs it. */
static void
flush_stdout (Login *l)
{
        ssize_t n;

        if (l->to_stdout->len == 0)
                return;
        n = write (STDOUT_FILENO, l->to_stdout->data, MIN (l->to_stdout->len, PIPE_BUF));
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
                return;
        if (n <= 0) {
                /* nobody sees the session any more: end it */
                l->stdout_dead = TRUE;
                g_byte_array_set_size (l->to_stdout, 0);
                hang_up (l);
                return;
        }
        g_byte_array_remove_range (l->to_stdout, 0, (guint) n);
}

static gboolean
int_member (JsonObject *o, const char *name, gint64 *out)
{
        JsonNode *n = json_object_get_member (o, name);

        if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
                return FALSE;
        *out = json_node_get_int (n);
        return TRUE;
}

/* `x`'s payload -> the client's exit status, as a shell reports its child's: the exit code,
 * 128+N for signal N, 255 when the session ended without either. */
static int
exit_status_of (const guint8 *data, gsize len)
{
        g_autoptr(JsonNode) root = phx_json_parse ((const char *) data, len, NULL);
        gint64 v;

        if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
                return 255;
        if (int_member (json_node_get_object (root), "signal", &v) && v > 0 && v < 128)
                return 128 + (int) v;
        if (int_member (json_node_get_object (root), "exitcode", &v) && v >= 0 && v <= 255)
                return (int) v;
        return 255;
}

/* Takes the whole frames read so far. */
static void
read_frames (Login *l)
{
        while (l->state == LOGIN_RUNNING && l->from_agent->len >= 5) {
                const guint8 *d = l->from_agent->data;
                guint8 type = d[0];
                gsize len = (gsize) d[1] << 24 | (gsize) d[2] << 16 | (gsize) d[3] << 8 | d[4];

                if ((type != 'o' && type != 'x') || len > CLIENT_LOGIN_FRAME_MAX) {
                        l->state = LOGIN_BROKEN;
                        l->lost_reason = g_strdup_printf (
                                _("the agent sent a frame this client cannot read (type 0x%02x, %lu bytes)"), type,
                                (unsigned long) len);
                        return;
                }
                if (l->from_agent->len < 5 + len)
                        return;
                if (type == 'o' && !l->stdout_dead) {
                        g_byte_array_append (l->to_stdout, d + 5, (guint) len);
                } else if (type == 'x') {
                        /* the agent's last frame: say it was read, and what follows is requests */
                        l->status = l->hung_up ? 255 : exit_status_of (d + 5, len);
                        l->state = LOGIN_ENDED;
                        queue_frame (l->to_agent, 'e', NULL, 0);
                        l->deadline = g_get_monotonic_time () + CLIENT_LOGIN_END_WAIT_MS * 1000;
                }
                g_byte_array_remove_range (l->from_agent, 0, (guint) (5 + len));
        }
}

static void
read_agent (Login *l)
{
        guint old = l->from_agent->len;
        ssize_t n;

        g_byte_array_set_size (l->from_agent, old + CLIENT_LOGIN_FRAME_MAX);
        n = recv (l->sock, l->from_agent->data + old, CLIENT_LOGIN_FRAME_MAX, MSG_DONTWAIT);
        g_byte_array_set_size (l->from_agent, old + (guint) MAX (n, 0));
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
                return;
        if (n <= 0) {
                l->state = LOGIN_LOST;
                l->lost_reason = n == 0 ? g_strdup (_("the agent closed the connection")) : g_strdup (g_strerror (errno));
                return;
        }
        read_frames (l);
}

/* What was typed -> `i` frames. On a terminal, ssh's escape: "~." at the start of a line
 * disconnects, "~~" sends one '~'; any other byte after '~' goes out with it. */
static void
read_stdin (Login *l)
{
        guint8 buf[CLIENT_LOGIN_FRAME_MAX / 2];
        g_autoptr(GByteArray) typed = NULL;
        ssize_t n = read (STDIN_FILENO, buf, sizeof buf);

        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
                return;
        if (n <= 0) {
                l->stdin_open = FALSE;
                if (l->tty) {
                        hang_up (l); /* the terminal itself went away */
                } else {
                        /* a pipe's end: the shell reads an end of file when the terminal
                         * gets Ctrl-D (at the start of a line), as it would from a person */
                        const guint8 eof = 0x04;
                        queue_frame (l->to_agent, 'i', &eof, 1);
                }
                return;
        }
        if (!l->tty) {
                queue_frame (l->to_agent, 'i', buf, (gsize) n);
                return;
        }
        typed = g_byte_array_sized_new ((guint) n + 1);
        for (ssize_t k = 0; k < n; k++) {
                guint8 b = buf[k];

                if (l->tilde) {
                        l->tilde = FALSE;
                        if (b == '.') {
                                if (typed->len > 0)
                                        queue_frame (l->to_agent, 'i', typed->data, typed->len);
                                hang_up (l);
                                return;
                        }
                        if (b != '~')
                                g_byte_array_append (typed, (const guint8 *) "~", 1);
                } else if (l->line_start && b == '~') {
                        l->tilde = TRUE;
                        continue;
                }
                g_byte_array_append (typed, &b, 1);
                l->line_start = b == '\r' || b == '\n';
        }
        if (typed->len > 0)
                queue_frame (l->to_agent, 'i', typed->data, typed->len);
}

static void
read_signals (Login *l)
{
        struct signalfd_siginfo si;

        while (read (l->sigfd, &si, sizeof si) == sizeof si) {
                switch (si.ssi_signo) {
                case SIGWINCH:
                        send_size (l);
                        break;
                case SIGTSTP:
                        /* stopped from outside (kill -TSTP): the shell gets its terminal back
                         * meanwhile; Ctrl-Z itself is a byte for the guest */
                        restore_terminal ();
                        kill (getpid (), SIGSTOP);
                        break;
                case SIGCONT:
                        /* whoever had the terminal meanwhile may have changed its modes */
                        if (l->tty) {
                                terminal.raw = FALSE;
                                make_raw ();
                                send_size (l);
                        }
                        break;
                default: /* SIGTERM, SIGHUP, SIGINT, SIGQUIT */
                        l->die_signal = (int) si.ssi_signo;
                        break;
                }
        }
}

static gboolean
done (Login *l, gint64 now)
{
        if (l->die_signal != 0 || l->state == LOGIN_BROKEN)
                return TRUE;
        if (l->state == LOGIN_LOST)
                return l->to_stdout->len == 0;
        if (l->state == LOGIN_ENDED)
                return l->to_stdout->len == 0 && (l->to_agent->len == 0 || !l->sock_writable || now >= l->deadline);
        return l->hung_up && now >= l->deadline;
}

static void
run (Login *l)
{
        for (;;) {
                struct pollfd p[4] = {
                        { .fd = l->sigfd, .events = POLLIN },
                        { .fd = l->sock },
                        { .fd = STDIN_FILENO, .events = POLLIN },
                        { .fd = STDOUT_FILENO, .events = POLLOUT },
                };
                gint64 now = g_get_monotonic_time ();
                int timeout = -1;

                flush_to_agent (l);
                if (done (l, now))
                        return;
                if (l->state == LOGIN_RUNNING && l->to_stdout->len < CLIENT_LOGIN_OUTPUT_QUEUE)
                        p[1].events |= POLLIN;
                if (l->state != LOGIN_LOST && l->sock_writable && l->to_agent->len > 0)
                        p[1].events |= POLLOUT;
                if (p[1].events == 0)
                        p[1].fd = -1; /* nothing to do there: a hung-up socket must not wake us */
                if (!l->stdin_open || l->state != LOGIN_RUNNING || l->to_agent->len >= CLIENT_LOGIN_INPUT_QUEUE)
                        p[2].fd = -1;
                if (l->to_stdout->len == 0)
                        p[3].fd = -1;
                if (l->hung_up || l->state == LOGIN_ENDED)
                        timeout = (int) MAX ((l->deadline - now + 999) / 1000, 0);
                if (poll (p, G_N_ELEMENTS (p), timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        l->state = LOGIN_BROKEN;
                        l->lost_reason = g_strdup_printf ("poll: %s", g_strerror (errno));
                        return;
                }
                /* signals first: a resize made before a key was typed reaches the guest first */
                if (p[0].revents != 0)
                        read_signals (l);
                if (p[1].revents & POLLOUT)
                        flush_to_agent (l);
                if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && p[1].events & POLLIN) {
                        read_agent (l);
                } else if (p[1].revents & (POLLHUP | POLLERR)) {
                        /* only writing was wanted, and the socket is gone: stop trying */
                        flush_to_agent (l);
                        l->sock_writable = FALSE;
                        g_byte_array_set_size (l->to_agent, 0);
                }
                if (p[2].revents != 0)
                        read_stdin (l);
                if (p[3].revents != 0)
                        flush_stdout (l);
        }
}

static gboolean
valid_term (const char *name)
{
        gsize len = strlen (name);

        if (len == 0 || len > CLIENT_LOGIN_TERM_MAX)
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                if (!g_ascii_isalnum (name[i]) && strchr ("._+-", name[i]) == NULL)
                        return FALSE;
        }
        return TRUE;
}

static gboolean
parse_login_args (Ctx *ctx, JsonObject *a, GError **error)
{
        const char *term = NULL, *user = NULL;

        for (int i = 1; i < ctx->argc; i++) {
                const char *arg = ctx->argv[i];

                if (g_str_equal (arg, "--term")) {
                        if (i + 1 >= ctx->argc)
                                return client_bad_argument (error, "login", _("%s needs a value"), arg);
                        term = ctx->argv[++i];
                        if (!valid_term (term))
                                return client_bad_argument (
                                        error, "login",
                                        _("--term '%s' is not a terminal name (letters, digits, ._+-, at most %d bytes)"),
                                        term, CLIENT_LOGIN_TERM_MAX);
                } else if (arg[0] == '-' && arg[1] != '\0') {
                        return client_bad_argument (error, "login", _("unknown option '%s' (%s)"), arg, LOGIN_USAGE);
                } else if (user == NULL) {
                        user = arg;
                } else {
                        return client_bad_argument (error, "login", _("one argument too many: '%s'"), arg);
                }
        }
        if (user != NULL)
                json_object_set_string_member (a, "user", user);
        /* $TERM when it names a terminal the guest can look up; else the guest's default */
        if (term == NULL && g_getenv ("TERM") != NULL && valid_term (g_getenv ("TERM")))
                term = g_getenv ("TERM");
        if (term != NULL)
                json_object_set_string_member (a, "term", term);
        return TRUE;
}

/* After `e`, one request whose answer proves the agent read it, before the client leaves. On
 * a socket this costs a round trip; on a virtio-serial port it is needed: the guest learns
 * of the host's departure apart from its data, and may take the host as gone before it has
 * read the last bytes it sent, which the next host's connection would then begin with (5
 * bytes of `e`, NULs included, in front of its first request). Every other subcommand reads
 * the answer to what it sent last; `e` has none of its own. */
static void
confirm_end (ClientConn *conn)
{
        g_autoptr(JsonNode) ret = NULL;

        client_conn_set_timeout (conn, CLIENT_LOGIN_END_WAIT_MS / 1000);
        ret = client_conn_call (conn, "ping", NULL, NULL);
}

/* The signals the loop reads: a resize, a stop and continue from outside, and those that end
 * the client (in raw mode no key sends them: they come from kill or a closed terminal). */
static const int loop_signals[] = { SIGWINCH, SIGCONT, SIGTSTP, SIGTERM, SIGHUP, SIGINT, SIGQUIT };

gboolean
sub_login (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonNode) ret = NULL;
        sigset_t mask, old_mask;
        struct sigaction ignore = { .sa_handler = SIG_IGN }, old_pipe;
        g_autoptr(GError) local = NULL;
        Login l = { .sigfd = -1, .stdin_open = TRUE, .sock_writable = TRUE, .line_start = TRUE };

        if (!parse_login_args (ctx, a, error))
                return FALSE;
        l.tty = isatty (STDIN_FILENO);
        if (l.tty && window_size (&l.rows, &l.cols)) {
                json_object_set_int_member (a, "rows", l.rows);
                json_object_set_int_member (a, "cols", l.cols);
        }
        ret = client_conn_call (ctx->conn, "login", a, error);
        if (ret == NULL)
                return FALSE;

        l.from_agent = g_byte_array_new ();
        l.to_agent = g_byte_array_new ();
        l.to_stdout = g_byte_array_new ();
        l.sock = client_conn_take_stream (ctx->conn, l.from_agent);
        /* from here on signals are events of the loop, so no exit skips the terminal */
        sigemptyset (&mask);
        for (guint i = 0; i < G_N_ELEMENTS (loop_signals); i++)
                sigaddset (&mask, loop_signals[i]);
        sigprocmask (SIG_BLOCK, &mask, &old_mask);
        sigaction (SIGPIPE, &ignore, &old_pipe);
        l.sigfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (l.sigfd < 0) {
                l.state = LOGIN_BROKEN;
                l.lost_reason = g_strdup_printf ("signalfd: %s", g_strerror (errno));
        } else if (l.tty && !enter_raw (&local)) {
                l.state = LOGIN_BROKEN;
                l.lost_reason = g_strdup (local->message);
        } else {
                read_frames (&l); /* the reply may have come with the first frames */
                send_size (&l);   /* resized while the session started */
                run (&l);
        }
        restore_terminal ();
        if (l.sigfd >= 0)
                close (l.sigfd);
        if (l.state == LOGIN_ENDED && l.to_agent->len == 0 && l.sock_writable && l.die_signal == 0)
                confirm_end (ctx->conn);

        if (l.die_signal != 0) {
                /* closing the connection hangs the session up (no `h`: on a port, bytes
                 * sent just before leaving may be read as the next host's), then die of the
                 * signal, as the shell that sent it expects */
                client_conn_free (ctx->conn);
                ctx->conn = NULL;
                signal (l.die_signal, SIG_DFL);
                sigdelset (&old_mask, l.die_signal);
                sigprocmask (SIG_SETMASK, &old_mask, NULL);
                raise (l.die_signal);
                ctx->exit_status = 128 + l.die_signal; /* not reached: the signal ends the client */
        } else if (l.hung_up) {
                ctx->exit_status = 255;
                g_printerr (_("phoenix-ga-client: login: disconnected\n"));
        } else if (l.state == LOGIN_ENDED) {
                ctx->exit_status = l.status;
        } else {
                ctx->exit_status = 255;
                g_printerr (_("phoenix-ga-client: login: the session was lost: %s\n"), l.lost_reason);
        }
        sigaction (SIGPIPE, &old_pipe, NULL);
        sigprocmask (SIG_SETMASK, &old_mask, NULL);
        g_free (l.lost_reason);
        g_byte_array_unref (l.from_agent);
        g_byte_array_unref (l.to_agent);
        g_byte_array_unref (l.to_stdout);
        return TRUE;
}
