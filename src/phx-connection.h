/* phx-connection.h — PhxConnection: one host's conversation with the agent. Requests come
 * out of it as lines, replies go into it; when it closes, whatever was meant for that host
 * is dropped with it. */
#pragma once

#include <glib-object.h>

#include "phx-budget.h"

G_BEGIN_DECLS

typedef enum {
        PHX_READ_DRAINED,  /* read until the fd had nothing more (or the connection paused) */
        PHX_READ_NO_HOST,  /* a port said "no host" (0 or EIO); the channel decides what it means */
        PHX_READ_CLOSED,   /* the connection closed itself (socket error) */
} PhxReadStatus;

#define PHX_TYPE_CONNECTION (phx_connection_get_type ())
G_DECLARE_FINAL_TYPE (PhxConnection, phx_connection, PHX, CONNECTION, GObject)

PhxConnection *phx_connection_new (int fd, gboolean is_socket, gsize max_line, PhxBudget *budget);
int phx_connection_get_fd (PhxConnection *self);
guint phx_connection_get_id (PhxConnection *self);
gboolean phx_connection_is_closed (PhxConnection *self);
PhxReadStatus phx_connection_read (PhxConnection *self, gboolean until_eagain, gboolean *got);
void phx_connection_peer_hung_up (PhxConnection *self);
void phx_connection_stop_reading (PhxConnection *self);
gboolean phx_connection_is_deaf (PhxConnection *self);
void phx_connection_read_last (PhxConnection *self, gboolean *got);
void phx_connection_send (PhxConnection *self, GBytes *data);
void phx_connection_flush (PhxConnection *self);
gsize phx_connection_get_queued (PhxConnection *self);
gboolean phx_connection_is_socket (PhxConnection *self);
gboolean phx_connection_has_own_bound (PhxConnection *self);
void phx_connection_hold (PhxConnection *self);
void phx_connection_release (PhxConnection *self);
void phx_connection_close (PhxConnection *self);
void phx_connection_linger (PhxConnection *self, guint timeout_ms);
void phx_connection_set_limits (PhxConnection *self, gsize queue_high, guint idle_ms, guint stall_ms);
gint64 phx_connection_expire (PhxConnection *self, gint64 now);

/* A request that takes the connection over (login; see phx-input.c) */
void phx_connection_take_input (PhxConnection *self);
void phx_connection_give_back_input (PhxConnection *self);
void phx_connection_begin_stream (PhxConnection *self);
void phx_connection_pause_stream (PhxConnection *self, gboolean paused);
gboolean phx_connection_is_stream (PhxConnection *self);
void phx_connection_end_stream (PhxConnection *self, const guint8 *rest, gsize len);
GBytes *phx_connection_steal_unread (PhxConnection *self);
void phx_connection_feed (PhxConnection *self, GBytes *bytes);

G_END_DECLS
