/* phx-out-queue.c — what a connection owes its host, in order. A large reply is a part of
 * its own (its GBytes, never copied); small ones are gathered into one block behind the
 * parts, which becomes a part only once everything before it has gone: a host that stops
 * reading then leaves one growing block, not a 64 KiB block per reply. The queue charges
 * the budget with what it holds (bytes, each part's bookkeeping, a block's room not yet
 * filled) and writes up to PHX_WRITE_BATCH parts in one writev or sendmsg.
 *
 * The connection owns it; it calls nothing but the budget, and says what a write did by
 * what it returns. */
#define G_LOG_DOMAIN "phx-connection"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "phx-limits.h"
#include "phx-out-queue.h"

/* What one queued part costs beyond its bytes (GBytes, queue link, allocator). */
#define PART_OVERHEAD 96

struct _PhxOutQueue {
        PhxBudget *budget;
        GQueue parts;     /* GBytes* waiting to be written */
        GByteArray *tail; /* small replies gathered after `parts`, not yet a part */
        gsize tail_size;  /* what the tail was allocated with */
        gsize offset;     /* bytes of the head already written */
        gsize bytes;      /* in `parts` and `tail` */
        gsize charged;    /* what the queue holds against the budget */
};

PhxOutQueue *
phx_out_queue_new (PhxBudget *budget)
{
        PhxOutQueue *self = g_new0 (PhxOutQueue, 1);

        self->budget = g_object_ref (budget);
        return self;
}

/* The budget is told what the queue holds now: after a write, or after a push that is not
 * written at once (a reply the host takes at once is never charged whole). */
void
phx_out_queue_recharge (PhxOutQueue *self)
{
        gsize now = self->bytes + (self->parts.length + (self->tail != NULL)) * PART_OVERHEAD;

        /* the tail's room not yet filled is memory too */
        if (self->tail != NULL && self->tail_size > self->tail->len)
                now += self->tail_size - self->tail->len;

        gsize was = self->charged;

        /* set first: the budget's notification may lead to another write of this queue */
        self->charged = now;
        if (now > was)
                phx_budget_charge (self->budget, now - was);
        else if (now < was)
                phx_budget_release (self->budget, was - now);
}

/* Everything still owed is forgotten (the host is gone). */
void
phx_out_queue_drop (PhxOutQueue *self)
{
        g_queue_clear_full (&self->parts, (GDestroyNotify) g_bytes_unref);
        g_clear_pointer (&self->tail, g_byte_array_unref);
        self->offset = 0;
        self->bytes = 0;
        phx_out_queue_recharge (self);
}

void
phx_out_queue_free (PhxOutQueue *self)
{
        phx_out_queue_drop (self);
        g_object_unref (self->budget);
        g_free (self);
}

gsize
phx_out_queue_get_bytes (PhxOutQueue *self)
{
        return self->bytes;
}

guint
phx_out_queue_get_parts (PhxOutQueue *self)
{
        return self->parts.length;
}

static void
queue_tail (PhxOutQueue *self)
{
        if (self->tail != NULL)
                g_queue_push_tail (&self->parts, g_byte_array_free_to_bytes (g_steal_pointer (&self->tail)));
}

/* gathering: more small replies are expected at once (the connection is reading a burst of
 * requests), so a block is made full-size rather than to this reply's size. */
void
phx_out_queue_push (PhxOutQueue *self, GBytes *data, gboolean gathering)
{
        gsize len = g_bytes_get_size (data);

        /* An empty part would make writev() return 0 and the queue never advance. */
        if (len == 0)
                return;
        if (len <= PHX_REPLY_COALESCE_MAX) {
                if (self->tail != NULL && self->tail->len + len > PHX_OUTPUT_BLOCK)
                        queue_tail (self);
                if (self->tail == NULL) {
                        self->tail_size = gathering ? PHX_OUTPUT_BLOCK : len;
                        self->tail = g_byte_array_sized_new (self->tail_size);
                }
                g_byte_array_append (self->tail, g_bytes_get_data (data, NULL), len);
        } else {
                queue_tail (self);
                g_queue_push_tail (&self->parts, g_bytes_ref (data));
        }
        self->bytes += len;
}

/* Writes until the queue is empty or the descriptor takes no more; *written: how many
 * bytes went. */
PhxOutStatus
phx_out_queue_write (PhxOutQueue *self, int fd, gboolean is_socket, gsize *written)
{
        PhxOutStatus status = PHX_OUT_EMPTY;

        *written = 0;
        for (;;) {
                struct iovec iov[PHX_WRITE_BATCH];
                int n_iov = 0;
                ssize_t n;

                if (g_queue_is_empty (&self->parts)) {
                        if (self->tail == NULL)
                                break;
                        queue_tail (self);
                }
                for (GList *l = self->parts.head; l != NULL && n_iov < (int) G_N_ELEMENTS (iov); l = l->next) {
                        gsize len;
                        const char *data = g_bytes_get_data (l->data, &len);
                        gsize skip = n_iov == 0 ? self->offset : 0;
                        iov[n_iov].iov_base = (char *) data + skip;
                        iov[n_iov].iov_len = len - skip;
                        n_iov++;
                }
                if (is_socket) {
                        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n_iov };
                        n = sendmsg (fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
                } else {
                        n = writev (fd, iov, n_iov);
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        status = errno == EAGAIN ? PHX_OUT_AGAIN : PHX_OUT_FAILED;
                        break;
                }
                self->bytes -= n;
                *written += n;
                while (n > 0) {
                        gsize len = g_bytes_get_size (self->parts.head->data) - self->offset;
                        if ((gsize) n < len) {
                                self->offset += n;
                                break;
                        }
                        n -= len;
                        self->offset = 0;
                        g_bytes_unref (g_queue_pop_head (&self->parts));
                }
        }
        {
                int saved = errno;
                phx_out_queue_recharge (self);
                errno = saved;
        }
        return status;
}
