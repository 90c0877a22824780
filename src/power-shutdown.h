/* power-shutdown.h — powering the guest off, halting or rebooting it, the way its own init
 * system does it where it has one. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
        PHX_SHUTDOWN_POWERDOWN,
        PHX_SHUTDOWN_HALT,
        PHX_SHUTDOWN_REBOOT,
} PhxShutdownMode;

gboolean phx_shutdown_mode_from_string (const char *text, PhxShutdownMode *mode);
gboolean phx_power_shutdown (PhxShutdownMode mode, GError **error);

G_END_DECLS
