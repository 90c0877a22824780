/* phx-listen.h — opening a channel's listening socket (unix, vsock, or passed by systemd). */
#pragma once

#include <glib.h>

#include "phx-channel.h"

G_BEGIN_DECLS

int phx_listen_unix (const char *path, guint socket_mode, GError **error);
int phx_listen_vsock (const char *address, GError **error);
int phx_listen_inherited (GError **error);
gboolean phx_listen_describe (int fd, PhxMethod *method, char **name, GError **error);

G_END_DECLS
