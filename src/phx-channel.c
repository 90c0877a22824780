/* phx-channel.c — owns the port: opening it (a virtio-serial or serial device, a listening
 * unix or vsock socket, or one passed by systemd), watching it, and telling hosts apart: a
 * listening socket serves several clients at once (their admission within a bound, refusal
 * and timeouts are phx-channel-clients.c's). Each host gets a PhxConnection, announced with
 * the "connection" signal; the channel only decides when a host came and went, and leaves
 * reading, framing and replies to the connection.
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
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "phx-channel.h"
#include "phx-channel-clients.h"
#include "phx-error.h"
#include "phx-limits.h"
#include "phx-listen.h"
#include "phx-log.h"

struct _PhxChannel {
        GObject parent_instance;
        PhxMethod method;
        char *path;
        PhxBudget *budget;
        gsize request_max;        /* longest request line */
        int epfd;
        int listen_fd;            /* listening transports only */
        gboolean inherited;       /* listen_fd came from the service manager: not ours to unlink */
        gboolean accepting;       /* listen_fd is in the epoll set */
        gboolean vsock_any_peer;  /* vsock: serve peers other than the host too */
        int port_fd;              /* character devices only */
        PhxConnection *port_host; /* the current host of a character device, if any */
        PhxChannelClients *clients; /* of a listening socket */
        GIOChannel *watch_channel;
        guint watch_id;
        gboolean host_connected;
        gboolean stopped;         /* on the way out: nothing more is read or accepted */
        gint64 unconfirmed_since; /* char devices: requests read while the port said HUP */
};

enum { PROP_0, PROP_HOST_CONNECTED, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIGNAL_CONNECTION, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxChannel, phx_channel, G_TYPE_OBJECT)

static const char *const method_names[] = { "virtio-serial", "isa-serial", "unix-listen", "vsock-listen" };

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

/* "METHOD:PATH" (a channel of its own: -p more than once, the channels key) -> its method and
 * path; FALSE if `text` does not start with a method's name and a colon. */
gboolean
phx_method_split (const char *text, PhxMethod *method, const char **path)
{
        for (guint i = 0; i < G_N_ELEMENTS (method_names); i++) {
                gsize len = strlen (method_names[i]);

                if (strncmp (text, method_names[i], len) == 0 && text[len] == ':') {
                        *method = (PhxMethod) i;
                        *path = text + len + 1;
                        return TRUE;
                }
        }
        return FALSE;
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

static gboolean
epoll_add (PhxChannel *self, int fd, guint32 events, GError **error)
{
        struct epoll_event ev = { .events = events, .data.u64 = PHX_EPOLL_KEY (fd, 0) };

        if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                phx_error_set_errno (error, errno, "epoll_ctl %s", self->path);
                return FALSE;
        }
        return TRUE;
}

static void
set_accepting (PhxChannel *self, gboolean accepting)
{
        if (self->accepting == accepting || self->listen_fd < 0 || (accepting && self->stopped))
                return;
        self->accepting = accepting;
        /* At the limit, new clients wait in the backlog until a slot frees. */
        if (accepting)
                epoll_add (self, self->listen_fd, EPOLLIN, NULL);
        else
                epoll_ctl (self->epfd, EPOLL_CTL_DEL, self->listen_fd, NULL);
}

/* a client left: the host is gone with the last one */
static void
on_clients_left (PhxChannelClients *clients, gpointer user_data)
{
        PhxChannel *self = user_data;

        set_host_connected (self, phx_channel_clients_get_count (clients) > 0);
}

/* vsock: a root agent must not be reachable by the guest's own users (they connect through
 * the loopback CID 1) nor by nested VMs; only the host, unless told otherwise. Dropped
 * without a word, and logged at debug level only (a local user could flood the log). */
static gboolean
peer_allowed (PhxChannel *self, const struct sockaddr_vm *peer, socklen_t len)
{
        if (self->method != PHX_METHOD_VSOCK_LISTEN || self->vsock_any_peer)
                return TRUE;
        if (len >= sizeof *peer && peer->svm_family == AF_VSOCK && peer->svm_cid == PHX_VSOCK_HOST_CID)
                return TRUE;
        g_debug ("vsock peer CID %u dropped (only the host, CID %u, is served)",
                 len >= sizeof *peer ? peer->svm_cid : 0, PHX_VSOCK_HOST_CID);
        return FALSE;
}

