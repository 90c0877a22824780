/* phx-channel.c — owns the port: opening it, reading it into request lines, writing queued
 * replies without blocking, and noticing hosts come and go. It knows nothing of JSON.
 *
 * The main loop watches the port through a GIOChannel on an edge-triggered epoll set
 * rather than on the port itself: a virtio-serial port with no host attached reports
 * POLLHUP for ever, so a level-triggered watch would spin, and a timer to retry would wake
 * the guest for nothing. Edge-triggered, each host connect and disconnect is reported
 * exactly once and an idle agent sleeps, whether or not a host is attached. */
#define G_LOG_DOMAIN "phx-channel"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "phx-channel.h"
#include "phx-error.h"
#include "phx-framer.h"
#include "phx-limits.h"

struct _PhxChannel {
        GObject parent_instance;
        PhxMethod method;
        char *path;
        int epfd;
        int listen_fd;          /* unix-listen only */
        int fd;                 /* the port, or the current client; -1 when none */
        GIOChannel *watch_channel;
        guint watch_id;
        guint resume_id;
        gboolean host_connected;
        gboolean paused;
        gboolean in_read;       /* replies sent while reading are flushed together */
        gboolean peer_eof;      /* a socket host shut down its sending side */
        gint64 unconfirmed_since; /* char devices: requests read while the port said HUP */
        guint generation;
        PhxFramer *framer;
        GQueue out;             /* GBytes* waiting to be written */
        gsize out_offset;       /* bytes of the head already written */
        gsize out_bytes;
        PhxChannelLineFunc line_func;
        PhxChannelOverlongFunc overlong_func;
        PhxChannelDrainedFunc drained_func;
        gpointer user_data;
        char *readbuf;          /* PHX_CHANNEL_READ_CHUNK bytes */
};

enum { PROP_0, PROP_HOST_CONNECTED, N_PROPS };
static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (PhxChannel, phx_channel, G_TYPE_OBJECT)

static const char *const method_names[] = { "virtio-serial", "isa-serial", "unix-listen" };

gboolean
phx_method_from_string (const char *text, PhxMethod *method)
{
        for (guint i = 0; i < G_N_ELEMENTS (method_names); i++) {
                if (g_str_equal (text, method_names[i])) {
                        *method = (PhxMethod) i;
                        return TRUE;
                }
        }
        return FALSE;
}

const char *
phx_method_to_string (PhxMethod method)
{
        return method_names[method];
}

static void
set_host_connected (PhxChannel *self, gboolean connected)
{
        if (self->host_connected == connected)
                return;
        self->host_connected = connected;
        g_debug ("host %s", connected ? "connected" : "disconnected");
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_HOST_CONNECTED]);
}

static void
drop_output (PhxChannel *self)
{
        gboolean had_output = !g_queue_is_empty (&self->out);

        g_queue_clear_full (&self->out, (GDestroyNotify) g_bytes_unref);
        self->out_offset = 0;
        self->out_bytes = 0;
        if (had_output && self->drained_func != NULL)
                self->drained_func (self->user_data);
}

static gboolean
epoll_add (PhxChannel *self, int fd, guint32 events, GError **error)
{
        struct epoll_event ev = { .events = events, .data.fd = fd };

        if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                phx_error_set_errno (error, errno, "epoll_ctl %s", self->path);
                return FALSE;
        }
        return TRUE;
}

/* The host went away: what it was sent but did not read is dropped, never delivered to
 * whoever connects next, and a half-received line is forgotten. */
static void
host_gone (PhxChannel *self)
{
        self->generation++;
        self->peer_eof = FALSE;
        drop_output (self);
        phx_framer_reset (self->framer);
        if (self->method == PHX_METHOD_UNIX_LISTEN && self->fd >= 0) {
                epoll_ctl (self->epfd, EPOLL_CTL_DEL, self->fd, NULL);
                close (self->fd);
                self->fd = -1;
                epoll_add (self, self->listen_fd, EPOLLIN, NULL);
        }
        set_host_connected (self, FALSE);
}

