/* phx-freezer.h — PhxFreezer: whether the guest is frozen, since when and what, the
 * crash-safe marker, the auto-thaw timer. */
#pragma once

#include <glib-object.h>

#include "phx-freeze.h"

G_BEGIN_DECLS

#define PHX_TYPE_FREEZER (phx_freezer_get_type ())
G_DECLARE_FINAL_TYPE (PhxFreezer, phx_freezer, PHX, FREEZER, GObject)

PhxFreezer *phx_freezer_new (const PhxFreezeBackend *backend, const char *hook, const char *runtime_dir,
                             guint timeout_seconds);
gboolean phx_freezer_restore (PhxFreezer *self, GError **error);
gboolean phx_freezer_get_frozen (PhxFreezer *self);
gint64 phx_freezer_get_frozen_since (PhxFreezer *self);
gboolean phx_freezer_get_gate_closed (PhxFreezer *self);
void phx_freezer_begin_freeze (PhxFreezer *self);
void phx_freezer_end_freeze (PhxFreezer *self);

/* Worker: hook, marker and FIFREEZE; thread-safe, changes no state. */
GPtrArray *phx_freezer_freeze (PhxFreezer *self, GError **error);

/* Main thread. */
void phx_freezer_set_frozen (PhxFreezer *self, GPtrArray *mounts);
void phx_freezer_set_thawed (PhxFreezer *self);
gboolean phx_freezer_thaw_now (PhxFreezer *self, GError **error);

G_END_DECLS
