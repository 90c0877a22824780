/* phx-uevent.h — PhxUevent: the kernel's "add" events (uevents) of vCPUs and memory blocks
 * as a GObject signal. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define PHX_TYPE_UEVENT (phx_uevent_get_type ())
G_DECLARE_FINAL_TYPE (PhxUevent, phx_uevent, PHX, UEVENT, GObject)

/* Listens from now on, on the thread-default main context; NULL when the kernel refuses
 * the socket. Signal "event" (action, devpath, subsystem, synthetic): one per kernel uevent
 * whose header is add@/devices/system/cpu/... or add@/devices/system/memory... (the kernel
 * filters the rest out before they wake anyone);
 * `synthetic` is TRUE for those that someone provoked by writing to a `uevent` file (udevadm
 * trigger, coldplug), not for real device changes. */
PhxUevent *phx_uevent_new (GError **error);

G_END_DECLS
