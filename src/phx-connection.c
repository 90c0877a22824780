/* phx-connection.c — one host connection: its input, which cuts its bytes into request
 * lines, its queue of replies (phx-out-queue.c) and when to write it, and the knowledge of
 * whether the host is still there; for a listening client also its own back-pressure and
 * when it is due to be let go (idle, or leaving its replies unread). It emits "line" and
 * "overlong" for requests, "stream" for the bytes of a connection a request took over, and
 * "closed" once when it ends; it knows nothing of JSON or commands and never calls its
 * owner.
 *
 * On a socket the connection owns its descriptor; on a character device it borrows the
 * port's, and a new connection stands for each host that attaches (the channel decides when
 * one has left). A reply sent to a closed connection is dropped: it can never reach whoever
 * attaches next. */
#define G_LOG_DOMAIN "phx-connection"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "phx-connection.h"
#include "phx-input.h"
#include "phx-limits.h"
#include "phx-out-queue.h"

struct _PhxConnection {
        GObject parent_instance;
        guint id;
        int fd;
        gboolean is_socket;   /* owns fd; else a borrowed port */
        gboolean closed;
        gboolean paused;      /* the budget is exhausted: take no more requests */
        gboolean in_read;     /* replies made while reading are written together after */
        gboolean peer_eof;    /* a socket host shut down its sending side */
        gboolean deaf;        /* the agent is on its way out: no request more is taken */
        gboolean departing;   /* a port's host left: only its stream's last bytes are read */
        gboolean blocked;     /* a write met EAGAIN and the queue has not drained since */
        guint pending;        /* requests taken and not yet answered */
        guint resume_id;
        gboolean backlogged;  /* past its own limits (see over_limits): take no more */
        gboolean behind;      /* the last flush left replies the socket would not take */
        gsize queue_high;     /* 0: no bound of its own (a port: the budget bounds it) */
        guint idle_ms;        /* 0: a connection may stay idle for ever */
        guint stall_ms;       /* 0: a host may leave its replies unread for ever */
        gint64 last_heard;    /* when the host last sent bytes */
        gint64 last_taken;    /* when the host last took reply bytes (or the queue began) */
        gint64 timer_due;     /* the deadline the owner was last given; 0: none */
        PhxBudget *budget;
        PhxInput *input;      /* what the host's bytes are: requests, or a stream */
        gsize max_line;
        PhxOutQueue *out;     /* the replies owed, charged to the budget */
        char *readbuf;
};

enum {
        SIGNAL_LINE,
        SIGNAL_OVERLONG,
        SIGNAL_CLOSED,
        SIGNAL_DRAINED,
        SIGNAL_BLOCKED,
        SIGNAL_DEADLINE,
        SIGNAL_STREAM,
        N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxConnection, phx_connection, G_TYPE_OBJECT)


int
phx_connection_get_fd (PhxConnection *self)
{
        return self->fd;
}

/* Unique in the process (never reused, unlike the descriptor). */
guint
phx_connection_get_id (PhxConnection *self)
{
        return self->id;
}

gboolean
phx_connection_is_closed (PhxConnection *self)
{
        return self->closed;
}

gsize
phx_connection_get_queued (PhxConnection *self)
{
        return phx_out_queue_get_bytes (self->out);
}

/* A socket's client, not a port's host (whose coming and going the port only hints at). */
gboolean
phx_connection_is_socket (PhxConnection *self)
{
        return self->is_socket;
}

/* A client of a listening socket (bounded by its own limits), not a port's single host. */
gboolean
phx_connection_has_own_bound (PhxConnection *self)
{
        return self->queue_high > 0;
}

/* A half-closed host (`echo ... | socat`) still gets every reply; the connection ends once
 * nothing is owed to it. */
static void
maybe_finish (PhxConnection *self)
{
        /* a stream ends by its own rules first (its consumer hands the connection back) */
        if (self->peer_eof && self->pending == 0 && phx_out_queue_get_bytes (self->out) == 0 && phx_input_is_requests (self->input))
                phx_connection_close (self);
}

