/* login-session.c — one login: the shell on its terminal, and the connection the login
 * request handed over (doc/protocol.md, "Login terminal"). The host's frames become the
 * terminal's input and window size; the terminal's output goes back as frames; when the
 * shell has exited (or the line was hung up) the exit frame goes out and, once the host has
 * read it and said so, the connection is handed back for requests.
 *
 * Bounds: the terminal is read only while less than PHX_LOGIN_OUTPUT_QUEUE of its output
 * waits for the host, and the connection only while the terminal takes input, so a session
 * holds at most a frame and a read of each direction. "ended" is emitted once the shell has
 * been reaped and its exit told (or nobody is left to tell): the slot is free. */
#define G_LOG_DOMAIN "login-session"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>

#include "login-session.h"
#include "phx-limits.h"

#define HEADER 5 /* type, payload length (32 bits, big-endian) */

struct _PhxLoginSession {
        GObject parent_instance;
        guint number;
        char *user;
        PhxLoginPty pty;
        gint64 started;         /* monotonic */
        guint read_id;          /* the terminal is watched for output */
        guint write_id;         /* ... for room for input that waits */
        guint child_id;         /* the shell's child watch, until it is reaped */
        guint drain_id;         /* after the shell exited: the grace for what it left */
        guint kill_id;          /* after a hang-up: the grace before SIGKILL */
        PhxConnection *conn;    /* the stream, while attached */
        GByteArray *in;         /* the host's bytes not yet taken as frames */
        GByteArray *input;      /* terminal input it would not take yet */
        gboolean terminal_eof;  /* nobody holds the terminal any more */
        gboolean exited;
        int wait_status;
        const char *hung_up;    /* why the line was hung up; NULL while it is not */
        pid_t foreground;       /* the terminal's foreground process group when it was */
        gboolean exit_sent;
        gboolean end_read;      /* the host's `e` */
        gboolean host_eof;      /* the host shut down its sending side */
        gboolean attached;      /* the login's reply went out (or never will) */
        gboolean framed;        /* the host's first frame came */
        gboolean ended;
};

enum { SIGNAL_ENDED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxLoginSession, phx_login_session, G_TYPE_OBJECT)

static void parse_frames (PhxLoginSession *self);
static void watch_output (PhxLoginSession *self);

static void
frame_header (guint8 *frame, char type, gsize len)
{
        frame[0] = (guint8) type;
        frame[1] = (guint8) (len >> 24);
        frame[2] = (guint8) (len >> 16);
        frame[3] = (guint8) (len >> 8);
        frame[4] = (guint8) len;
}

static void
send_frame (PhxLoginSession *self, char type, const void *payload, gsize len)
{
        g_autoptr(GBytes) bytes = NULL;
        guint8 *frame = g_malloc (HEADER + len);

        frame_header (frame, type, len);
        if (len > 0)
                memcpy (frame + HEADER, payload, len);
        bytes = g_bytes_new_take (frame, HEADER + len);
        phx_connection_send (self->conn, bytes);
}

/* The connection is no longer this session's: closed, or handed back for requests. */
static void
detach (PhxLoginSession *self)
{
        if (self->conn == NULL)
                return;
        g_clear_handle_id (&self->read_id, g_source_remove);
        g_signal_handlers_disconnect_by_data (self->conn, self);
        g_clear_object (&self->conn);
        g_clear_pointer (&self->in, g_byte_array_unref);
        g_object_unref (self); /* the reference attach took */
}

/* `x` sent and `e` read (or the host sends nothing more): the rest is requests. */
static void
hand_back (PhxLoginSession *self, const guint8 *rest, gsize len)
{
        g_autoptr(PhxConnection) conn = g_object_ref (self->conn);
        g_autoptr(GBytes) requests = g_bytes_new (rest, len); /* rest may be in self->in */

        detach (self);
        phx_connection_end_stream (conn, g_bytes_get_data (requests, NULL), len);
}

