/* phx-channel.h — the transport between host and agent: a virtio-serial port, a serial tty
 * or a listening unix socket, carried as request lines in and reply bytes out. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum {
        PHX_METHOD_VIRTIO_SERIAL,
        PHX_METHOD_ISA_SERIAL,
        PHX_METHOD_UNIX_LISTEN,
} PhxMethod;

gboolean phx_method_from_string (const char *text, PhxMethod *method);
const char *phx_method_to_string (PhxMethod method);

/* Lines arrive with the connection generation they belong to; a reply sent with an older
 * generation is dropped, so a new host never receives answers meant for a previous one. */
typedef void (*PhxChannelLineFunc) (GBytes *line, guint generation, gpointer user_data);
typedef void (*PhxChannelOverlongFunc) (guint generation, gpointer user_data);
/* Called when the reply queue has just become empty, or the host stopped sending. */
typedef void (*PhxChannelDrainedFunc) (gpointer user_data);

#define PHX_TYPE_CHANNEL (phx_channel_get_type ())
G_DECLARE_FINAL_TYPE (PhxChannel, phx_channel, PHX, CHANNEL, GObject)

/* socket_mode: permission bits of a unix-listen socket (0: PHX_SOCKET_MODE_DEFAULT) */
PhxChannel *phx_channel_new (PhxMethod method, const char *path, guint socket_mode, GError **error);
void phx_channel_set_handlers (PhxChannel *self, PhxChannelLineFunc line_func,
                               PhxChannelOverlongFunc overlong_func,
                               PhxChannelDrainedFunc drained_func, gpointer user_data);
void phx_channel_send (PhxChannel *self, guint generation, GBytes *data);
void phx_channel_set_paused (PhxChannel *self, gboolean paused);
gsize phx_channel_get_queued (PhxChannel *self);
gboolean phx_channel_get_peer_eof (PhxChannel *self);
guint phx_channel_get_generation (PhxChannel *self);
void phx_channel_disconnect (PhxChannel *self);
void phx_channel_linger (PhxChannel *self, guint timeout_ms);
gboolean phx_channel_get_host_connected (PhxChannel *self);
PhxMethod phx_channel_get_method (PhxChannel *self);
const char *phx_channel_get_path (PhxChannel *self);

G_END_DECLS