static void
flush_output (PhxChannel *self)
{
        gboolean had_output = !g_queue_is_empty (&self->out);

        while (!g_queue_is_empty (&self->out) && self->fd >= 0) {
                struct iovec iov[PHX_WRITE_BATCH];
                int n_iov = 0;
                ssize_t n;

                for (GList *l = self->out.head; l != NULL && n_iov < (int) G_N_ELEMENTS (iov); l = l->next) {
                        gsize len;
                        const char *data = g_bytes_get_data (l->data, &len);
                        gsize skip = n_iov == 0 ? self->out_offset : 0;
                        iov[n_iov].iov_base = (char *) data + skip;
                        iov[n_iov].iov_len = len - skip;
                        n_iov++;
                }
                if (self->method == PHX_METHOD_UNIX_LISTEN) {
                        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n_iov };
                        n = sendmsg (self->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
                } else {
                        n = writev (self->fd, iov, n_iov);
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return; /* EPOLLOUT will tell us when to go on */
                        g_debug ("write to host failed: %s", g_strerror (errno));
                        host_gone (self);
                        return;
                }
                self->out_bytes -= n;
                while (n > 0) {
                        gsize len = g_bytes_get_size (self->out.head->data) - self->out_offset;
                        if ((gsize) n < len) {
                                self->out_offset += n;
                                break;
                        }
                        n -= len;
                        self->out_offset = 0;
                        g_bytes_unref (g_queue_pop_head (&self->out));
                }
        }
        if (had_output && g_queue_is_empty (&self->out) && self->drained_func != NULL)
                self->drained_func (self->user_data);
}

static void
on_frame (PhxFrameKind kind, GBytes *line, gpointer user_data)
{
        PhxChannel *self = user_data;

        if (kind == PHX_FRAME_LINE)
                self->line_func (line, self->generation, self->user_data);
        else
                self->overlong_func (self->generation, self->user_data);
}

/* Reads until the port is drained (edge-triggered: no new event comes for old data).
 * Returns whether anything was read. */
