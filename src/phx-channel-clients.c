/* phx-channel-clients.c — PhxChannelClients: the clients of a channel's listening socket.
 * It admits a client the channel accepted (or refuses it past the bound), watches its socket
 * in the channel's epoll set, handles its events, and times out idle and stalled clients
 * with one timerfd. It never accepts and never speaks of hosts: the channel does, and learns
 * of a client that left from the "left" signal. */
/* the channel's subsystem: G_MESSAGES_DEBUG=phx-channel keeps showing all of the transport */
#define G_LOG_DOMAIN "phx-channel"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "phx-channel-clients.h"
#include "phx-limits.h"

/* a client that never reads leaves room in the budget for the others (phx-limits.h) */
G_STATIC_ASSERT (PHX_CLIENTS_LIMIT * (PHX_CLIENT_QUEUE_HIGH + PHX_OUTPUT_BLOCK +
                                      (PHX_CLIENT_PENDING_MAX + PHX_CLIENT_READ_SMALL / 16) * PHX_CALL_OVERHEAD) <=
                 PHX_BUDGET_HIGH / 2);

struct _PhxChannelClients {
        GObject parent_instance;
        int epfd;                /* the channel's epoll set: borrowed, the channel outlives us */
        PhxBudget *budget;
        GPtrArray *clients;      /* PhxConnection* */
        guint clients_max;
        guint idle_ms, stall_ms; /* a client's timeouts (0: none) */
        char *refusal;           /* the line a client past clients_max reads before EOF */
        int timer_fd;            /* clients' timeouts, in the epoll set; -1 until needed */
        gint64 timer_due;        /* what it is armed for (monotonic µs); 0: disarmed */
};

enum { SIGNAL_LEFT, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxChannelClients, phx_channel_clients, G_TYPE_OBJECT)

