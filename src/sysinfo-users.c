/* sysinfo-users.c — logged-in users from utmp, or from logind's session files where the
 * system keeps no utmp (Debian 13, systemd >= 257 builds). Reads only tmpfs-backed files
 * under /run, so it answers while filesystems are frozen. */
#define G_LOG_DOMAIN "sysinfo-users"

#include <errno.h>
#include <string.h>
#include <utmp.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "sysinfo-file.h"
#include "sysinfo-users.h"

void
phx_login_free (PhxLogin *login)
{
        if (login == NULL)
                return;
        g_free (login->user);
        g_free (login->line);
        g_free (login->host);
        g_free (login);
}

static char *
fixed_string (const char *field, gsize size)
{
        return g_utf8_make_valid (field, strnlen (field, size));
}

GPtrArray *
phx_users_read_utmp (const char *path, GError **error)
{
        g_autoptr(GPtrArray) logins = g_ptr_array_new_with_free_func ((GDestroyNotify) phx_login_free);
        g_autofree char *data = NULL;
        gsize len = 0;

        if (!phx_sysinfo_read_file (path, PHX_UTMP_MAX, &data, &len, error))
                return NULL;
        for (gsize off = 0; off + sizeof (struct utmp) <= len; off += sizeof (struct utmp)) {
                struct utmp ut;
                PhxLogin *login;

                memcpy (&ut, data + off, sizeof ut);
                if (ut.ut_type != USER_PROCESS || ut.ut_user[0] == '\0')
                        continue;
                login = g_new0 (PhxLogin, 1);
                login->user = fixed_string (ut.ut_user, sizeof ut.ut_user);
                login->line = fixed_string (ut.ut_line, sizeof ut.ut_line);
                login->host = fixed_string (ut.ut_host, sizeof ut.ut_host);
                login->login_usec = (gint64) ut.ut_tv.tv_sec * G_USEC_PER_SEC + ut.ut_tv.tv_usec;
                g_ptr_array_add (logins, login);
        }
        return g_steal_pointer (&logins);
}

/* Which sessions utmp would have listed: logins of people. logind also keeps sessions for
 * cron and other background PAM users (class background*), greeters, lock screens, the
 * per-user service manager (class manager*, systemd >= 256) and PAM conversations not
 * finished yet (user-incomplete); and it keeps a session whose user logged out while its
 * processes linger (state closing). */
static gboolean
is_login_session (const char *klass, const char *state)
{
        if (klass == NULL || !(g_str_equal (klass, "user") || g_str_has_prefix (klass, "user-")) ||
            g_str_equal (klass, "user-incomplete"))
                return FALSE;
        return state == NULL || !g_str_equal (state, "closing");
}

/* One session file: KEY=VALUE lines, as logind writes them (and sd-login reads them). */
static PhxLogin *
read_session (const char *path)
{
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(GError) error = NULL;
        const char *user = NULL, *klass = NULL, *state = NULL, *tty = NULL, *host = NULL, *realtime = NULL;
        guint64 usec;
        PhxLogin *login;

        if (!phx_sysinfo_read_file (path, PHX_LOGIND_SESSION_FILE_MAX, &text, NULL, &error)) {
                /* a session that ended while the directory was read */
                g_debug ("%s", error->message);
                return NULL;
        }
        lines = g_strsplit (text, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                char *eq = strchr (lines[i], '=');
                const char *v;

                if (eq == NULL)
                        continue;
                *eq = '\0';
                v = eq + 1;
                if (g_str_equal (lines[i], "USER"))
                        user = v;
                else if (g_str_equal (lines[i], "CLASS"))
                        klass = v;
                else if (g_str_equal (lines[i], "STATE"))
                        state = v;
                else if (g_str_equal (lines[i], "TTY"))
                        tty = v;
                else if (g_str_equal (lines[i], "REMOTE_HOST"))
                        host = v;
                else if (g_str_equal (lines[i], "REALTIME"))
                        realtime = v;
        }
        if (user == NULL || user[0] == '\0' || realtime == NULL || !is_login_session (klass, state) ||
            !g_ascii_string_to_unsigned (realtime, 10, 1, G_MAXINT64, &usec, NULL))
                return NULL;
        login = g_new0 (PhxLogin, 1);
        login->user = g_utf8_make_valid (user, -1);
        /* utmp's ut_line has no /dev/ prefix */
        login->line = g_utf8_make_valid (tty != NULL && g_str_has_prefix (tty, "/dev/") ? tty + 5 : tty != NULL ? tty : "", -1);
        login->host = g_utf8_make_valid (host != NULL ? host : "", -1);
        login->login_usec = usec;
        return login;
}

static gint
compare_login_time (gconstpointer a, gconstpointer b)
{
        const PhxLogin *x = *(PhxLogin *const *) a, *y = *(PhxLogin *const *) b;

        return (x->login_usec > y->login_usec) - (x->login_usec < y->login_usec);
}

GPtrArray *
phx_users_read_logind (const char *dir)
{
        GPtrArray *logins = g_ptr_array_new_with_free_func ((GDestroyNotify) phx_login_free);
        g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
        const char *name;
        guint seen = 0;

        /* Files rather than logind's D-Bus API: see doc/design.md "Logged-in users". */
        while (d != NULL && (name = g_dir_read_name (d)) != NULL && seen < PHX_LOGIND_SESSIONS_MAX) {
                g_autofree char *path = NULL;
                PhxLogin *login;

                /* `N.ref` are the sessions' FIFOs; session ids are [A-Za-z0-9]+ */
                if (strchr (name, '.') != NULL)
                        continue;
                seen++;
                path = g_build_filename (dir, name, NULL);
                if ((login = read_session (path)) != NULL)
                        g_ptr_array_add (logins, login);
        }
        /* directory order means nothing; login order is what utmp would have had */
        g_ptr_array_sort (logins, compare_login_time);
        return logins;
}

GPtrArray *
phx_users_first_logins (const char *utmp_path, const char *logind_dir)
{
        g_autoptr(GPtrArray) all = phx_users_read_utmp (utmp_path, NULL);
        g_autoptr(GHashTable) by_user = g_hash_table_new (g_str_hash, g_str_equal);
        GPtrArray *first = g_ptr_array_new_with_free_func ((GDestroyNotify) phx_login_free);

        if (all == NULL || all->len == 0) {
                g_clear_pointer (&all, g_ptr_array_unref);
                all = phx_users_read_logind (logind_dir);
        }
        for (guint i = 0; i < all->len; i++) {
                PhxLogin *login = g_ptr_array_index (all, i);
                PhxLogin *earlier = g_hash_table_lookup (by_user, login->user);

                if (earlier == NULL) {
                        g_ptr_array_add (first, login);
                        g_hash_table_insert (by_user, login->user, login);
                        all->pdata[i] = NULL; /* now owned by `first` */
                } else if (login->login_usec < earlier->login_usec) {
                        earlier->login_usec = login->login_usec;
                }
        }
        return first;
}
