/* phx-log.h — the log writer: normal output, or a bounded memory ring while frozen. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Whether a g_debug() of this file's domain would be shown: checked before formatting debug
 * lines on the request path, which would otherwise cost more than a ping. */
#define phx_debug_enabled() (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))

void phx_log_install (void);
void phx_log_set_held (gboolean held);
guint phx_log_get_held_count (void);

G_END_DECLS
