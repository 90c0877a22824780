/* phx-dbus.h — the agent's state on the system bus (org.phoenixga.GuestAgent1). */
#pragma once

#include <glib-object.h>

#include "phx-dispatcher.h"

G_BEGIN_DECLS

#define PHX_DBUS_NAME "org.phoenixga.GuestAgent1"
#define PHX_DBUS_PATH "/org/phoenixga/GuestAgent1"

#define PHX_TYPE_DBUS (phx_dbus_get_type ())
G_DECLARE_FINAL_TYPE (PhxDbus, phx_dbus, PHX, DBUS, GObject)

PhxDbus *phx_dbus_new (GObject *state, PhxDispatcher *dispatcher, guint publish_ms);
void phx_dbus_counters_changed (PhxDbus *self);

G_END_DECLS
