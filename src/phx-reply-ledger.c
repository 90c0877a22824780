/* phx-reply-ledger.c — what the dispatcher keeps of one connection's replies (it calls this;
 * this calls nothing of it).
 *
 * qemu-ga's clients take replies in the order of their requests (libvirt takes "the next
 * reply" as the answer; a guest-sync sent last is a barrier: its reply comes last), as
 * qemu-ga, which runs one command at a time, gives them. Commands here run side by side: a
 * qemu-ga reply that is ready before those of older qemu-ga requests waits, encoded and
 * charged to the budget, in its slot (what it reports was read when it ran). Phoenix replies
 * carry their tag and never wait.
 *
 * A client of a listening socket that has its share of large replies made or in the making,
 * unread, runs its next large command once it reads (one always runs): a client that hoards
 * cannot take the whole budget from the others. Its large commands wait here, parked. */
#define G_LOG_DOMAIN "phx-dispatcher"

#include "phx-limits.h"
#include "phx-reply-ledger.h"

struct _PhxReplySlot {
        gpointer request; /* NULL once its reply is made */
        GPtrArray *reply; /* its encoded reply, waiting for the older ones */
        gsize charge;
};

struct _PhxReplyLedger {
        GQueue order;          /* PhxReplySlot*: the qemu-ga requests, in arrival order */
        gsize replies_running; /* reply estimates of its large commands running */
        GQueue parked;         /* its large commands waiting for it to read */
        gboolean closed;       /* nobody will read: no share to keep */
};

PhxReplyLedger *
phx_reply_ledger_new (void)
{
        return g_new0 (PhxReplyLedger, 1);
}

/* Every request holds its connection: none is left when its connection goes. */
void
phx_reply_ledger_free (PhxReplyLedger *self)
{
        g_warn_if_fail (phx_reply_ledger_is_empty (self));
        g_free (self);
}

gboolean
phx_reply_ledger_is_empty (PhxReplyLedger *self)
{
        return g_queue_is_empty (&self->order) && g_queue_is_empty (&self->parked);
}

/* Admission is in arrival order: so is the reply order. */
PhxReplySlot *
phx_reply_ledger_queue (PhxReplyLedger *self, gpointer request)
{
        PhxReplySlot *slot = g_new0 (PhxReplySlot, 1);

        slot->request = request;
        g_queue_push_tail (&self->order, slot);
        return slot;
}

gboolean
phx_reply_ledger_is_next (PhxReplyLedger *self, PhxReplySlot *slot)
{
        return slot != NULL && g_queue_peek_head (&self->order) == slot;
}

/* Its reply is made (the ledger takes it): it waits its turn. Returns the bytes it holds,
 * for the caller to charge until they are sent. */
gsize
phx_reply_ledger_fill (PhxReplyLedger *self, PhxReplySlot *slot, GPtrArray *reply)
{
        slot->request = NULL;
        slot->reply = reply;
        for (guint i = 0; i < reply->len; i++)
                slot->charge += g_bytes_get_size (g_ptr_array_index (reply, i));
        return slot->charge;
}

/* Sends the replies that are next in order and made; returns the bytes they held (the
 * caller releases them). *next_request: the request whose reply is next and not made yet,
 * NULL if none. */
gsize
phx_reply_ledger_send_ready (PhxReplyLedger *self, PhxConnection *conn, gpointer *next_request)
{
        PhxReplySlot *slot;
        gsize sent = 0;

        while ((slot = g_queue_peek_head (&self->order)) != NULL && slot->request == NULL) {
                g_queue_pop_head (&self->order);
                for (guint i = 0; slot->reply != NULL && i < slot->reply->len; i++)
                        phx_connection_send (conn, g_ptr_array_index (slot->reply, i));
                sent += slot->charge;
                g_clear_pointer (&slot->reply, g_ptr_array_unref);
                g_free (slot);
        }
        *next_request = slot != NULL ? slot->request : NULL;
        return sent;
}

void
phx_reply_ledger_set_closed (PhxReplyLedger *self)
{
        self->closed = TRUE;
}

/* Whether a large command of this client must wait for it to read first. */
gboolean
phx_reply_ledger_over_share (PhxReplyLedger *self, PhxConnection *conn, gsize estimate)
{
        gsize held;

        if (self->closed || !phx_connection_has_own_bound (conn))
                return FALSE;
        held = self->replies_running + phx_connection_get_queued (conn);
        return held > 0 && held + estimate > PHX_CLIENT_REPLY_SHARE;
}

void
phx_reply_ledger_add_running (PhxReplyLedger *self, gsize estimate)
{
        self->replies_running += estimate;
}

void
phx_reply_ledger_sub_running (PhxReplyLedger *self, gsize estimate)
{
        self->replies_running -= estimate;
}

void
phx_reply_ledger_park (PhxReplyLedger *self, gpointer request)
{
        g_queue_push_tail (&self->parked, request);
}

gpointer
phx_reply_ledger_peek_parked (PhxReplyLedger *self)
{
        return g_queue_peek_head (&self->parked);
}

void
phx_reply_ledger_pop_parked (PhxReplyLedger *self)
{
        g_queue_pop_head (&self->parked);
}