static gboolean
accept_client (PhxChannel *self)
{
        g_autoptr(PhxConnection) conn = NULL;
        union {
                struct sockaddr sa;
                struct sockaddr_vm vm;
                struct sockaddr_un un;
        } peer = { 0 };
        socklen_t peer_len = sizeof peer;
        int fd = accept4 (self->listen_fd, &peer.sa, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        g_warning (_("accept on %s: %s"), self->path, g_strerror (errno));
                return FALSE;
        }
        if (!peer_allowed (self, &peer.vm, peer_len)) {
                close (fd);
                return TRUE;
        }
        conn = phx_channel_clients_admit (self->clients, fd, self->request_max);
        if (conn == NULL)
                return TRUE;
        set_host_connected (self, TRUE);
        g_signal_emit (self, signals[SIGNAL_CONNECTION], 0, conn);
        return TRUE;
}

/* The host of a character device left: what it was owed is dropped with its connection. */
static void
port_host_gone (PhxChannel *self)
{
        g_autoptr(PhxConnection) conn = g_steal_pointer (&self->port_host);

        if (conn != NULL) {
                g_signal_handlers_disconnect_by_data (conn, self);
                phx_connection_close (conn);
        }
        set_host_connected (self, FALSE);
}

/* The connection closed itself (a write to the port failed): the next bytes belong to a new
 * one, or the port would never be read again. */
static void
on_port_host_closed (PhxConnection *conn, gpointer user_data)
{
        PhxChannel *self = user_data;

        g_signal_handlers_disconnect_by_data (conn, self);
        if (self->port_host == conn)
                port_host_gone (self);
}

static PhxConnection *
port_connection (PhxChannel *self)
{
        if (self->port_host == NULL) {
                self->port_host = phx_connection_new (self->port_fd, FALSE, self->request_max, self->budget);
                g_signal_connect (self->port_host, "closed", G_CALLBACK (on_port_host_closed), self);
                g_signal_emit (self, signals[SIGNAL_CONNECTION], 0, self->port_host);
        }
        return self->port_host;
}

static gboolean
port_host_present (PhxChannel *self)
{
        struct pollfd p = { .fd = self->port_fd, .events = POLLIN | POLLOUT };

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
        gboolean got = FALSE, fed = FALSE;

        /* The host that was here left. Bytes read now may be its last or the next host's
         * first: the guest learns of departures and arrivals after the data that came
         * around them, so the port can say HUP with the new host's request already there.
         * A departed host is owed nothing, a new one its reply: the bytes go to a new
         * connection (a departing host's last request may be answered to the next host:
         * doc/protocol.md, "Transport behaviour"). Except on a terminal stream: its frames
         * (its `e`, sent just before it closed) are that host's, read up to the stream's
         * end; what cannot be a frame, or follows the end, the stream gives back: the next
         * host's. The event's HUP counts even if a new host is there by the time the port
         * is asked: otherwise that host's first request would be read on the old one. */
        if (self->host_connected && ((ev & EPOLLHUP) || !port_host_present (self))) {
                g_autoptr(GBytes) rest = NULL;

                if (self->port_host != NULL && phx_connection_is_stream (self->port_host)) {
                        phx_connection_read_last (self->port_host, &got);
                        if (self->port_host != NULL)
                                rest = phx_connection_steal_unread (self->port_host);
                }
                port_host_gone (self);
                /* on the way out (the stream's host said agent-shutdown before): no new host */
                if (self->stopped)
                        return;
                if (rest != NULL) {
                        phx_connection_feed (port_connection (self), rest);
                        fed = TRUE;
                }
        }
        /* Replies held for a host that never showed up within the settle window belong to
         * nobody: drop them before reading, so that a new host's first request goes to a
         * connection of its own (checked after the read, it was answered on the stale one
         * and its reply dropped with it). */
        if (self->unconfirmed_since != 0 &&
            g_get_monotonic_time () - self->unconfirmed_since > PHX_CONNECT_SETTLE_US) {
                self->unconfirmed_since = 0;
                port_host_gone (self);
        }
        /* Stopped in what was fed (agent-shutdown): that connection reads nothing more, but
         * whether its host is there still decides whether the reply waits for it. */
        if (self->stopped && self->port_host == NULL)
                return;
        phx_connection_read (port_connection (self), TRUE, &got);
        got = got || fed;
        if (port_host_present (self)) {
                self->unconfirmed_since = 0;
                set_host_connected (self, TRUE);
                phx_connection_flush (port_connection (self));
        } else if (got) {
                if (self->unconfirmed_since == 0)
                        self->unconfirmed_since = g_get_monotonic_time ();
        } else if (self->unconfirmed_since != 0 &&
                   g_get_monotonic_time () - self->unconfirmed_since <= PHX_CONNECT_SETTLE_US) {
                /* More HUP with nothing to read, still within the settle window: the host
                 * whose request we answered may yet show up; keep its replies. (Dropping
                 * them here lost a reply in the VM test: HUP, request, HUP, then open.) */
        } else if (self->host_connected ||
                   (self->port_host != NULL && phx_connection_get_queued (self->port_host) > 0)) {
                self->unconfirmed_since = 0;
                port_host_gone (self);
        }
}

