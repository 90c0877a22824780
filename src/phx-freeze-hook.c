/* phx-freeze-hook.c — the --fsfreeze-hook program: run with "freeze" before freezing and
 * "thaw" after thawing, in a process group of its own, with umask 022, directory / and a
 * clean environment, bounded in time. */
#define G_LOG_DOMAIN "phx-freeze-hook"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gio/gio.h>

#include "phx-error.h"
#include "phx-freeze-hook.h"
#include "phx-limits.h"
static gboolean
on_hook_timeout (gpointer user_data)
{
        gboolean *timed_out = user_data;

        *timed_out = TRUE;
        return G_SOURCE_REMOVE;
}

static void
on_hook_exit (GObject *source, GAsyncResult *res, gpointer user_data)
{
        gboolean *done = user_data;

        g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
        *done = TRUE;
}

/* In the child, before exec: the agent itself runs with umask 0 (it applies host-given
 * modes exactly), which a hook must not inherit; a group of its own lets a timeout kill
 * whatever the hook started too. */
static void
hook_child_setup (gpointer user_data)
{
        setpgid (0, 0);
        umask (022);
}

/* What a hook finds in its environment — nothing of the agent's own (debug switches, bus
 * addresses, allocator settings): a fixed PATH, root's HOME, and the C locale by default.
 * doc/freeze.md documents it. */
static GStrv
hook_environment (void)
{
        g_autoptr(GStrvBuilder) env = g_strv_builder_new ();
        g_autofree char *home = g_strconcat ("HOME=", g_get_home_dir (), NULL);

        g_strv_builder_add (env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        g_strv_builder_add (env, home);
        return g_strv_builder_end (env);
}

/* Starts `hook action` with stdin on /dev/null, in /, with the environment above. */
GSubprocess *
phx_freeze_hook_spawn (const char *hook, const char *action, GError **error)
{
        g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
        g_auto(GStrv) env = hook_environment ();

        g_subprocess_launcher_set_environ (launcher, env);
        g_subprocess_launcher_set_cwd (launcher, "/");
        g_subprocess_launcher_set_child_setup (launcher, hook_child_setup, NULL, NULL);
        return g_subprocess_launcher_spawn (launcher, error, hook, action, NULL);
}

void
phx_freeze_hook_kill (GSubprocess *proc)
{
        const char *id = g_subprocess_get_identifier (proc);

        if (id != NULL)
                kill (-(pid_t) g_ascii_strtoll (id, NULL, 10), SIGKILL);
        g_subprocess_force_exit (proc);
}

/* Runs `hook action` (never while frozen: before freezing, after thawing) and waits at
 * most timeout_seconds for it, in a private main context of the calling worker thread. */
gboolean
phx_freeze_hook_run (const char *hook, const char *action, guint timeout_seconds, GError **error)
{
        g_autoptr(GMainContext) ctx = g_main_context_new ();
        g_autoptr(GSubprocess) proc = NULL;
        g_autoptr(GError) local = NULL;
        g_autoptr(GSource) timeout = NULL;
        gboolean done = FALSE, timed_out = FALSE;

        g_main_context_push_thread_default (ctx);
        proc = phx_freeze_hook_spawn (hook, action, &local);
        if (proc != NULL) {
                g_subprocess_wait_async (proc, NULL, on_hook_exit, &done);
                timeout = g_timeout_source_new_seconds (timeout_seconds);
                g_source_set_callback (timeout, on_hook_timeout, &timed_out, NULL);
                g_source_attach (timeout, ctx);
                while (!done && !timed_out)
                        g_main_context_iteration (ctx, TRUE);
                g_source_destroy (timeout);
                if (!done) {
                        phx_freeze_hook_kill (proc);
                        while (!done)
                                g_main_context_iteration (ctx, TRUE);
                }
        }
        g_main_context_pop_thread_default (ctx);

        if (proc == NULL) {
                phx_error_set (error, PHX_ERROR_GENERIC, "fsfreeze hook '%s %s' could not start: %s", hook,
                               action, local->message);
                return FALSE;
        }
        if (timed_out) {
                phx_error_set (error, ETIMEDOUT, "fsfreeze hook '%s %s' did not finish within %u s", hook,
                               action, timeout_seconds);
                return FALSE;
        }
        if (!g_subprocess_get_successful (proc)) {
                phx_error_set (error, PHX_ERROR_GENERIC, "fsfreeze hook '%s %s' failed (%s %d)", hook, action,
                               g_subprocess_get_if_exited (proc) ? "exit status" : "signal",
                               g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc)
                                                                 : g_subprocess_get_term_sig (proc));
                return FALSE;
        }
        return TRUE;
}
