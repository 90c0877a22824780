/* phx-freeze-state.h — PhxFreezeState: whether the guest is frozen, since when and what, the
 * crash-safe marker, the auto-thaw timer. */
#pragma once

#include <glib-object.h>

#include "phx-freeze-backend.h"
#include "phx-freeze-hook.h"
#include "phx-freeze-plan.h"

G_BEGIN_DECLS

#define PHX_TYPE_FREEZE_STATE (phx_freeze_state_get_type ())
G_DECLARE_FINAL_TYPE (PhxFreezeState, phx_freeze_state, PHX, FREEZE_STATE, GObject)

PhxFreezeState *phx_freeze_state_new (const PhxFreezeBackend *backend, const char *hook, const char *runtime_dir,
                             guint timeout_seconds);
gboolean phx_freeze_state_restore (PhxFreezeState *self, GError **error);
gboolean phx_freeze_state_get_frozen (PhxFreezeState *self);
gint64 phx_freeze_state_get_frozen_since (PhxFreezeState *self);
gboolean phx_freeze_state_get_gate_closed (PhxFreezeState *self);
void phx_freeze_state_begin_freeze (PhxFreezeState *self);
void phx_freeze_state_end_freeze (PhxFreezeState *self);

/* Worker: hook, marker and FIFREEZE; thread-safe, changes no state. */
GPtrArray *phx_freeze_state_freeze (PhxFreezeState *self, GError **error);
/* the same, of only the mountpoints in `only` (NULL: all) */
GPtrArray *phx_freeze_state_freeze_only (PhxFreezeState *self, const char *const *only, GError **error);

/* Main thread. */
void phx_freeze_state_set_frozen (PhxFreezeState *self, GPtrArray *mounts);
void phx_freeze_state_set_thawed (PhxFreezeState *self);
gboolean phx_freeze_state_thaw_now (PhxFreezeState *self, GError **error);
gboolean phx_freeze_state_thaw_counted (PhxFreezeState *self, guint *n_thawed, GError **error);
void phx_freeze_state_abandon (PhxFreezeState *self);

G_END_DECLS
