/* sysinfo-time.c — the clocks and the time zone. Setting the hardware clock talks to the
 * RTC driver itself (RTC_RD_TIME / RTC_SET_TIME), so no hwclock(8) is needed: minimal and
 * busybox guests often have none, and qemu-ga fails there. */
#define G_LOG_DOMAIN "sysinfo-time"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtc.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "phx-error.h"
#include "sysinfo-time.h"

#define NSEC_PER_SEC G_GINT64_CONSTANT (1000000000)

gint64
phx_time_now_ns (void)
{
        struct timespec ts;

        clock_gettime (CLOCK_REALTIME, &ts);
        return (gint64) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static int
open_rtc (const char *rtc, GError **error)
{
        int fd = open (rtc, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                phx_error_set_errno (error, errno, "no hardware clock: open %s", rtc);
        return fd;
}

static gboolean
set_system_clock (gint64 ns, GError **error)
{
        struct timespec ts = { .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };

        if (clock_settime (CLOCK_REALTIME, &ts) < 0) {
                phx_error_set_errno (error, errno, "set the system clock");
                return FALSE;
        }
        return TRUE;
}

gboolean
phx_time_set (gint64 ns, const char *rtc, GError **error)
{
        struct rtc_time rt = { 0 };
        struct tm tm;
        time_t secs;
        int fd;

        g_return_val_if_fail (ns >= 0, FALSE);
        if (!set_system_clock (ns, error))
                return FALSE;
        /* The RTC counts whole seconds: the nearest one. */
        secs = (ns + NSEC_PER_SEC / 2) / NSEC_PER_SEC;
        gmtime_r (&secs, &tm);
        rt.tm_sec = tm.tm_sec;
        rt.tm_min = tm.tm_min;
        rt.tm_hour = tm.tm_hour;
        rt.tm_mday = tm.tm_mday;
        rt.tm_mon = tm.tm_mon;
        rt.tm_year = tm.tm_year;
        rt.tm_wday = tm.tm_wday;
        rt.tm_yday = tm.tm_yday;
        rt.tm_isdst = -1;
        if ((fd = open_rtc (rtc, error)) < 0) {
                g_prefix_error (error, "the system clock was set, the hardware clock was not: ");
                return FALSE;
        }
        if (ioctl (fd, RTC_SET_TIME, &rt) < 0) {
                int errsv = errno;
                close (fd);
                phx_error_set_errno (error, errsv,
                                     "the system clock was set, the hardware clock was not: RTC_SET_TIME on %s", rtc);
                return FALSE;
        }
        close (fd);
        return TRUE;
}

gboolean
phx_time_set_from_rtc (const char *rtc, GError **error)
{
        struct rtc_time rt = { 0 };
        struct tm tm = { 0 };
        time_t secs;
        int fd;

        if ((fd = open_rtc (rtc, error)) < 0)
                return FALSE;
        if (ioctl (fd, RTC_RD_TIME, &rt) < 0) {
                int errsv = errno;
                close (fd);
                /* EINVAL: an RTC that was never set (or lost its battery) holds no valid time */
                phx_error_set_errno (error, errsv, "read the hardware clock: RTC_RD_TIME on %s", rtc);
                return FALSE;
        }
        close (fd);
        tm.tm_sec = rt.tm_sec;
        tm.tm_min = rt.tm_min;
        tm.tm_hour = rt.tm_hour;
        tm.tm_mday = rt.tm_mday;
        tm.tm_mon = rt.tm_mon;
        tm.tm_year = rt.tm_year;
        secs = timegm (&tm);
        if (secs == (time_t) -1 || secs < 0) {
                phx_error_set (error, EINVAL, "the hardware clock holds no valid time (%04d-%02d-%02d %02d:%02d:%02d)",
                               rt.tm_year + 1900, rt.tm_mon + 1, rt.tm_mday, rt.tm_hour, rt.tm_min, rt.tm_sec);
                return FALSE;
        }
        return set_system_clock ((gint64) secs * NSEC_PER_SEC, error);
}

void
phx_time_zone_now (char **abbreviation, gint *offset)
{
        g_autoptr(GTimeZone) tz = NULL;
        gint interval;

        /* GLib's abbreviation and offset, as qemu-ga reports them. With TZ unset, the zone is
         * loaded from /etc/localtime on every call (a zone dropped by its last reference
         * leaves GLib's cache): g_time_zone_new_local() would keep the zone the agent
         * started with after the administrator changed it, as qemu-ga does. */
        if (g_getenv ("TZ") == NULL)
                tz = g_time_zone_new_identifier ("/etc/localtime");
        if (tz == NULL)
                tz = g_time_zone_new_local ();
        interval = g_time_zone_find_interval (tz, G_TIME_TYPE_UNIVERSAL, g_get_real_time () / G_USEC_PER_SEC);
        *abbreviation = g_strdup (g_time_zone_get_abbreviation (tz, interval));
        *offset = g_time_zone_get_offset (tz, interval);
}
