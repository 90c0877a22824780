/* phx-freeze-hook.h — running the --fsfreeze-hook program. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

gboolean phx_freeze_hook_run (const char *hook, const char *action, guint timeout_seconds, GError **error);
GSubprocess *phx_freeze_hook_spawn (const char *hook, const char *action, GError **error);
void phx_freeze_hook_kill (GSubprocess *proc);

G_END_DECLS