static gboolean
on_epoll (GIOChannel *source, GIOCondition condition, gpointer user_data)
{
        PhxChannel *self = user_data;
        struct epoll_event events[8];
        int n = epoll_wait (self->epfd, events, G_N_ELEMENTS (events), 0);

        if (self->stopped) {
                /* The way out writes what is left itself (linger) and reads nothing more; a
                 * client that hangs up is still let go. */
                for (int i = 0; i < n; i++)
                        phx_channel_clients_handle_event_stopped (self->clients, events[i].data.u64,
                                                                  events[i].events);
                return G_SOURCE_CONTINUE;
        }
        for (int i = 0; i < n; i++) {
                guint64 key = events[i].data.u64;
                int fd = PHX_EPOLL_KEY_FD (key);
                guint32 ev = events[i].events;

                if (phx_debug_enabled ())
                        g_debug ("epoll: fd %d (connection %u) events 0x%x", PHX_EPOLL_KEY_FD (key),
                                 PHX_EPOLL_KEY_ID (key), ev);
                if (phx_channel_clients_handle_event (self->clients, key, ev)) {
                        /* a client's, or their timer's */
                } else if (fd == self->listen_fd) {
                        /* a burst is taken in one go, but never unbounded (level-triggered:
                         * what is left wakes the loop again) */
                        for (guint k = 0; k < PHX_LISTEN_BACKLOG && accept_client (self); k++)
                                ;
                }
                else if (fd == self->port_fd)
                        on_port_event (self, ev);
        }
        return G_SOURCE_CONTINUE;
}

/* On the way out: no more requests are taken, from any host. (A host that attaches while
 * the agent thaws before exiting must not be answered by an agent about to vanish: it
 * would send its next request into the void.) */
void
phx_channel_stop (PhxChannel *self)
{
        self->stopped = TRUE;
        phx_channel_clients_stop_reading (self->clients);
        if (self->port_host != NULL)
                phx_connection_stop_reading (self->port_host);
        /* the listening socket is level-triggered: a client waiting in the backlog would
         * otherwise wake the loop again and again until the agent is gone */
        set_accepting (self, FALSE);
}

/* Before exit: give the last replies (agent-shutdown's own) a bounded chance to leave.
 * A virtio port's buffers still queued in the guest are discarded when it closes. */
