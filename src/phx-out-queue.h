/* phx-out-queue.h — PhxOutQueue: the bytes a connection owes its host, in order, charged to
 * the agent's budget as the memory they hold, and written without blocking. */
#pragma once

#include <glib.h>

#include "phx-budget.h"

G_BEGIN_DECLS

typedef enum {
        PHX_OUT_EMPTY,   /* everything was written */
        PHX_OUT_AGAIN,   /* the descriptor takes no more for now */
        PHX_OUT_FAILED,  /* a write failed (errno) */
} PhxOutStatus;

typedef struct _PhxOutQueue PhxOutQueue;

PhxOutQueue *phx_out_queue_new (PhxBudget *budget);
void phx_out_queue_free (PhxOutQueue *self);
gsize phx_out_queue_get_bytes (PhxOutQueue *self);
guint phx_out_queue_get_parts (PhxOutQueue *self);
void phx_out_queue_push (PhxOutQueue *self, GBytes *data, gboolean gathering);
PhxOutStatus phx_out_queue_write (PhxOutQueue *self, int fd, gboolean is_socket, gsize *written);
void phx_out_queue_drop (PhxOutQueue *self);
void phx_out_queue_recharge (PhxOutQueue *self);

G_END_DECLS