/* ---- Timeouts of a listening client. The connection knows when it is due to be let go; its
 * owner keeps the clock (one timerfd for all its clients, in the epoll set it already
 * watches, so the main loop never sleeps with a timeout) and is told through "deadline" only
 * when a deadline comes nearer than the one it was last given: a busy client costs no system
 * call per request, an idle one a single wake-up at its idle deadline. */

/* When this client is to be let go, or 0 if never as things stand. A client with a command
 * running is neither idle nor stalled: its reply will come. */
static gint64
due_time (PhxConnection *self)
{
        if (self->closed)
                return 0;
        if (phx_out_queue_get_bytes (self->out) > 0)
                return self->stall_ms > 0 ? self->last_taken + (gint64) self->stall_ms * 1000 : 0;
        /* a terminal may be idle for as long as its user likes */
        if (self->pending > 0 || self->paused || !phx_input_is_requests (self->input))
                return 0;
        return self->idle_ms > 0 ? self->last_heard + (gint64) self->idle_ms * 1000 : 0;
}

static void
update_timer (PhxConnection *self)
{
        gint64 due;

        /* while reading, replies wait for the flush after the read, which looks again */
        if ((self->idle_ms == 0 && self->stall_ms == 0) || self->in_read)
                return;
        due = due_time (self);
        /* a deadline the owner holds that comes too early finds nothing due (and moves on) */
        if (due != 0 && (self->timer_due == 0 || due < self->timer_due)) {
                self->timer_due = due;
                g_signal_emit (self, signals[SIGNAL_DEADLINE], 0, due);
        }
}

/* The owner's clock reached this client's last deadline (or passed it): it is let go if it
 * is really due; else its next deadline, 0 for none, is returned for the owner to keep. */
gint64
phx_connection_expire (PhxConnection *self, gint64 now)
{
        gint64 due = due_time (self);

        self->timer_due = 0;
        if (due == 0)
                return 0;
        if (due > now) {
                self->timer_due = due;
                return due;
        }
        g_message ("connection %u: %s for %u s: disconnected", self->id,
                   phx_out_queue_get_bytes (self->out) > 0 ? "replies unread" : "idle",
                   (phx_out_queue_get_bytes (self->out) > 0 ? self->stall_ms : self->idle_ms) / 1000);
        phx_connection_close (self);
        return 0;
}

/* A listening client: its own bound on unread replies (past it, it is read no more until it
 * takes them), and how long it may stay idle or leave its replies unread before it is let go
 * (0: for ever). */
static gboolean budget_pauses (PhxConnection *self);
static gboolean on_resume (gpointer user_data);

void
phx_connection_set_limits (PhxConnection *self, gsize queue_high, guint idle_ms, guint stall_ms)
{
        self->queue_high = queue_high;
        self->paused = budget_pauses (self);
        self->idle_ms = idle_ms;
        self->stall_ms = stall_ms;
        self->last_heard = self->last_taken = g_get_monotonic_time ();
        update_timer (self);
}

/* A listening client's own back-pressure: it is read no more while it leaves too many
 * replies unread or has too many requests running, and again once half of either is gone. */
static gboolean
over_limits (PhxConnection *self)
{
        return phx_out_queue_get_bytes (self->out) >= self->queue_high || self->pending >= PHX_CLIENT_PENDING_MAX;
}

static void
check_backlog (PhxConnection *self)
{
        if (self->queue_high == 0)
                return;
        if (!self->backlogged && over_limits (self)) {
                self->backlogged = TRUE;
        } else if (self->backlogged && phx_out_queue_get_bytes (self->out) <= self->queue_high / 2 &&
                   self->pending <= PHX_CLIENT_PENDING_MAX / 2) {
                self->backlogged = FALSE;
                /* no edge to trust for what came meanwhile: read on from the loop */
                if (!self->closed && !self->paused && self->resume_id == 0)
                        self->resume_id = g_idle_add (on_resume, self);
        }
}

