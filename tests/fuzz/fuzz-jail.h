/* fuzz-jail.h — where the fuzz target's agent runs (see fuzz-jail.c). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Once, while the process has a single thread (namespaces are per thread until then). */
void fuzz_jail_build (void);
/* TRUE: private namespaces and tmpfs; else only a directory of our own. */
gboolean fuzz_jail_is_private (void);
/* The jail's directory as seen from outside the chroot. */
const char *fuzz_jail_path (void);
/* Removes whatever the last script left and writes the seed files. */
void fuzz_jail_reset (void);
void fuzz_jail_enter (void);
/* Async-signal-safe. */
void fuzz_jail_leave (void);
/* The replay's crash handlers (not under libFuzzer): no mountpoint left in /tmp. */
void fuzz_jail_clean_on_crash (void);
/* A failed check: leaves the chroot, prints, aborts. */
G_NORETURN void fuzz_fail (const char *format, ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS
