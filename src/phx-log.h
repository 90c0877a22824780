/* phx-log.h — the log writer: normal output, or a bounded memory ring while frozen. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void phx_log_install (void);
void phx_log_set_held (gboolean held);
guint phx_log_get_held_count (void);

G_END_DECLS
