/* sysinfo-os.h — what the guest says about itself: uname, host name, os-release. */
#pragma once

#include <glib.h>
#include <sys/utsname.h>

G_BEGIN_DECLS

gboolean phx_os_uname (struct utsname *out, GError **error);

/* Read on every call, never cached: a host name set after the agent started is seen. */
char *phx_os_host_name (GError **error);

/* os-release(5) text -> its variables, values unquoted and unescaped (see the .c for the
 * rules and where they differ from qemu-ga's). Lines that are not assignments are skipped. */
GHashTable *phx_os_release_parse (const char *text);

/* The guest's os-release: $QGA_OS_RELEASE if set (as qemu-ga, for tests), else
 * /etc/os-release, else /usr/lib/os-release. A guest without one has an empty table. */
GHashTable *phx_os_release_read (void);

G_END_DECLS
