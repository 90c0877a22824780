/* phx-channel-clients.h — private to phx-channel.c: the clients a listening socket serves at
 * once (admitted within a bound, refused past it, timed out by one timerfd). */
#pragma once

#include <glib-object.h>

#include "phx-budget.h"
#include "phx-connection.h"

G_BEGIN_DECLS

/* What an epoll event says it is about: the descriptor, and for a client its connection's id
 * (0 for the channel's own descriptors and the clients' timer). A descriptor closed while a
 * batch of events is handled may be reused at once by a client accepted in the same batch;
 * the id tells the newcomer from the stale events of the one that went (a stale hang-up once
 * closed the new client). */
#define PHX_EPOLL_KEY(fd, id) (((guint64) (id) << 32) | (guint32) (fd))
#define PHX_EPOLL_KEY_FD(key) ((int) ((key) & 0xffffffffu))
#define PHX_EPOLL_KEY_ID(key) ((guint) ((key) >> 32))

#define PHX_TYPE_CHANNEL_CLIENTS (phx_channel_clients_get_type ())
G_DECLARE_FINAL_TYPE (PhxChannelClients, phx_channel_clients, PHX, CHANNEL_CLIENTS, GObject)

PhxChannelClients *phx_channel_clients_new (int epfd, PhxBudget *budget);
void phx_channel_clients_set_limits (PhxChannelClients *self, guint clients_max, guint idle_s, guint stall_s);
guint phx_channel_clients_get_count (PhxChannelClients *self);
PhxConnection *phx_channel_clients_admit (PhxChannelClients *self, int fd, gsize request_max);
gboolean phx_channel_clients_handle_event (PhxChannelClients *self, guint64 key, guint32 events);
void phx_channel_clients_handle_event_stopped (PhxChannelClients *self, guint64 key, guint32 events);
void phx_channel_clients_stop_reading (PhxChannelClients *self);
void phx_channel_clients_linger (PhxChannelClients *self, guint timeout_ms);

G_END_DECLS