static void
stop_terminal_io (PhxLoginSession *self)
{
        g_clear_handle_id (&self->read_id, g_source_remove);
        g_clear_handle_id (&self->write_id, g_source_remove);
        if (self->input != NULL)
                g_byte_array_set_size (self->input, 0);
}

static void
log_end (PhxLoginSession *self)
{
        gint64 s = (g_get_monotonic_time () - self->started) / G_USEC_PER_SEC;
        g_autofree char *how = NULL;

        if (WIFSIGNALED (self->wait_status))
                how = g_strdup_printf ("killed by signal %d", WTERMSIG (self->wait_status));
        else
                how = g_strdup_printf ("exit status %d", WEXITSTATUS (self->wait_status));
        g_message ("login session %u: user '%s' on %s ended after %" G_GINT64_FORMAT ":%02d:%02d (%s%s%s)",
                   self->number, self->user, self->pty.tty, s / 3600, (int) (s / 60 % 60), (int) (s % 60), how,
                   self->hung_up != NULL ? "; hung up: " : "", self->hung_up != NULL ? self->hung_up : "");
}

/* The shell was reaped and the terminal has nothing more to give (or its grace ran out):
 * the exit frame goes out, and whatever still holds the terminal is hung up. */
static void
finish (PhxLoginSession *self)
{
        if (self->ended)
                return;
        self->ended = TRUE;
        g_clear_handle_id (&self->drain_id, g_source_remove);
        g_clear_handle_id (&self->kill_id, g_source_remove);
        stop_terminal_io (self);
        if (self->pty.master >= 0) {
                close (self->pty.master);
                self->pty.master = -1;
        }
        log_end (self);
        g_object_ref (self);
        if (self->conn != NULL) {
                g_autofree char *status = NULL;

                if (WIFSIGNALED (self->wait_status))
                        status = g_strdup_printf ("{\"signal\":%d%s}", WTERMSIG (self->wait_status),
                                                  self->hung_up != NULL ? ",\"hung-up\":true" : "");
                else
                        status = g_strdup_printf ("{\"exitcode\":%d%s}", WEXITSTATUS (self->wait_status),
                                                  self->hung_up != NULL ? ",\"hung-up\":true" : "");
                send_frame (self, 'x', status, strlen (status));
                self->exit_sent = TRUE;
                /* what followed the host's `e` is requests (the write may have found the
                 * connection gone: detached then) */
                if (self->conn == NULL)
                        ;
                else if (self->end_read)
                        hand_back (self, self->in->data, self->in->len);
                else if (self->host_eof)
                        hand_back (self, NULL, 0);
                else
                        parse_frames (self); /* an `e` may be waiting already */
        }
        g_signal_emit (self, signals[SIGNAL_ENDED], 0);
        g_object_unref (self);
}

static gboolean
on_drain_timeout (gpointer user_data)
{
        PhxLoginSession *self = user_data;

        self->drain_id = 0;
        finish (self);
        return G_SOURCE_REMOVE;
}

static void
on_child_exit (GPid pid, gint status, gpointer user_data)
{
        PhxLoginSession *self = user_data;

        self->child_id = 0;
        self->exited = TRUE;
        self->wait_status = status;
        g_spawn_close_pid (pid);
        /* before the reply went out: attach tells the end */
        if (!self->attached)
                return;
        /* what it left behind may still be writing: a bounded grace, as for exec's pipes */
        if (self->terminal_eof || self->pty.master < 0 || self->conn == NULL)
                finish (self);
        else
                self->drain_id = g_timeout_add (PHX_EXEC_PIPE_GRACE_MS, on_drain_timeout, self);
}

static gboolean
on_kill_timeout (gpointer user_data)
{
        PhxLoginSession *self = user_data;

        self->kill_id = 0;
        if (!self->exited) {
                g_message ("login session %u: the shell outlived its hang-up by %d s: killed", self->number,
                           PHX_LOGIN_HANGUP_GRACE_MS / 1000);
                kill (-self->pty.pid, SIGKILL);
                kill (self->pty.pid, SIGKILL);
                /* and the job it was running, which is a process group of its own */
                if (self->foreground > 1 && self->foreground != self->pty.pid)
                        kill (-self->foreground, SIGKILL);
        }
        return G_SOURCE_REMOVE;
}