/* A client that is behind (replies the socket would not take, or many requests running) is
 * read in small bites, so that one read cannot hand the agent thousands of requests past its
 * limits; one that keeps up, or is sending a large line, in full chunks. */
static gsize
read_size (PhxConnection *self)
{
        if (self->queue_high > 0 && (self->behind || self->pending >= PHX_CLIENT_PENDING_MAX / 4) &&
            phx_input_get_buffered (self->input) == 0)
                return PHX_CLIENT_READ_SMALL;
        return PHX_CHANNEL_READ_CHUNK;
}

/* Ends the connection: queued replies are dropped, a half-read line is forgotten, the
 * socket is closed. "closed" tells the owner (to stop watching) and the dispatcher (to
 * cancel what this host asked for). Idempotent. */
void
phx_connection_close (PhxConnection *self)
{
        if (self->closed)
                return;
        self->closed = TRUE;
        g_debug ("connection %u closed", self->id);
        g_clear_handle_id (&self->resume_id, g_source_remove);
        phx_out_queue_drop (self->out);
        phx_input_reset (self->input);
        if (self->is_socket && self->fd >= 0)
                close (self->fd);
        self->fd = -1;
        g_object_ref (self);
        g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
        g_object_unref (self);
}

void
phx_connection_flush (PhxConnection *self)
{
        gboolean had_output = phx_out_queue_get_bytes (self->out) > 0;
        gsize written;
        PhxOutStatus status;
        gboolean empty;

        if (self->closed)
                return;
        status = phx_out_queue_write (self->out, self->fd, self->is_socket, &written);
        if (written > 0)
                self->last_taken = g_get_monotonic_time ();
        if (status == PHX_OUT_FAILED) {
                g_debug ("connection %u: write: %s", self->id, g_strerror (errno));
                phx_connection_close (self);
                return;
        }
        /* EPOLLOUT tells the channel when to go on */
        if (status == PHX_OUT_AGAIN && !self->blocked) {
                self->blocked = TRUE;
                g_signal_emit (self, signals[SIGNAL_BLOCKED], 0, TRUE);
                if (self->closed)
                        return; /* the owner could not watch it */
        }
        /* what is queued now, not what the write saw: the budget's notification during it
         * may have led to more replies, even to a write of its own */
        empty = phx_out_queue_get_bytes (self->out) == 0;
        if (self->blocked && empty && !self->closed) {
                self->blocked = FALSE;
                g_signal_emit (self, signals[SIGNAL_BLOCKED], 0, FALSE);
        }
        self->behind = !empty;
        check_backlog (self);
        if (had_output && empty) {
                g_signal_emit (self, signals[SIGNAL_DRAINED], 0);
                maybe_finish (self);
        }
        update_timer (self);
}

void
phx_connection_send (PhxConnection *self, GBytes *data)
{
        if (self->closed || g_bytes_get_size (data) == 0)
                return;
        /* the stall clock runs from when the host was first owed something */
        if (phx_out_queue_get_bytes (self->out) == 0)
                self->last_taken = g_get_monotonic_time ();
        phx_out_queue_push (self->out, data, self->in_read);
        check_backlog (self);
        /* While reading, replies are written together afterwards; but not so many parts
         * that a pipelined burst of large replies holds them all at once. */
        if (!self->in_read || phx_out_queue_get_parts (self->out) >= PHX_WRITE_BATCH)
                phx_connection_flush (self);
        else
                phx_out_queue_recharge (self->out);
}

static void
on_stream (GBytes *bytes, gpointer user_data)
{
        PhxConnection *self = user_data;

        g_signal_emit (self, signals[SIGNAL_STREAM], 0, bytes);
}

