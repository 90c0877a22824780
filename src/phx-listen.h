/* phx-listen.h — opening a channel's listening socket (unix, vsock, or passed by systemd). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int phx_listen_unix (const char *path, guint socket_mode, GError **error);
int phx_listen_vsock (const char *address, GError **error);
int phx_listen_inherited (GError **error);
/* The address family (AF_UNIX or AF_VSOCK) and the name (for the log and D-Bus) of a
 * listening socket; 0 and an error for another family. */
int phx_listen_describe (int fd, char **name, GError **error);

G_END_DECLS
