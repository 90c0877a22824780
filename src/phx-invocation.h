/* phx-invocation.h — PhxInvocation: one request, from its line to its reply. It knows the
 * connection it came from and how to answer it; a reply for a connection that has closed
 * goes nowhere. */
#pragma once

#include "phx-connection.h"
#include "phx-family.h"
#include "phx-registry.h"

G_BEGIN_DECLS

typedef struct _PhxInvocation PhxInvocation;

struct _PhxInvocation {
        PhxCall call;           /* first member: what the command and its family see */
        PhxPrepared prepared;   /* tag, name, registry entry (its args moved to call.args) */
        GBytes *line;           /* only while the line waits to be parsed */
        JsonNode *result;
        GError *error;
        GPtrArray *reply;       /* encoded reply parts, once made */
        GTask *internal;        /* the agent's own call: completed instead of answered */
        gsize cost;             /* budget held while unanswered */
        gsize reply_charge;     /* budget held for the reply a running command will make */
        gboolean admitted;      /* the family's admit took it: its finish step will run */
        gboolean started;
        gboolean held;          /* in the dispatcher's queue of calls waiting for budget */
        gboolean parked;        /* waiting for its client to read its share of replies */
        gboolean discarded;     /* its connection stopped taking requests (the agent is on its
                                 * way out) before it was prepared: never run, never answered */
        gboolean took_input;    /* PHX_CMD_TAKES_CONNECTION: its connection reads nothing more
                                 * until it is answered (then a stream, or requests again) */
        struct _PhxReplySlot *order_slot; /* qemu-ga: its place in its connection's reply order */
        GList link;             /* in its connection's list of unanswered invocations */
};

PhxInvocation *phx_invocation_new (PhxConnection *connection, GTask *internal);
void phx_invocation_free (PhxInvocation *self);
const char *phx_invocation_get_name (PhxInvocation *self);
void phx_invocation_encode (PhxInvocation *self);
void phx_invocation_deliver (PhxInvocation *self);
GPtrArray *phx_invocation_steal_reply (PhxInvocation *self);
gsize phx_invocation_reply_size (PhxInvocation *self);

G_END_DECLS
