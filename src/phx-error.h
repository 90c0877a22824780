/* phx-error.h — the agent's error domain: codes are errno values (or -1), and the one
 * place where a GError becomes the wire error code. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PHX_ERROR (phx_error_quark ())

/* The wire code used when no system call failed. */
#define PHX_ERROR_GENERIC (-1)

GQuark phx_error_quark (void);

void phx_error_set_errno (GError **error, int errsv, const char *format, ...) G_GNUC_PRINTF (3, 4);
void phx_error_set (GError **error, int code, const char *format, ...) G_GNUC_PRINTF (3, 4);
gint phx_error_wire_code (const GError *error);

G_END_DECLS