static gboolean
read_port (PhxChannel *self, guint32 events)
{
        gboolean got = FALSE;

        self->in_read = TRUE;
        while (self->fd >= 0 && !self->paused && !self->peer_eof) {
                ssize_t n = read (self->fd, self->readbuf, PHX_CHANNEL_READ_CHUNK);
                if (n > 0) {
                        got = TRUE;
                        if (self->method == PHX_METHOD_UNIX_LISTEN)
                                set_host_connected (self, TRUE);
                        phx_framer_push (self->framer, self->readbuf, n);
                        /* A short read on a socket drained it; anything arriving later
                         * raises a new edge, so the read that would say EAGAIN is saved. */
                        if ((gsize) n < PHX_CHANNEL_READ_CHUNK && self->method == PHX_METHOD_UNIX_LISTEN &&
                            !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                                break;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                /* On a character device, 0 ("no host" on virtio) or EIO (a pty whose
                 * master closed) only ends this read; whether the host is there is
                 * decided from the port's current state (see port_host_present). */
                if (self->method != PHX_METHOD_UNIX_LISTEN)
                        break;
                if (n == 0) {
                        /* A half-close (`echo ... | socat`) still wants its replies: the
                         * agent ends the connection once they are all written. */
                        self->peer_eof = TRUE;
                        if (self->drained_func != NULL)
                                self->drained_func (self->user_data);
                        break;
                }
                /* 0 is end of stream on a socket and "no host" on a virtio port; a pty
                 * whose master closed says EIO. Either way nobody is listening now. */
                if (n < 0)
                        g_debug ("read from host: %s", g_strerror (errno));
                host_gone (self);
                break;
        }
        self->in_read = FALSE;
        flush_output (self);
        return got;
}

static void
accept_client (PhxChannel *self)
{
        int fd = accept4 (self->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        g_warning (_("accept on %s: %s"), self->path, g_strerror (errno));
                return;
        }
        /* One client at a time: the next one waits in the backlog until this one leaves. */
        epoll_ctl (self->epfd, EPOLL_CTL_DEL, self->listen_fd, NULL);
        self->fd = fd;
        self->generation++;
        epoll_add (self, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, NULL);
        set_host_connected (self, TRUE);
}

static gboolean
port_host_present (PhxChannel *self)
{
        struct pollfd p = { .fd = self->fd, .events = POLLIN | POLLOUT };

        if (poll (&p, 1, 0) < 0)
                return self->host_connected;
        return !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* A character device has no accept, and its events are only hints: the guest learns of a
 * host's arrival and departure through virtio control messages handled apart from the
 * data, so a new host's first request can come while the port still says HUP, and a
 * departing host's last one just before it does. So: bytes read prove a host is there;
 * HUP with nothing to read means it is gone; and replies made while the port said HUP
 * are kept for a host that shows up within PHX_CONNECT_SETTLE_US (the one that sent the
 * request) and dropped if the port stays away longer (whoever comes later is someone
 * else). No timer is involved: the next event decides. */
static void
on_port_event (PhxChannel *self, guint32 ev)
{
        gboolean got;

        if (!port_host_present (self) && self->host_connected)
                host_gone (self);
        got = read_port (self, ev);
        if (port_host_present (self)) {
                if (self->unconfirmed_since != 0 &&
                    g_get_monotonic_time () - self->unconfirmed_since > PHX_CONNECT_SETTLE_US)
                        host_gone (self);
                self->unconfirmed_since = 0;
                set_host_connected (self, TRUE);
                flush_output (self);
        } else if (got) {
                if (self->unconfirmed_since == 0)
                        self->unconfirmed_since = g_get_monotonic_time ();
        } else if (self->unconfirmed_since != 0 &&
                   g_get_monotonic_time () - self->unconfirmed_since <= PHX_CONNECT_SETTLE_US) {
                /* More HUP with nothing to read, still within the settle window: the host
                 * whose request we answered may yet show up; keep its replies. (Dropping
                 * them here lost a reply in the VM test: HUP, request, HUP, then open.) */
        } else if (self->host_connected || !g_queue_is_empty (&self->out)) {
                self->unconfirmed_since = 0;
                host_gone (self);
        }
}

static gboolean
on_epoll (GIOChannel *source, GIOCondition condition, gpointer user_data)
{
        PhxChannel *self = user_data;
        struct epoll_event events[4];
        int n = epoll_wait (self->epfd, events, G_N_ELEMENTS (events), 0);

        for (int i = 0; i < n; i++) {
                guint32 ev = events[i].events;

                g_debug ("epoll: fd %d events 0x%x%s", events[i].data.fd, ev, self->paused ? " (paused)" : "");
                if (events[i].data.fd == self->listen_fd) {
                        accept_client (self);
                        continue;
                }
                if (events[i].data.fd != self->fd)
                        continue;
                if (self->method != PHX_METHOD_UNIX_LISTEN) {
                        on_port_event (self, ev);
                        continue;
                } else if (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
                        read_port (self, ev);
                }
                if (self->fd >= 0 && (ev & EPOLLOUT))
                        flush_output (self);
        }
        return G_SOURCE_CONTINUE;
}

void
phx_channel_send (PhxChannel *self, guint generation, GBytes *data)
{
        /* An empty part would make writev() return 0 and the queue never advance. */
        if (generation != self->generation || self->fd < 0 || g_bytes_get_size (data) == 0)
                return;
        g_queue_push_tail (&self->out, g_bytes_ref (data));
        self->out_bytes += g_bytes_get_size (data);
        /* While reading, replies are batched into one writev; but not so many that a
         * pipelined burst holds thousands of them (and their heap) at once. */
        if (!self->in_read || self->out.length >= PHX_WRITE_BATCH)
                flush_output (self);
}

static gboolean
on_resume (gpointer user_data)
{
        PhxChannel *self = user_data;

        self->resume_id = 0;
        read_port (self, EPOLLHUP); /* no edge to trust: read until EAGAIN */
        return G_SOURCE_REMOVE;
}

/* Back-pressure from the agent: stop taking requests while too much is in flight. */
void
phx_channel_set_paused (PhxChannel *self, gboolean paused)
{
        if (self->paused == paused)
                return;
        self->paused = paused;
        /* Edge-triggered: data that arrived while paused raises no new event. */
        if (!paused && self->resume_id == 0 && self->fd >= 0)
                self->resume_id = g_idle_add (on_resume, self);
}

gboolean
phx_channel_get_peer_eof (PhxChannel *self)
{
        return self->peer_eof;
}

guint
phx_channel_get_generation (PhxChannel *self)
{
        return self->generation;
}

/* Before exit: give the last replies (agent-shutdown's own) a bounded chance to leave.
 * A virtio port's buffers still queued in the guest are discarded when it closes. */
void
phx_channel_linger (PhxChannel *self, guint timeout_ms)
{
        gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

        while (self->fd >= 0 && !g_queue_is_empty (&self->out) && g_get_monotonic_time () < deadline) {
                struct pollfd p = { .fd = self->fd, .events = POLLOUT };
                poll (&p, 1, 20);
                flush_output (self);
        }
        if (self->fd >= 0 && self->method == PHX_METHOD_ISA_SERIAL)
                tcdrain (self->fd);
        else if (self->fd >= 0 && self->method == PHX_METHOD_VIRTIO_SERIAL && self->host_connected)
                g_usleep (MIN (timeout_ms, 100) * 1000); /* let the host side pick up the last buffer */
}

/* Ends the current host connection (sockets only; a port has nothing to close). */
void
phx_channel_disconnect (PhxChannel *self)
{
        if (self->method == PHX_METHOD_UNIX_LISTEN && self->fd >= 0)
                host_gone (self);
}

gsize
phx_channel_get_queued (PhxChannel *self)
{
        return self->out_bytes;
}

gboolean
phx_channel_get_host_connected (PhxChannel *self)
{
        return self->host_connected;
}

PhxMethod
phx_channel_get_method (PhxChannel *self)
{
        return self->method;
}

const char *
phx_channel_get_path (PhxChannel *self)
{
        return self->path;
}

void
phx_channel_set_handlers (PhxChannel *self, PhxChannelLineFunc line_func,
                          PhxChannelOverlongFunc overlong_func,
                          PhxChannelDrainedFunc drained_func, gpointer user_data)
{
        self->line_func = line_func;
        self->overlong_func = overlong_func;
        self->drained_func = drained_func;
        self->user_data = user_data;
}

static gboolean
open_device (PhxChannel *self, GError **error)
{
        self->fd = open (self->path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (self->fd < 0) {
                phx_error_set_errno (error, errno, "open %s", self->path);
                return FALSE;
        }
        if (self->method == PHX_METHOD_ISA_SERIAL) {
                struct termios tio;
                /* Raw: no echo, no line editing, no CR/LF translation, 8-bit clean. */
                if (tcgetattr (self->fd, &tio) < 0) {
                        phx_error_set_errno (error, errno, "tcgetattr %s", self->path);
                        return FALSE;
                }
                cfmakeraw (&tio);
                tio.c_cc[VMIN] = 1;
                tio.c_cc[VTIME] = 0;
                if (tcsetattr (self->fd, TCSANOW, &tio) < 0) {
                        phx_error_set_errno (error, errno, "tcsetattr %s", self->path);
                        return FALSE;
                }
        }
        return epoll_add (self, self->fd, EPOLLIN | EPOLLOUT | EPOLLET, error);
}

/* Sets the mode of the socket just bound at `name`. By path, since fchmod() on a socket
 * changes the socket and not its file; O_PATH|O_NOFOLLOW so that a link swapped in for
 * the name (in a directory others may write) is not followed. */
static gboolean
chmod_socket (const char *name, guint mode, GError **error)
{
        char proc[64];
        struct stat st;
        int fd = open (name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 || fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode)) {
                int errsv = fd < 0 ? errno : EEXIST; /* fstat of an O_PATH fd does not fail */

                phx_error_set_errno (error, errsv, "chmod %s", name);
                if (fd >= 0)
                        close (fd);
                return FALSE;
        }
        g_snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (chmod (proc, mode) < 0) {
                phx_error_set_errno (error, errno, "chmod %s", name);
                close (fd);
                return FALSE;
        }
        close (fd);
        return TRUE;
}

/* The socket is bound under a temporary name in the same directory, given its mode and
 * made to listen, and only then renamed into place: a client that sees the path can
 * connect at once, and no one can connect while the mode is still the umask's (an
 * unlistened socket refuses everyone). rename() also replaces a stale socket of an earlier
 * run in one step. */
static gboolean
open_listener (PhxChannel *self, guint socket_mode, GError **error)
{
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        g_autofree char *dir = g_path_get_dirname (self->path);
        gboolean bound = FALSE;
        struct stat st;

        if (strlen (self->path) >= sizeof addr.sun_path) {
                phx_error_set (error, ENAMETOOLONG, "socket path %s is longer than %zu bytes",
                               self->path, sizeof addr.sun_path - 1);
                return FALSE;
        }
        /* Anything but a socket at the path is not ours to replace. */
        if (lstat (self->path, &st) == 0 && !S_ISSOCK (st.st_mode)) {
                phx_error_set (error, EEXIST, "%s exists and is not a socket", self->path);
                return FALSE;
        }
        self->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (self->listen_fd < 0) {
                phx_error_set_errno (error, errno, "socket");
                return FALSE;
        }
        for (guint attempt = 0; !bound; attempt++) {
                int n = g_snprintf (addr.sun_path, sizeof addr.sun_path, "%s/.phx-%06x", dir,
                                    g_random_int () & 0xffffff);

                if (n < 0 || (gsize) n >= sizeof addr.sun_path) {
                        phx_error_set (error, ENAMETOOLONG, "no room for a temporary socket name in %s", dir);
                        return FALSE;
                }
                if (bind (self->listen_fd, (struct sockaddr *) &addr, sizeof addr) == 0)
                        bound = TRUE;
                else if (errno != EADDRINUSE || attempt + 1 >= PHX_TEMP_NAME_TRIES) {
                        phx_error_set_errno (error, errno, "bind %s", addr.sun_path);
                        return FALSE;
                }
        }
        if (!chmod_socket (addr.sun_path, socket_mode != 0 ? socket_mode : PHX_SOCKET_MODE_DEFAULT, error))
                goto failed;
        if (listen (self->listen_fd, PHX_LISTEN_BACKLOG) < 0) {
                phx_error_set_errno (error, errno, "listen %s", self->path);
                goto failed;
        }
        if (rename (addr.sun_path, self->path) < 0) {
                phx_error_set_errno (error, errno, "rename %s to %s", addr.sun_path, self->path);
                goto failed;
        }
        return epoll_add (self, self->listen_fd, EPOLLIN, error);

failed:
        unlink (addr.sun_path);
        return FALSE;
}

PhxChannel *
phx_channel_new (PhxMethod method, const char *path, guint socket_mode, GError **error)
{
        g_autoptr(PhxChannel) self = g_object_new (PHX_TYPE_CHANNEL, NULL);

        self->method = method;
        self->path = g_strdup (path);
        self->epfd = epoll_create1 (EPOLL_CLOEXEC);
        if (self->epfd < 0) {
                phx_error_set_errno (error, errno, "epoll_create1");
                return NULL;
        }
        if (method == PHX_METHOD_UNIX_LISTEN ? !open_listener (self, socket_mode, error)
                                             : !open_device (self, error))
                return NULL;
        self->watch_channel = g_io_channel_unix_new (self->epfd);
        self->watch_id = g_io_add_watch (self->watch_channel, G_IO_IN, on_epoll, self);
        return g_steal_pointer (&self);
}

static void
phx_channel_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        PhxChannel *self = PHX_CHANNEL (object);

        switch (prop_id) {
        case PROP_HOST_CONNECTED:
                g_value_set_boolean (value, self->host_connected);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

static void
phx_channel_dispose (GObject *object)
{
        PhxChannel *self = PHX_CHANNEL (object);

        g_clear_handle_id (&self->watch_id, g_source_remove);
        g_clear_handle_id (&self->resume_id, g_source_remove);
        g_clear_pointer (&self->watch_channel, g_io_channel_unref);
        G_OBJECT_CLASS (phx_channel_parent_class)->dispose (object);
}

static void
phx_channel_finalize (GObject *object)
{
        PhxChannel *self = PHX_CHANNEL (object);

        self->drained_func = NULL;
        drop_output (self);
        phx_framer_free (self->framer);
        if (self->fd >= 0)
                close (self->fd);
        if (self->listen_fd >= 0) {
                close (self->listen_fd);
                unlink (self->path);
        }
        if (self->epfd >= 0)
                close (self->epfd);
        g_free (self->readbuf);
        g_free (self->path);
        G_OBJECT_CLASS (phx_channel_parent_class)->finalize (object);
}

static void
phx_channel_class_init (PhxChannelClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);

        object_class->get_property = phx_channel_get_property;
        object_class->dispose = phx_channel_dispose;
        object_class->finalize = phx_channel_finalize;
        props[PROP_HOST_CONNECTED] =
                g_param_spec_boolean ("host-connected", NULL, NULL, FALSE,
                                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
        g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
phx_channel_init (PhxChannel *self)
{
        self->epfd = -1;
        self->fd = -1;
        self->listen_fd = -1;
        self->framer = phx_framer_new (PHX_REQUEST_MAX, on_frame, self);
        self->readbuf = g_malloc (PHX_CHANNEL_READ_CHUNK);
}
