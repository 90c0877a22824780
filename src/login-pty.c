/* login-pty.c — a user's login shell on a new pseudo-terminal, as login(1) would start it
 * after a password: a session of its own with the terminal as its controlling terminal,
 * the user's ids and groups and nothing of root's, the environment of a login, the home
 * directory. No PAM and no utmp record: the host is trusted as far as exec trusts it, and
 * the agent logs the session itself (cmd-login.c). */
#define G_LOG_DOMAIN "login-pty"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>

#include "login-pty.h"
#include "phx-error.h"

gboolean
phx_login_pty_resize (int master, guint rows, guint cols)
{
        struct winsize ws = { .ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols };

        return ioctl (master, TIOCSWINSZ, &ws) == 0;
}

typedef struct {
        const PhxUser *user;
} ChildSetup;

/* In the child, before exec (async-signal-safe calls only): a new session, the terminal
 * (already its stdin, stdout and stderr) as its controlling terminal, the signals a shell
 * expects (the agent ignores SIGPIPE, and ignored signals survive exec), login's umask, then
 * groups, gid and uid, after which none could be changed back; and only then the home
 * directory, entered as the user (one the user may not enter is not theirs to start in: `/`,
 * as login(1) does). A step that fails ends the child before it runs anything. */
static void
child_setup (gpointer user_data)
{
        const ChildSetup *setup = user_data;
        const PhxUser *user = setup->user;
        sigset_t none;

        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGPIPE, SIG_DFL);
        umask (022);
        if (setsid () < 0 || ioctl (STDIN_FILENO, TIOCSCTTY, 0) < 0)
                _exit (126);
        if (setgroups ((size_t) user->n_groups, user->groups) < 0 || setgid (user->gid) < 0 || setuid (user->uid) < 0)
                _exit (126);
        if (user->home == NULL || chdir (user->home) < 0)
                (void) !chdir ("/");
}

static GStrv
login_environment (const PhxUser *user, const char *shell, const char *term)
{
        /* login(1)'s defaults on Debian (login.defs' ENV_SUPATH and ENV_PATH) */
        const char *path = user->uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                                          : "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
        char **env = g_new0 (char *, 7);

        env[0] = g_strdup_printf ("HOME=%s", user->home);
        env[1] = g_strdup_printf ("USER=%s", user->name);
        env[2] = g_strdup_printf ("LOGNAME=%s", user->name);
        env[3] = g_strdup_printf ("SHELL=%s", shell);
        env[4] = g_strdup_printf ("PATH=%s", path);
        env[5] = g_strdup_printf ("TERM=%s", term);
        return env;
}

static gboolean
fail (GError **error, int err, const char *what)
{
        phx_error_set (error, err, "%s: %s", what, g_strerror (err));
        return FALSE;
}

/* tty_gid: the group that owns terminals (`tty`), or -1 if the guest has none. */
gboolean
phx_login_pty_spawn (const PhxUser *user, gid_t tty_gid, const char *term, guint rows, guint cols,
                     PhxLoginPty *pty, GError **error)
{
        g_autofree char *argv0 = NULL;
        g_autofree char *base = NULL;
        g_auto(GStrv) envp = NULL;
        g_autoptr(GError) local = NULL;
        const char *shell = user->shell != NULL && user->shell[0] == '/' ? user->shell : "/bin/sh";
        ChildSetup setup = { .user = user };
        const char *argv[3];
        int master, slave;
        GPid pid;
        char name[64];

        master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return fail (error, errno, "posix_openpt");
        if (grantpt (master) < 0 || unlockpt (master) < 0 || ptsname_r (master, name, sizeof name) != 0) {
                int err = errno;

                close (master);
                return fail (error, err, "pseudo-terminal");
        }
        slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0) {
                int err = errno;

                close (master);
                return fail (error, err, name);
        }
        /* the user's terminal is the user's, its group `tty` (as login makes it): their
         * shell may set its modes, `mesg` works, and no other user can read it; without a
         * tty group, nobody else may write to it either */
        if (fchown (slave, user->uid, tty_gid) < 0 || fchmod (slave, tty_gid != (gid_t) -1 ? 0620 : 0600) < 0)
                g_debug ("%s: %s", name, g_strerror (errno));
        phx_login_pty_resize (master, rows, cols);
        /* a login shell: argv[0] is the shell's name after a dash */
        base = g_path_get_basename (shell);
        argv0 = g_strconcat ("-", base, NULL);
        argv[0] = shell;
        argv[1] = argv0;
        argv[2] = NULL;
        envp = login_environment (user, shell, term);
        if (!g_spawn_async_with_pipes_and_fds (NULL, argv, (const char *const *) envp,
                                               G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_FILE_AND_ARGV_ZERO, child_setup,
                                               &setup, slave, slave, slave, NULL, NULL, 0, &pid, NULL, NULL, NULL,
                                               &local)) {
                close (slave);
                close (master);
                phx_error_set (error, local->domain == G_SPAWN_ERROR && local->code == G_SPAWN_ERROR_NOENT ? ENOENT
                                                                                                           : EINVAL,
                               "%s", local->message);
                return FALSE;
        }
        /* the shell holds the terminal now; the master reads EIO once nobody does */
        close (slave);
        g_unix_set_fd_nonblocking (master, TRUE, NULL);
        pty->master = master;
        pty->pid = pid;
        pty->tty = g_strdup (name);
        return TRUE;
}

void
phx_login_pty_clear (PhxLoginPty *pty)
{
        if (pty->master >= 0)
                close (pty->master);
        pty->master = -1;
        g_clear_pointer (&pty->tty, g_free);
}
