/* sysinfo-time.h — the system clock, the hardware clock (RTC) and the local time zone. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The RTC the agent reads and writes, as hwclock(8) would by default. */
#define PHX_RTC_DEVICE "/dev/rtc0"

/* Nanoseconds since the epoch (CLOCK_REALTIME). */
gint64 phx_time_now_ns (void);

/* Sets the system clock to `ns`, then the RTC (kept in UTC) to it. An RTC that cannot be
 * written is an error that says the system clock was set. */
gboolean phx_time_set (gint64 ns, const char *rtc, GError **error);

/* Sets the system clock from the RTC (kept in UTC). */
gboolean phx_time_set_from_rtc (const char *rtc, GError **error);

/* The local zone's abbreviation ("CET", "MSK", "UTC") and offset east of UTC in seconds,
 * now, as GLib works them out from $TZ or /etc/localtime. */
void phx_time_zone_now (char **abbreviation, gint *offset);

G_END_DECLS