/* Hangs the line up: the terminal's host side is closed, so the kernel sends SIGHUP to the
 * shell and its foreground job; one that ignores it is killed after a grace. */
void
phx_login_session_hang_up (PhxLoginSession *self, const char *why)
{
        if (self->hung_up != NULL || self->ended)
                return;
        self->hung_up = why;
        self->attached = TRUE; /* a line hung up before its reply never gets one */
        stop_terminal_io (self);
        if (self->pty.master >= 0) {
                self->foreground = tcgetpgrp (self->pty.master);
                close (self->pty.master);
                self->pty.master = -1;
        }
        if (self->exited)
                finish (self);
        else
                self->kill_id = g_timeout_add (PHX_LOGIN_HANGUP_GRACE_MS, on_kill_timeout, self);
}

/* The terminal's output, read straight into a frame. */
static gboolean
on_output (int fd, GIOCondition condition, gpointer user_data)
{
        PhxLoginSession *self = user_data;
        /* a failed write closes the connection, which may end the session and drop the last
         * references to it before the loop looks at it again */
        g_autoptr(PhxLoginSession) alive = g_object_ref (self);

        while (phx_connection_get_queued (self->conn) < PHX_LOGIN_OUTPUT_QUEUE) {
                g_autofree guint8 *frame = g_malloc (HEADER + PHX_LOGIN_FRAME_MAX);
                ssize_t n = read (fd, frame + HEADER, PHX_LOGIN_FRAME_MAX);

                if (n > 0) {
                        g_autoptr(GBytes) bytes = NULL;

                        frame_header (frame, 'o', n);
                        bytes = g_bytes_new_take (g_realloc (g_steal_pointer (&frame), HEADER + n), HEADER + n);
                        phx_connection_send (self->conn, bytes);
                        if (self->conn == NULL || phx_connection_is_closed (self->conn))
                                break;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return G_SOURCE_CONTINUE;
                /* EIO: nobody holds the terminal any more */
                self->read_id = 0;
                self->terminal_eof = TRUE;
                if (self->exited)
                        finish (self);
                return G_SOURCE_REMOVE;
        }
        /* the host is behind: read on once it has taken what waits ("drained") */
        self->read_id = 0;
        return G_SOURCE_REMOVE;
}

static void
watch_output (PhxLoginSession *self)
{
        if (self->read_id == 0 && self->pty.master >= 0 && !self->terminal_eof && self->conn != NULL &&
            phx_connection_get_queued (self->conn) < PHX_LOGIN_OUTPUT_QUEUE)
                self->read_id = g_unix_fd_add (self->pty.master, G_IO_IN, on_output, self);
}

static gboolean on_input_room (int fd, GIOCondition condition, gpointer user_data);

/* Writes the input that waits; TRUE once none does. */
static gboolean
flush_input (PhxLoginSession *self)
{
        while (self->input->len > 0 && self->pty.master >= 0) {
                ssize_t n = write (self->pty.master, self->input->data, self->input->len);

                if (n > 0) {
                        g_byte_array_remove_range (self->input, 0, n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        if (self->write_id == 0)
                                self->write_id = g_unix_fd_add (self->pty.master, G_IO_OUT, on_input_room, self);
                        return FALSE;
                }
                break; /* the terminal is gone: its input with it */
        }
        g_byte_array_set_size (self->input, 0);
        return TRUE;
}

static gboolean
on_input_room (int fd, GIOCondition condition, gpointer user_data)
{
        PhxLoginSession *self = user_data;

        if (!flush_input (self))
                return G_SOURCE_CONTINUE;
        self->write_id = 0;
        g_object_ref (self);
        parse_frames (self);
        g_object_unref (self);
        return G_SOURCE_REMOVE;
}

/* A frame the agent cannot read: the stream cannot be resynchronised. */
static void
protocol_error (PhxLoginSession *self, const char *what)
{
        g_autoptr(PhxLoginSession) alive = g_object_ref (self);
        g_autoptr(PhxConnection) conn = g_object_ref (self->conn);

        /* On a port, the host that held the stream may have gone and another come before
         * the agent looked (the port says nothing then): what cannot be a frame is that
         * host's first request. The terminal is hung up and those bytes are requests. */
        if (!phx_connection_is_socket (conn)) {
                g_message ("login session %u: %s on the port: another host, it seems; the terminal is hung up",
                           self->number, what);
                hand_back (self, self->in->data, self->in->len);
                phx_login_session_hang_up (self, "another host on the port");
                return;
        }

        g_message ("login session %u: %s: the connection is closed", self->number, what);
        /* detached first: the hang-up may end the session, which must not read the same
         * frame again or write to a stream that is over */
        detach (self);
        phx_login_session_hang_up (self, "a frame the agent could not read");
        phx_connection_close (conn);
}

static guint16
be16 (const guint8 *p)
{
        return (guint16) (p[0] << 8 | p[1]);
}

/* Takes the host's frames, in order, while the terminal takes their input. */
static void
parse_frames (PhxLoginSession *self)
{
        /* What ended the login request's line (a qemu-ga request ends at its brace; its
         * clients still send a newline after it) is not the stream's: no frame type is a
         * blank. */
        if (!self->framed) {
                guint blanks = 0;

                while (blanks < self->in->len && strchr (" \t\r\n", self->in->data[blanks]) != NULL &&
                       self->in->data[blanks] != '\0')
                        blanks++;
                g_byte_array_remove_range (self->in, 0, blanks);
        }
        while (self->conn != NULL && !self->end_read && self->in->len >= HEADER) {
                const guint8 *f = self->in->data;
                guint32 len = (guint32) f[1] << 24 | (guint32) f[2] << 16 | (guint32) f[3] << 8 | f[4];
                gboolean fits;

                switch (f[0]) {
                case 'i': fits = len <= PHX_LOGIN_FRAME_MAX; break;
                case 'w': fits = len == 4; break;
                case 'h': case 'e': fits = len == 0; break;
                default:
                        protocol_error (self, "a frame of unknown type");
                        return;
                }
                if (!fits) {
                        protocol_error (self, "a frame of the wrong size");
                        return;
                }
                if (self->in->len < HEADER + len)
                        break;
                self->framed = TRUE;
                if (f[0] == 'w' && (be16 (f + HEADER) == 0 || be16 (f + HEADER + 2) == 0)) {
                        protocol_error (self, "a window of no size");
                        return;
                }
                /* `e`: what follows is requests. Before the exit frame it hangs up too, and
                 * they wait for the exit frame to have gone out. */
                if (f[0] == 'e') {
                        self->end_read = TRUE;
                        g_byte_array_remove_range (self->in, 0, HEADER);
                        if (self->exit_sent) {
                                hand_back (self, self->in->data, self->in->len);
                        } else {
                                phx_connection_pause_stream (self->conn, TRUE);
                                phx_login_session_hang_up (self, "the host ended the stream");
                        }
                        return;
                }
                /* after the exit frame only the host's `e` means anything */
                if (!self->exit_sent && self->hung_up == NULL) {
                        if (f[0] == 'i') {
                                g_byte_array_append (self->input, f + HEADER, len);
                        } else if (f[0] == 'w') {
                                phx_login_pty_resize (self->pty.master, be16 (f + HEADER), be16 (f + HEADER + 2));
                        } else {
                                g_byte_array_remove_range (self->in, 0, HEADER + len);
                                phx_login_session_hang_up (self, "by the host");
                                continue;
                        }
                }
                g_byte_array_remove_range (self->in, 0, HEADER + len);
                if (self->input->len > 0 && !flush_input (self)) {
                        /* the terminal is full: no more of the host's bytes until it takes them */
                        phx_connection_pause_stream (self->conn, TRUE);
                        return;
                }
        }
        if (self->conn != NULL && !self->end_read)
                phx_connection_pause_stream (self->conn, FALSE);
}

static void
on_stream (PhxConnection *conn, GBytes *bytes, gpointer user_data)
{
        PhxLoginSession *self = user_data;

        g_object_ref (self);
        if (bytes == NULL) {
                /* the host sends nothing more: hung up; it may still read the exit frame */
                self->host_eof = TRUE;
                phx_login_session_hang_up (self, "the host ended its stream");
                if (self->exit_sent)
                        hand_back (self, NULL, 0);
        } else {
                g_byte_array_append (self->in, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
                parse_frames (self);
        }
        g_object_unref (self);
}

static void
on_closed (PhxConnection *conn, gpointer user_data)
{
        PhxLoginSession *self = user_data;

        g_object_ref (self);
        phx_login_session_hang_up (self, "the connection closed");
        detach (self);
        g_object_unref (self);
}

static void
on_drained (PhxConnection *conn, gpointer user_data)
{
        watch_output (user_data);
}

/* The login's reply is queued: the connection is this session's stream from here on. */
void
phx_login_session_attach (PhxLoginSession *self, PhxConnection *connection)
{
        self->attached = TRUE;
        if (phx_connection_is_closed (connection)) {
                phx_login_session_hang_up (self, "the connection closed before the session began");
                return;
        }
        self->conn = g_object_ref (connection);
        g_object_ref (self); /* dropped by detach */
        self->in = g_byte_array_new ();
        g_signal_connect (connection, "stream", G_CALLBACK (on_stream), self);
        g_signal_connect (connection, "closed", G_CALLBACK (on_closed), self);
        g_signal_connect (connection, "drained", G_CALLBACK (on_drained), self);
        if (self->exited)
                finish (self);
        else
                watch_output (self);
}

guint
phx_login_session_get_number (PhxLoginSession *self)
{
        return self->number;
}

/* Takes the terminal and the shell (reaped here). */
PhxLoginSession *
phx_login_session_new (guint number, const char *user, PhxLoginPty *pty)
{
        PhxLoginSession *self = g_object_new (PHX_TYPE_LOGIN_SESSION, NULL);

        self->number = number;
        self->user = g_strescape (user, NULL);
        self->pty = *pty;
        pty->master = -1;
        pty->tty = NULL;
        self->started = g_get_monotonic_time ();
        self->child_id = g_child_watch_add (self->pty.pid, on_child_exit, self);
        return self;
}

static void
phx_login_session_dispose (GObject *object)
{
        PhxLoginSession *self = PHX_LOGIN_SESSION (object);

        /* the family lets go of a session only once it ended; at the agent's exit the
         * terminal closes with it, which hangs up the shell */
        stop_terminal_io (self);
        g_clear_handle_id (&self->drain_id, g_source_remove);
        g_clear_handle_id (&self->kill_id, g_source_remove);
        g_clear_handle_id (&self->child_id, g_source_remove);
        /* attached, the session holds itself: it is not disposed before it detached */
        g_warn_if_fail (self->conn == NULL);
        G_OBJECT_CLASS (phx_login_session_parent_class)->dispose (object);
}

static void
phx_login_session_finalize (GObject *object)
{
        PhxLoginSession *self = PHX_LOGIN_SESSION (object);

        phx_login_pty_clear (&self->pty);
        g_clear_pointer (&self->input, g_byte_array_unref);
        g_free (self->user);
        G_OBJECT_CLASS (phx_login_session_parent_class)->finalize (object);
}

static void
phx_login_session_class_init (PhxLoginSessionClass *klass)
{
        G_OBJECT_CLASS (klass)->dispose = phx_login_session_dispose;
        G_OBJECT_CLASS (klass)->finalize = phx_login_session_finalize;
        /* The shell was reaped and its end told (or nobody was left to tell): the slot is
         * free. The host may still have to say it read the end (the session keeps itself
         * alive for that). */
        signals[SIGNAL_ENDED] = g_signal_new ("ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                              NULL, G_TYPE_NONE, 0);
}

static void
phx_login_session_init (PhxLoginSession *self)
{
        self->pty.master = -1;
        self->input = g_byte_array_new ();
}