static void
on_frame (PhxFrameKind kind, GBytes *line, gpointer user_data)
{
        PhxConnection *self = user_data;

        /* a request behind agent-shutdown in the same read is not taken either */
        if (self->deaf)
                return;
        if (kind == PHX_FRAME_LINE)
                g_signal_emit (self, signals[SIGNAL_LINE], 0, line);
        else
                g_signal_emit (self, signals[SIGNAL_OVERLONG], 0, (guint64) self->max_line);
}

/* The host's bytes, as they came. */
static void
take_in (PhxConnection *self, const char *data, gsize len)
{
        if (self->idle_ms > 0)
                self->last_heard = g_get_monotonic_time ();
        phx_input_feed (self->input, data, len);
}

/* After taking bytes in: the replies made meanwhile go out together. */
static void
taken_in (PhxConnection *self)
{
        self->in_read = FALSE;
        if (!self->closed) {
                phx_connection_flush (self);
                maybe_finish (self);
        }
}

/* Reads until the descriptor is drained (edge-triggered: old data raises no new event), the
 * budget pauses us, or the host is gone. until_eagain: the caller saw a hang-up and wants
 * the end of stream read too. *got says whether any byte came. */
PhxReadStatus
phx_connection_read (PhxConnection *self, gboolean until_eagain, gboolean *got)
{
        PhxReadStatus status = PHX_READ_DRAINED;

        *got = FALSE;
        g_object_ref (self);
        self->in_read = TRUE;
        while (!self->closed && !self->paused && !self->backlogged && !self->peer_eof && !self->deaf &&
               (self->departing ? phx_input_wants_last_bytes (self->input) : phx_input_wants_bytes (self->input))) {
                gsize want = read_size (self);
                ssize_t n = read (self->fd, self->readbuf, want);

                if (n > 0) {
                        *got = TRUE;
                        take_in (self, self->readbuf, n);
                        /* A short read drained a socket; anything arriving later raises a
                         * new edge, so the read that would say EAGAIN is saved. */
                        if ((gsize) n < want && self->is_socket && !until_eagain)
                                break;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (!self->is_socket) {
                        /* 0 ("no host" on virtio) or EIO (a pty whose master closed) only ends
                         * this read: whether the host left is the channel's call. */
                        status = PHX_READ_NO_HOST;
                        break;
                }
                if (n == 0) {
                        self->peer_eof = TRUE;
                        phx_input_eof (self->input);
                        break;
                }
                g_debug ("connection %u: read: %s", self->id, g_strerror (errno));
                phx_connection_close (self);
                status = PHX_READ_CLOSED;
                break;
        }
        taken_in (self);
        if (self->closed)
                status = PHX_READ_CLOSED;
        g_object_unref (self);
        return status;
}

/* On the way out: no request more is read or taken, from the bytes read already either;
 * what is queued still goes out (linger). */
void
phx_connection_stop_reading (PhxConnection *self)
{
        self->deaf = TRUE;
}

gboolean
phx_connection_is_deaf (PhxConnection *self)
{
        return self->deaf;
}

/* A port's host that held a terminal stream left: its last frames (its `e`) are read as its
 * own, but nothing after the stream's end, which is the next host's: the stream gives it
 * back (phx_connection_steal_unread). A paused stream is read all the same. */
void
phx_connection_read_last (PhxConnection *self, gboolean *got)
{
        self->departing = TRUE;
        phx_connection_read (self, TRUE, got);
}

/* A socket host closed both directions (EPOLLHUP): nobody will read what is owed, so what is
 * pending is cancelled rather than computed for nobody. Requests it sent before leaving were
 * read first by the caller. */
void
phx_connection_peer_hung_up (PhxConnection *self)
{
        phx_connection_close (self);
}

/* The dispatcher holds the connection while a request of it is unanswered. */
void
phx_connection_hold (PhxConnection *self)
{
        self->pending++;
        check_backlog (self);
}

void
phx_connection_release (PhxConnection *self)
{
        g_return_if_fail (self->pending > 0);
        self->pending--;
        maybe_finish (self);
        check_backlog (self);
        update_timer (self);
}

static gboolean
on_resume (gpointer user_data)
{
        PhxConnection *self = user_data;
        gboolean got;

        self->resume_id = 0;
        /* First the bytes read after a request that took the connection, now that it gave
         * them back (requests again) or made them a stream's; then, with no edge to trust
         * for data that came while paused, read until EAGAIN. A port's "no host" here is
         * left to the channel's next event. */
        g_object_ref (self);
        if (phx_input_feed_held (self->input) && !self->closed)
                phx_connection_read (self, TRUE, &got);
        g_object_unref (self);
        return G_SOURCE_REMOVE;
}

/* An exhausted budget stops a port's host (one host, bounded by the budget alone), not the
 * clients of a listening socket: each has its own bound (check_backlog), so one that hoards
 * replies stops by that, and the others go on being served — their small requests at once,
 * their large ones held by the dispatcher until there is room. */
static gboolean
budget_pauses (PhxConnection *self)
{
        return self->queue_high == 0 && phx_budget_get_exhausted (self->budget);
}

static void
on_budget (PhxBudget *budget, GParamSpec *pspec, gpointer user_data)
{
        PhxConnection *self = user_data;
        gboolean paused = budget_pauses (self);

        if (self->paused == paused || self->closed)
                return;
        self->paused = paused;
        if (!paused && self->resume_id == 0)
                self->resume_id = g_idle_add (on_resume, self);
}

/* Before exit: give the last replies (agent-shutdown's own) a bounded chance to leave. */
void
phx_connection_linger (PhxConnection *self, guint timeout_ms)
{
        gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

        phx_connection_flush (self);
        while (!self->closed && phx_out_queue_get_bytes (self->out) > 0 && g_get_monotonic_time () < deadline) {
                struct pollfd p = { .fd = self->fd, .events = POLLOUT };
                poll (&p, 1, 20);
                phx_connection_flush (self);
        }
}

/* ---- A request that takes the connection over (login; see phx-input.c) ---- */

static void
resume_soon (PhxConnection *self)
{
        if (!self->closed && self->resume_id == 0)
                self->resume_id = g_idle_add (on_resume, self);
}

/* From within its "line": the request just framed takes the connection; nothing more is
 * read until it is given back or made a stream. */
void
phx_connection_take_input (PhxConnection *self)
{
        phx_input_take (self->input);
}

/* The request that took it was refused: what followed it is requests. */
void
phx_connection_give_back_input (PhxConnection *self)
{
        phx_input_give_back (self->input);
        resume_soon (self);
}

/* Its reply is queued: the host's bytes are "stream" from here on, and whatever is sent
 * goes out after that reply. */
void
phx_connection_begin_stream (PhxConnection *self)
{
        phx_input_begin_stream (self->input);
        resume_soon (self);
}

/* The stream's consumer can take no more for now (its bound), or can again. */
void
phx_connection_pause_stream (PhxConnection *self, gboolean paused)
{
        if (phx_input_pause_stream (self->input, paused))
                resume_soon (self);
}

gboolean
phx_connection_is_stream (PhxConnection *self)
{
        return phx_input_is_stream (self->input);
}

/* The stream ended; rest: what the consumer was given after its end, which is requests. */
void
phx_connection_end_stream (PhxConnection *self, const guint8 *rest, gsize len)
{
        phx_input_end_stream (self->input, rest, len);
        resume_soon (self);
}

/* A port's host left: the bytes its ended stream gave back, which no request has taken yet,
 * are the next host's (NULL if none). */
GBytes *
phx_connection_steal_unread (PhxConnection *self)
{
        return phx_input_steal_held (self->input);
}

/* Bytes that came before any still to be read, as if read now (a port's new host's, taken
 * from the connection of the one that left). */
void
phx_connection_feed (PhxConnection *self, GBytes *bytes)
{
        gsize len;
        const char *data = g_bytes_get_data (bytes, &len);

        if (self->deaf)
                return;
        g_object_ref (self);
        self->in_read = TRUE;
        take_in (self, data, len);
        taken_in (self);
        g_object_unref (self);
}

PhxConnection *
phx_connection_new (int fd, gboolean is_socket, gsize max_line, PhxBudget *budget)
{
        static guint next_id = 1;
        PhxConnection *self = g_object_new (PHX_TYPE_CONNECTION, NULL);

        self->id = next_id++;
        self->max_line = max_line;
        self->input = phx_input_new (max_line, on_frame, on_stream, self);
        self->fd = fd;
        self->is_socket = is_socket;
        self->budget = g_object_ref (budget);
        self->out = phx_out_queue_new (budget);
        self->paused = phx_budget_get_exhausted (budget);
        g_signal_connect_object (budget, "notify::exhausted", G_CALLBACK (on_budget), self, 0);
        g_debug ("connection %u opened", self->id);
        return self;
}

static void
phx_connection_dispose (GObject *object)
{
        PhxConnection *self = PHX_CONNECTION (object);

        /* Signal handlers are gone by now: close quietly. */
        if (!self->closed) {
                self->closed = TRUE;
                phx_out_queue_drop (self->out);
                if (self->is_socket && self->fd >= 0)
                        close (self->fd);
                self->fd = -1;
        }
        g_clear_handle_id (&self->resume_id, g_source_remove);
        g_clear_object (&self->budget);
        G_OBJECT_CLASS (phx_connection_parent_class)->dispose (object);
}

static void
phx_connection_finalize (GObject *object)
{
        PhxConnection *self = PHX_CONNECTION (object);

        phx_input_free (self->input);
        g_clear_pointer (&self->out, phx_out_queue_free);
        g_free (self->readbuf);
        G_OBJECT_CLASS (phx_connection_parent_class)->finalize (object);
}

static void
phx_connection_class_init (PhxConnectionClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);

        object_class->dispose = phx_connection_dispose;
        object_class->finalize = phx_connection_finalize;
        /* A request line: its data is NUL-terminated just past its end (see PhxFrameFunc). */
        signals[SIGNAL_LINE] = g_signal_new ("line", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                             NULL, NULL, G_TYPE_NONE, 1,
                                             G_TYPE_BYTES | G_SIGNAL_TYPE_STATIC_SCOPE);
        /* A line past the limit (the argument) ended; its bytes were discarded. */
        signals[SIGNAL_OVERLONG] = g_signal_new ("overlong", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                 NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT64);
        signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                               NULL, NULL, G_TYPE_NONE, 0);
        /* Every reply queued so far has been written. */
        signals[SIGNAL_DRAINED] = g_signal_new ("drained", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, NULL, G_TYPE_NONE, 0);
        /* A listening client's next timeout is nearer than the last one given (the argument:
         * monotonic µs); the owner calls phx_connection_expire () then. */
        signals[SIGNAL_DEADLINE] = g_signal_new ("deadline", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                 NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
        /* A terminal stream's bytes (phx_connection_begin_stream), as they come; NULL once
         * the host shut down its sending side. */
        signals[SIGNAL_STREAM] = g_signal_new ("stream", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                               NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BYTES);
        /* TRUE: a write would block, the rest waits for the descriptor to take more; FALSE:
         * everything has been written since. Lets the owner watch for room only when a
         * reply waits for it. */
        signals[SIGNAL_BLOCKED] = g_signal_new ("blocked", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, g_cclosure_marshal_VOID__BOOLEAN, G_TYPE_NONE, 1,
                                                G_TYPE_BOOLEAN);
}

static void
phx_connection_init (PhxConnection *self)
{
        self->fd = -1;
        self->readbuf = g_malloc (PHX_CHANNEL_READ_CHUNK);
}
