/* phx-channel.h — the transport between hosts and agent: a virtio-serial port, a serial tty
 * or a listening unix or vsock socket (several clients at once). Each host gets a PhxConnection (the "connection" signal). */
#pragma once

#include <glib-object.h>

#include "phx-budget.h"
#include "phx-connection.h"

G_BEGIN_DECLS

typedef enum {
        PHX_METHOD_VIRTIO_SERIAL,
        PHX_METHOD_ISA_SERIAL,
        PHX_METHOD_UNIX_LISTEN,
        PHX_METHOD_VSOCK_LISTEN,
} PhxMethod;

gboolean phx_method_from_string (const char *text, PhxMethod *method);
const char *phx_method_to_string (PhxMethod method);
gboolean phx_method_split (const char *text, PhxMethod *method, const char **path);

#define PHX_TYPE_CHANNEL (phx_channel_get_type ())
G_DECLARE_FINAL_TYPE (PhxChannel, phx_channel, PHX, CHANNEL, GObject)

PhxChannel *phx_channel_new (PhxMethod method, const char *path, guint socket_mode, PhxBudget *budget,
                             GError **error);
void phx_channel_set_request_max (PhxChannel *self, gsize request_max);
void phx_channel_set_clients (PhxChannel *self, guint clients_max, guint idle_s, guint stall_s);
void phx_channel_set_vsock_any_peer (PhxChannel *self, gboolean any_peer);
guint phx_channel_get_clients (PhxChannel *self);
void phx_channel_start (PhxChannel *self);
void phx_channel_stop (PhxChannel *self);
void phx_channel_linger (PhxChannel *self, guint timeout_ms);
gboolean phx_channel_get_host_connected (PhxChannel *self);
PhxMethod phx_channel_get_method (PhxChannel *self);
const char *phx_channel_get_path (PhxChannel *self);

G_END_DECLS