void
phx_channel_linger (PhxChannel *self, guint timeout_ms)
{
        phx_channel_clients_linger (self->clients, timeout_ms);
        if (self->port_host == NULL)
                return;
        phx_connection_linger (self->port_host, timeout_ms);
        if (self->method == PHX_METHOD_ISA_SERIAL)
                tcdrain (self->port_fd);
        else if (self->host_connected)
                g_usleep (MIN (timeout_ms, 100) * 1000); /* let the host side pick up the last buffer */
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

static gboolean
open_device (PhxChannel *self, GError **error)
{
        self->port_fd = open (self->path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (self->port_fd < 0) {
                phx_error_set_errno (error, errno, "open %s", self->path);
                return FALSE;
        }
        if (self->method == PHX_METHOD_ISA_SERIAL) {
                struct termios tio;
                /* Raw: no echo, no line editing, no CR/LF translation, 8-bit clean. */
                if (tcgetattr (self->port_fd, &tio) < 0) {
                        phx_error_set_errno (error, errno, "tcgetattr %s", self->path);
                        return FALSE;
                }
                cfmakeraw (&tio);
                tio.c_cc[VMIN] = 1;
                tio.c_cc[VTIME] = 0;
                if (tcsetattr (self->port_fd, TCSANOW, &tio) < 0) {
                        phx_error_set_errno (error, errno, "tcsetattr %s", self->path);
                        return FALSE;
                }
        }
        return epoll_add (self, self->port_fd, EPOLLIN | EPOLLOUT | EPOLLET, error);
}

/* Nothing is read until phx_channel_start: whoever listens to "connection" connects first. */
PhxChannel *
phx_channel_new (PhxMethod method, const char *path, guint socket_mode, PhxBudget *budget, GError **error)
{
        g_autoptr(PhxChannel) self = g_object_new (PHX_TYPE_CHANNEL, NULL);

        self->method = method;
        self->path = g_strdup (path);
        self->budget = g_object_ref (budget);
        self->epfd = epoll_create1 (EPOLL_CLOEXEC);
        if (self->epfd < 0) {
                phx_error_set_errno (error, errno, "epoll_create1");
                return NULL;
        }
        self->clients = phx_channel_clients_new (self->epfd, self->budget);
        g_signal_connect (self->clients, "left", G_CALLBACK (on_clients_left), self);
        self->listen_fd = phx_listen_inherited (error);
        if (self->listen_fd == -2)
                return NULL;
        if (self->listen_fd >= 0) {
                self->inherited = TRUE;
                g_clear_pointer (&self->path, g_free);
                int family = phx_listen_describe (self->listen_fd, &self->path, error);

                if (family == 0)
                        return NULL;
                self->method = family == AF_VSOCK ? PHX_METHOD_VSOCK_LISTEN : PHX_METHOD_UNIX_LISTEN;
                g_message (_("serving the %s socket %s passed by the service manager"),
                           phx_method_to_string (self->method), self->path);
        } else if (method == PHX_METHOD_UNIX_LISTEN) {
                self->listen_fd = phx_listen_unix (path, socket_mode, error);
        } else if (method == PHX_METHOD_VSOCK_LISTEN) {
                self->listen_fd = phx_listen_vsock (path, error);
        } else if (!open_device (self, error)) {
                return NULL;
        }
        if (self->port_fd < 0) {
                if (self->listen_fd < 0 || !epoll_add (self, self->listen_fd, EPOLLIN, error))
                        return NULL;
                self->accepting = TRUE;
        }
        phx_channel_set_clients (self, PHX_CLIENTS_DEFAULT, PHX_CLIENT_IDLE_TIMEOUT_DEFAULT,
                                 PHX_CLIENT_STALL_TIMEOUT_DEFAULT);
        return g_steal_pointer (&self);
}

/* Listening transports: clients served at once (1..PHX_CLIENTS_LIMIT) and the seconds a
 * client may stay idle or leave its replies unread (0: for ever). Applies to clients that
 * connect afterwards. */
void
phx_channel_set_clients (PhxChannel *self, guint clients_max, guint idle_s, guint stall_s)
{
        phx_channel_clients_set_limits (self->clients, clients_max, idle_s, stall_s);
}

/* vsock-listen: serve peers other than the host (CID 2) too. */
void
phx_channel_set_vsock_any_peer (PhxChannel *self, gboolean any_peer)
{
        self->vsock_any_peer = any_peer;
}

guint
phx_channel_get_clients (PhxChannel *self)
{
        return phx_channel_clients_get_count (self->clients) + (self->port_host != NULL && self->host_connected);
}

/* Tests and the fuzz target use a small limit to reach the over-long path cheaply. */
void
phx_channel_set_request_max (PhxChannel *self, gsize request_max)
{
        self->request_max = request_max;
}

void
phx_channel_start (PhxChannel *self)
{
        g_autoptr(GSource) watch = NULL;

        g_return_if_fail (self->watch_id == 0);
        self->watch_channel = g_io_channel_unix_new (self->epfd);
        watch = g_io_create_watch (self->watch_channel, G_IO_IN);
        g_source_set_callback (watch, G_SOURCE_FUNC (on_epoll), self, NULL);
        /* Nothing in on_epoll runs the loop, so recursion cannot happen; but a source that
         * may not recurse is blocked while it is dispatched, and unblocking it costs the
         * context a wake-up through its eventfd on every request. */
        g_source_set_can_recurse (watch, TRUE);
        self->watch_id = g_source_attach (watch, NULL);
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
        g_clear_pointer (&self->watch_channel, g_io_channel_unref);
        if (self->clients != NULL)
                g_signal_handlers_disconnect_by_data (self->clients, self);
        g_clear_object (&self->clients);
        if (self->port_host != NULL)
                g_signal_handlers_disconnect_by_data (self->port_host, self);
        g_clear_object (&self->port_host);
        g_clear_object (&self->budget);
        G_OBJECT_CLASS (phx_channel_parent_class)->dispose (object);
}

static void
phx_channel_finalize (GObject *object)
{
        PhxChannel *self = PHX_CHANNEL (object);

        if (self->port_fd >= 0)
                close (self->port_fd);
        if (self->listen_fd >= 0) {
                close (self->listen_fd);
                if (self->method == PHX_METHOD_UNIX_LISTEN && !self->inherited)
                        unlink (self->path);
        }
        if (self->epfd >= 0)
                close (self->epfd);
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
        /* A host arrived: the new PhxConnection carries its requests and replies. */
        signals[SIGNAL_CONNECTION] = g_signal_new ("connection", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                   0, NULL, NULL, NULL, G_TYPE_NONE, 1, PHX_TYPE_CONNECTION);
}

static void
phx_channel_init (PhxChannel *self)
{
        self->epfd = -1;
        self->port_fd = -1;
        self->listen_fd = -1;
        self->request_max = PHX_REQUEST_MAX;
}
