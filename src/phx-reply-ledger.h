/* phx-reply-ledger.h — PhxReplyLedger: what the dispatcher keeps of one connection's replies:
 * qemu-ga's reply order, and a listening client's share of large replies. */
#pragma once

#include "phx-connection.h"

G_BEGIN_DECLS

typedef struct _PhxReplyLedger PhxReplyLedger;
typedef struct _PhxReplySlot PhxReplySlot;

PhxReplyLedger *phx_reply_ledger_new (void);
void phx_reply_ledger_free (PhxReplyLedger *self);
gboolean phx_reply_ledger_is_empty (PhxReplyLedger *self);

/* qemu-ga's order: a slot per request, in arrival order */
PhxReplySlot *phx_reply_ledger_queue (PhxReplyLedger *self, gpointer request);
gboolean phx_reply_ledger_is_next (PhxReplyLedger *self, PhxReplySlot *slot);
gsize phx_reply_ledger_fill (PhxReplyLedger *self, PhxReplySlot *slot, GPtrArray *reply);
gsize phx_reply_ledger_send_ready (PhxReplyLedger *self, PhxConnection *conn, gpointer *next_request);

/* a listening client's share (PHX_CLIENT_REPLY_SHARE) */
void phx_reply_ledger_set_closed (PhxReplyLedger *self);
gboolean phx_reply_ledger_over_share (PhxReplyLedger *self, PhxConnection *conn, gsize estimate);
void phx_reply_ledger_add_running (PhxReplyLedger *self, gsize estimate);
void phx_reply_ledger_sub_running (PhxReplyLedger *self, gsize estimate);
void phx_reply_ledger_park (PhxReplyLedger *self, gpointer request);
gpointer phx_reply_ledger_peek_parked (PhxReplyLedger *self);
void phx_reply_ledger_pop_parked (PhxReplyLedger *self);

G_END_DECLS
