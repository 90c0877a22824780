/* util-user.c — looks a guest user up, for the commands that act as one (exec's `user`, the
 * SSH keys): what they are given is the user's own ids and groups, never more. */
#define G_LOG_DOMAIN "util-user"

#include <errno.h>
#include <grp.h>
#include <pwd.h>

#include "phx-error.h"
#include "util-user.h"

gboolean
phx_user_lookup (const char *name, PhxUser *user, GError **error)
{
        struct passwd pw, *found = NULL;
        g_autofree char *buf = g_malloc (PHX_ACCOUNT_NSS_BUF);
        int err = getpwnam_r (name, &pw, buf, PHX_ACCOUNT_NSS_BUF, &found);

        if (found == NULL) {
                phx_error_set (error, err != 0 ? err : ENOENT, "failed to find user '%s'", name);
                return FALSE;
        }
        user->name = g_strdup (pw.pw_name);
        user->home = g_strdup (pw.pw_dir);
        user->shell = g_strdup (pw.pw_shell);
        user->uid = pw.pw_uid;
        user->gid = pw.pw_gid;
        user->n_groups = PHX_ACCOUNT_GROUPS_MAX;
        if (getgrouplist (name, pw.pw_gid, user->groups, &user->n_groups) < 0) {
                /* more groups than we keep: the primary one only, never more rights */
                user->groups[0] = pw.pw_gid;
                user->n_groups = 1;
        }
        return TRUE;
}

void
phx_user_clear (PhxUser *user)
{
        g_clear_pointer (&user->name, g_free);
        g_clear_pointer (&user->home, g_free);
        g_clear_pointer (&user->shell, g_free);
}
