/* phx-log.h — the log writer: normal output, or a bounded memory ring while frozen. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Whether g_debug() lines may be shown at all (G_MESSAGES_DEBUG or --debug, read once at
 * start: GLib reads the environment on every check): tested before formatting debug lines
 * on the request path, which would otherwise cost more than a ping. */
extern gboolean phx_log_debug_wanted;
#define phx_debug_enabled() (phx_log_debug_wanted)

void phx_log_install (void);
void phx_log_set_held (gboolean held);
guint phx_log_get_held_count (void);

G_END_DECLS