static gboolean
epoll_add (PhxChannelClients *self, int fd, guint32 events, guint64 key)
{
        struct epoll_event ev = { .events = events, .data.u64 = key };

        return epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

static void
on_client_closed (PhxConnection *conn, gpointer user_data)
{
        PhxChannelClients *self = user_data;

        g_signal_handlers_disconnect_by_data (conn, self);
        /* the connection closed its descriptor, which left the epoll set with it */
        g_ptr_array_remove (self->clients, conn);
        g_signal_emit (self, signals[SIGNAL_LEFT], 0);
}

/* What a host's socket is watched for. EPOLLOUT is added only while a reply waits for room:
 * edge-triggered EPOLLOUT also fires each time the host reads a reply (the socket's room
 * grows), which woke the agent a second time for many requests (1.4-2 sleeps per sequential
 * ping instead of 1; doc/performance.md). */
#define CLIENT_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLET)

static void
on_client_blocked (PhxConnection *conn, gboolean blocked, gpointer user_data)
{
        PhxChannelClients *self = user_data;
        int fd = phx_connection_get_fd (conn);
        struct epoll_event ev = { .events = CLIENT_EVENTS | (blocked ? EPOLLOUT : 0),
                                  .data.u64 = PHX_EPOLL_KEY (fd, phx_connection_get_id (conn)) };

        /* a modified watch reports readiness that is already there: no wake-up is lost */
        if (epoll_ctl (self->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
                /* never told when to write again: better closed than hung */
                g_warning (_("epoll_ctl on a host socket: %s"), g_strerror (errno));
                phx_connection_close (conn);
        }
}

/* ---- Clients' timeouts: one timerfd for the channel, armed for the nearest deadline any
 * client gave; it lives in the epoll set, so the main loop never sleeps with a timeout and an
 * agent with no client has no timer at all. */

static void
arm_timer (PhxChannelClients *self, gint64 due)
{
        struct itimerspec when = { .it_value = { .tv_sec = due / G_USEC_PER_SEC,
                                                 .tv_nsec = (due % G_USEC_PER_SEC) * 1000 + 1 } };

        if (self->timer_fd < 0) {
                self->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
                if (self->timer_fd < 0 ||
                    !epoll_add (self, self->timer_fd, EPOLLIN, PHX_EPOLL_KEY (self->timer_fd, 0))) {
                        /* without it, clients are never timed out: worth a warning, not an exit */
                        g_warning (_("no timer for client timeouts: %s"), g_strerror (errno));
                        return;
                }
        }
        /* g_get_monotonic_time () is CLOCK_MONOTONIC */
        if (timerfd_settime (self->timer_fd, TFD_TIMER_ABSTIME, &when, NULL) == 0)
                self->timer_due = due;
}

static void
on_client_deadline (PhxConnection *conn, gint64 due, gpointer user_data)
{
        PhxChannelClients *self = user_data;

        if (self->timer_due == 0 || due < self->timer_due)
                arm_timer (self, due);
}

static void
on_timer (PhxChannelClients *self)
{
        guint64 expirations;
        gint64 now = g_get_monotonic_time (), next = 0;
        g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);

        if (read (self->timer_fd, &expirations, sizeof expirations) < 0 && errno == EAGAIN)
                return; /* a stale event: the timer was moved since */
        self->timer_due = 0;
        /* a client let go leaves self->clients: walk a copy */
        for (guint i = 0; i < self->clients->len; i++)
                g_ptr_array_add (clients, g_object_ref (g_ptr_array_index (self->clients, i)));
        for (guint i = 0; i < clients->len; i++) {
                gint64 due = phx_connection_expire (g_ptr_array_index (clients, i), now);

                if (due != 0 && (next == 0 || due < next))
                        next = due;
        }
        if (next != 0)
                arm_timer (self, next);
}

/* ---- A client's events ---- */

static void
on_client_event (PhxChannelClients *self, PhxConnection *conn, guint32 ev)
{
        gboolean got;

        /* the connection may close (and leave the client list) while we use it */
        g_object_ref (conn);
        if ((ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) &&
            phx_connection_read (conn, (ev & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) != 0, &got) == PHX_READ_CLOSED) {
                /* gone already */
        } else if (ev & (EPOLLHUP | EPOLLERR)) {
                /* Both directions shut: what was read is dispatched, but no one is left to answer. */
                phx_connection_peer_hung_up (conn);
        } else if (ev & EPOLLOUT) {
                phx_connection_flush (conn);
        }
        g_object_unref (conn);
}

static PhxConnection *
find_client (PhxChannelClients *self, guint64 key)
{
        for (guint i = 0; PHX_EPOLL_KEY_ID (key) != 0 && i < self->clients->len; i++) {
                PhxConnection *conn = g_ptr_array_index (self->clients, i);
                if (phx_connection_get_fd (conn) == PHX_EPOLL_KEY_FD (key) &&
                    phx_connection_get_id (conn) == PHX_EPOLL_KEY_ID (key))
                        return conn;
        }
        return NULL;
}

/* An event of a client's (its key has a connection id) or of the clients' timer: handled,
 * and TRUE; FALSE for an event that is the channel's own. */
gboolean
phx_channel_clients_handle_event (PhxChannelClients *self, guint64 key, guint32 events)
{
        PhxConnection *conn;

        if (PHX_EPOLL_KEY_ID (key) != 0) {
                if ((conn = find_client (self, key)) != NULL)
                        on_client_event (self, conn, events);
                return TRUE;
        }
        if (self->timer_fd >= 0 && PHX_EPOLL_KEY_FD (key) == self->timer_fd) {
                on_timer (self);
                return TRUE;
        }
        return FALSE;
}

/* On the way out the channel reads nothing more; a client that hangs up is still let go. */
void
phx_channel_clients_handle_event_stopped (PhxChannelClients *self, guint64 key, guint32 events)
{
        PhxConnection *conn = find_client (self, key);
        guint64 expirations;

        /* level-triggered: read, or it wakes the loop until exit */
        if (key == PHX_EPOLL_KEY (self->timer_fd, 0) && self->timer_fd >= 0 &&
            read (self->timer_fd, &expirations, sizeof expirations) < 0)
                return;

        if (conn != NULL && (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
                phx_connection_close (conn);
}

/* ---- Admission: within the bound, or refused ---- */

/* At the bound: a client that has hung up but whose hang-up is not handled yet (its event
 * is behind this accept in the same wake-up) frees its slot first, so that a client is never
 * refused for a place nobody holds. A half-closed client still waits for replies: it stays. */
static void
reap_departed (PhxChannelClients *self)
{
        for (guint i = self->clients->len; i-- > 0;) {
                PhxConnection *conn = g_ptr_array_index (self->clients, i);
                struct pollfd p = { .fd = phx_connection_get_fd (conn), .events = 0 };

                if (poll (&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
                        on_client_event (self, conn, EPOLLIN | EPOLLHUP);
        }
}

/* A client past the bound is told why in one line that both dialects read as an error (a
 * Phoenix host finds bufb64 and code, a qemu-ga host class and desc), then let go: waiting
 * in the backlog, it could not tell a busy agent from a hung one. */
static void
refuse_client (PhxChannelClients *self, int fd)
{
        gsize len = strlen (self->refusal);

        g_debug ("client refused: %u clients already", self->clients->len);
        /* A fresh socket's buffer takes one short line; if not, the client sees EOF only. */
        if (send (fd, self->refusal, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                g_debug ("refusal: %s", g_strerror (errno));
        close (fd);
}

/* A client the channel accepted (fd is ours from here on): its connection, now watched and
 * timed, for the channel to announce; NULL if it was refused or could not be watched. */
PhxConnection *
phx_channel_clients_admit (PhxChannelClients *self, int fd, gsize request_max)
{
        g_autoptr(PhxConnection) conn = NULL;

        if (self->clients->len >= self->clients_max)
                reap_departed (self);
        if (self->clients->len >= self->clients_max) {
                refuse_client (self, fd);
                return NULL;
        }
        conn = phx_connection_new (fd, TRUE, request_max, self->budget);
        if (!epoll_add (self, fd, CLIENT_EVENTS, PHX_EPOLL_KEY (fd, phx_connection_get_id (conn)))) {
                phx_connection_close (conn);
                return NULL;
        }
        g_ptr_array_add (self->clients, g_object_ref (conn));
        g_signal_connect (conn, "closed", G_CALLBACK (on_client_closed), self);
        g_signal_connect (conn, "blocked", G_CALLBACK (on_client_blocked), self);
        g_signal_connect (conn, "deadline", G_CALLBACK (on_client_deadline), self);
        phx_connection_set_limits (conn, PHX_CLIENT_QUEUE_HIGH, self->idle_ms, self->stall_ms);
        return g_steal_pointer (&conn);
}

/* Clients served at once (1..PHX_CLIENTS_LIMIT) and the seconds a client may stay idle or
 * leave its replies unread (0: for ever). Applies to clients admitted afterwards. */
void
phx_channel_clients_set_limits (PhxChannelClients *self, guint clients_max, guint idle_s, guint stall_s)
{
        g_autofree char *message = NULL;
        g_autofree char *b64 = NULL;

        self->clients_max = CLAMP (clients_max, 1, PHX_CLIENTS_LIMIT);
        self->idle_ms = MIN (idle_s, PHX_CLIENT_TIMEOUT_MAX) * 1000;
        self->stall_ms = MIN (stall_s, PHX_CLIENT_TIMEOUT_MAX) * 1000;
        message = g_strdup_printf ("too many clients: the limit is %u", self->clients_max);
        b64 = g_base64_encode ((const guchar *) message, strlen (message));
        g_free (self->refusal);
        self->refusal = g_strdup_printf ("{\"error\":{\"class\":\"GenericError\",\"desc\":\"%s\","
                                         "\"bufb64\":\"%s\",\"code\":%d},\"tag\":\"\"}\n",
                                         message, b64, EBUSY);
}

guint
phx_channel_clients_get_count (PhxChannelClients *self)
{
        return self->clients->len;
}

/* On the way out: a client's requests read together with agent-shutdown are not taken. */
void
phx_channel_clients_stop_reading (PhxChannelClients *self)
{
        for (guint i = 0; i < self->clients->len; i++)
                phx_connection_stop_reading (g_ptr_array_index (self->clients, i));
}

/* Before exit: one deadline for all, so that many clients that read nothing do not add up
 * to minutes. */
void
phx_channel_clients_linger (PhxChannelClients *self, guint timeout_ms)
{
        gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

        for (guint i = 0; i < self->clients->len; i++) {
                gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;

                phx_connection_linger (g_ptr_array_index (self->clients, i), (guint) MAX (left_ms, 0));
        }
}

/* The clients of the listening socket whose events come through epfd (the channel's, which
 * outlives this object). */
PhxChannelClients *
phx_channel_clients_new (int epfd, PhxBudget *budget)
{
        PhxChannelClients *self = g_object_new (PHX_TYPE_CHANNEL_CLIENTS, NULL);

        self->epfd = epfd;
        self->budget = g_object_ref (budget);
        return self;
}

static void
phx_channel_clients_dispose (GObject *object)
{
        PhxChannelClients *self = PHX_CHANNEL_CLIENTS (object);

        for (guint i = 0; self->clients != NULL && i < self->clients->len; i++)
                g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->clients, i), self);
        g_clear_pointer (&self->clients, g_ptr_array_unref);
        g_clear_object (&self->budget);
        G_OBJECT_CLASS (phx_channel_clients_parent_class)->dispose (object);
}

static void
phx_channel_clients_finalize (GObject *object)
{
        PhxChannelClients *self = PHX_CHANNEL_CLIENTS (object);

        if (self->timer_fd >= 0)
                close (self->timer_fd);
        g_free (self->refusal);
        G_OBJECT_CLASS (phx_channel_clients_parent_class)->finalize (object);
}

static void
phx_channel_clients_class_init (PhxChannelClientsClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);

        object_class->dispose = phx_channel_clients_dispose;
        object_class->finalize = phx_channel_clients_finalize;
        /* A client closed and left the set (the channel decides whether a host is still there). */
        signals[SIGNAL_LEFT] = g_signal_new ("left", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                             NULL, G_TYPE_NONE, 0);
}

static void
phx_channel_clients_init (PhxChannelClients *self)
{
        self->epfd = -1;
        self->timer_fd = -1;
        self->clients = g_ptr_array_new_with_free_func (g_object_unref);
}
