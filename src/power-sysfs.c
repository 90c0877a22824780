/* power-sysfs.c — the kernel's /sys/power interface: which of qemu-ga's suspend modes the
 * guest offers, and entering one. It knows no protocol. The directory is /sys/power unless
 * PHX_TEST_POWER_DIR names another (the tests' files: a test must never suspend the machine
 * it runs on). */
#define G_LOG_DOMAIN "power-sysfs"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "power-sysfs.h"

/* qemu-ga's text for a mode the guest cannot do; ours adds why. */
#define NOT_SUPPORTED "the requested suspend mode is not supported by the guest"

static char *
power_file (const char *name)
{
        const char *dir = g_getenv ("PHX_TEST_POWER_DIR");

        return g_build_filename (dir != NULL && dir[0] != '\0' ? dir : "/sys/power", name, NULL);
}

/* The file's words ("freeze mem disk"; "[platform] shutdown suspend"), or NULL when it cannot
 * be read (no such file: a kernel without the feature). */
static GStrv
read_words (const char *name)
{
        g_autofree char *path = power_file (name);
        char buf[PHX_POWER_SYSFS_READ_MAX];
        ssize_t n;
        int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return NULL;
        do
                n = read (fd, buf, sizeof buf - 1);
        while (n < 0 && errno == EINTR);
        close (fd);
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        g_strdelimit (buf, "\t\n", ' ');
        return g_strsplit (g_strstrip (buf), " ", -1);
}

/* `word` is offered (in /sys/power/disk the current one is written [so]). */
static gboolean
offers (const char *const *words, const char *word)
{
        for (guint i = 0; words != NULL && words[i] != NULL; i++) {
                gsize n = strlen (words[i]);

                if (g_str_equal (words[i], word) ||
                    (n == strlen (word) + 2 && words[i][0] == '[' && words[i][n - 1] == ']' &&
                     strncmp (words[i] + 1, word, n - 2) == 0))
                        return TRUE;
        }
        return FALSE;
}

/* The current /sys/power/disk mode (the bracketed word), or NULL. */
static char *
current_disk_mode (void)
{
        g_auto(GStrv) words = read_words ("disk");

        for (guint i = 0; words != NULL && words[i] != NULL; i++) {
                gsize n = strlen (words[i]);

                if (n > 2 && words[i][0] == '[' && words[i][n - 1] == ']')
                        return g_strndup (words[i] + 1, n - 2);
        }
        return NULL;
}

gboolean
phx_power_check (PhxSuspendMode mode, GError **error)
{
        g_auto(GStrv) state = read_words ("state");
        g_auto(GStrv) disk = NULL;
        g_auto(GStrv) resume = NULL;

        if (mode == PHX_SUSPEND_RAM) {
                if (!offers ((const char *const *) state, "mem")) {
                        phx_error_set (error, EOPNOTSUPP, NOT_SUPPORTED ": the kernel offers no 'mem' in /sys/power/state");
                        return FALSE;
                }
                return TRUE;
        }
        if (!offers ((const char *const *) state, "disk")) {
                phx_error_set (error, EOPNOTSUPP,
                               NOT_SUPPORTED ": the kernel offers no 'disk' in /sys/power/state (no hibernation)");
                return FALSE;
        }
        /* Without a resume device the image would be written and the next boot would not
         * read it: the guest would come back as after a power cut. qemu-ga hibernates
         * anyway; we refuse. The device is set at boot (resume= or the initramfs). */
        resume = read_words ("resume");
        if (resume == NULL || resume[0] == NULL || g_str_equal (resume[0], "0:0") || g_str_equal (resume[0], "")) {
                phx_error_set (error, EOPNOTSUPP,
                               NOT_SUPPORTED ": no resume device (/sys/power/resume is 0:0), so the guest "
                               "would not come back from hibernation");
                return FALSE;
        }
        if (mode == PHX_SUSPEND_HYBRID) {
                disk = read_words ("disk");
                if (!offers ((const char *const *) disk, "suspend")) {
                        phx_error_set (error, EOPNOTSUPP,
                                       NOT_SUPPORTED ": the kernel offers no 'suspend' in /sys/power/disk");
                        return FALSE;
                }
        }
        return TRUE;
}

static gboolean
write_word (const char *name, const char *word, GError **error)
{
        g_autofree char *path = power_file (name);
        gsize len = strlen (word);
        ssize_t n;
        int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        int errsv;

        if (fd < 0) {
                errsv = errno;
                phx_error_set_errno (error, errsv, "the guest failed to suspend: open %s", path);
                return FALSE;
        }
        /* returns once the guest has resumed (or never, after a hibernation) */
        do
                n = write (fd, word, len);
        while (n < 0 && errno == EINTR);
        errsv = errno;
        close (fd);
        if (n < 0) {
                phx_error_set_errno (error, errsv, "the guest failed to suspend: write '%s' to %s", word, path);
                return FALSE;
        }
        return TRUE;
}

/* Checks again (the host may have asked long after the kernel changed) and suspends; returns
 * after the guest has resumed. */
gboolean
phx_power_suspend (PhxSuspendMode mode, GError **error)
{
        g_autofree char *was = NULL;
        gboolean ok;

        if (!phx_power_check (mode, error))
                return FALSE;
        switch (mode) {
        case PHX_SUSPEND_RAM:
                return write_word ("state", "mem", error);
        case PHX_SUSPEND_DISK:
                return write_word ("state", "disk", error);
        case PHX_SUSPEND_HYBRID:
        default:
                /* the disk mode is the machine's setting: put back as it was after resume */
                was = current_disk_mode ();
                if (!write_word ("disk", "suspend", error))
                        return FALSE;
                ok = write_word ("state", "disk", error);
                if (was != NULL && !g_str_equal (was, "suspend"))
                        write_word ("disk", was, NULL);
                return ok;
        }
}
