/* power-shutdown.c — guest-shutdown's work: the disks are synced first, then the guest's
 * init system is asked, in the order that fits what it runs: systemd (systemctl), a SysV-style
 * init (shutdown), busybox's or another init that takes poweroff/halt/reboot; and when none
 * of them takes the request (no init system answering, a minimal guest), the kernel is asked
 * directly, after the sync. qemu-ga runs /sbin/shutdown only and fails where it is missing.
 * Each program gets PHX_SHUTDOWN_PROGRAM_S to answer; one that fails or hangs is passed over.
 * With PHX_TEST_POWER_DIR set (the tests), the mode is written to its "shutdown" file
 * instead: a test must never stop the machine it runs on. Runs in a worker thread. */
#define G_LOG_DOMAIN "power-shutdown"

#include <errno.h>
#include <signal.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "power-shutdown.h"

static const char *const mode_names[] = { "powerdown", "halt", "reboot" };

gboolean
phx_shutdown_mode_from_string (const char *text, PhxShutdownMode *mode)
{
        for (guint i = 0; i < G_N_ELEMENTS (mode_names); i++) {
                if (g_str_equal (text, mode_names[i])) {
                        *mode = (PhxShutdownMode) i;
                        return TRUE;
                }
        }
        return FALSE;
}

static char *
find_program (const char *name)
{
        static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
        char *path = g_find_program_in_path (name);

        /* a daemon's PATH may lack sbin */
        for (guint i = 0; path == NULL && i < G_N_ELEMENTS (dirs); i++) {
                g_autofree char *p = g_build_filename (dirs[i], name, NULL);
                if (g_file_test (p, G_FILE_TEST_IS_EXECUTABLE))
                        path = g_steal_pointer (&p);
        }
        return path;
}

/* TRUE when the program exists, ran, and said yes (status 0) in time. */
static gboolean
try_program (const char *const *argv)
{
        g_autofree char *path = find_program (argv[0]);
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) args = g_strdupv ((char **) argv);
        GPid pid;
        int status;

        if (path == NULL)
                return FALSE;
        g_free (args[0]);
        args[0] = g_strdup (path);
        if (!g_spawn_async (NULL, args, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid,
                            &error)) {
                g_message ("shutdown: %s: %s", path, error->message);
                return FALSE;
        }
        for (guint waited = 0; waited < PHX_SHUTDOWN_PROGRAM_S * 20; waited++) {
                pid_t r = waitpid (pid, &status, WNOHANG);
                if (r == pid) {
                        g_message ("shutdown: %s exited with %d", path, WIFEXITED (status) ? WEXITSTATUS (status) : -1);
                        return WIFEXITED (status) && WEXITSTATUS (status) == 0;
                }
                if (r < 0)
                        return FALSE;
                g_usleep (50 * 1000);
        }
        g_message ("shutdown: %s did not answer within %d s", path, PHX_SHUTDOWN_PROGRAM_S);
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
        return FALSE;
}

static gboolean
test_only (PhxShutdownMode mode, GError **error)
{
        const char *dir = g_getenv ("PHX_TEST_POWER_DIR");
        g_autofree char *path = NULL;

        if (dir == NULL || dir[0] == '\0')
                return FALSE;
        path = g_build_filename (dir, "shutdown", NULL);
        if (!g_file_set_contents (path, mode_names[mode], -1, error))
                return TRUE; /* with the error set: nothing else is tried */
        return TRUE;
}

gboolean
phx_power_shutdown (PhxShutdownMode mode, GError **error)
{
        static const char *const systemctl[][3] = { { "systemctl", "poweroff", NULL },
                                                    { "systemctl", "halt", NULL },
                                                    { "systemctl", "reboot", NULL } };
        static const char *const shutdown[][5] = { { "shutdown", "-h", "-P", "now", NULL },
                                                   { "shutdown", "-h", "-H", "now", NULL },
                                                   { "shutdown", "-r", "now", NULL, NULL } };
        static const char *const direct[][2] = { { "poweroff", NULL }, { "halt", NULL }, { "reboot", NULL } };
        static const int kernel[] = { RB_POWER_OFF, RB_HALT_SYSTEM, RB_AUTOBOOT };
        gboolean systemd = g_file_test ("/run/systemd/system", G_FILE_TEST_IS_DIR);

        if (test_only (mode, error))
                return error == NULL || *error == NULL;
        g_message ("shutdown: %s requested by the host", mode_names[mode]);
        sync ();
        if (systemd && try_program (systemctl[mode]))
                return TRUE;
        /* systemd's own shutdown and poweroff are systemctl again: not worth a second wait */
        if (!systemd && (try_program (shutdown[mode]) || try_program (direct[mode])))
                return TRUE;
        g_message ("shutdown: no init system took the request: asking the kernel");
        sync ();
        reboot (kernel[mode]);
        phx_error_set_errno (error, errno, "reboot(2) for %s", mode_names[mode]);
        return FALSE;
}
