/* sysinfo-users.h — who is logged in: utmp records and logind's sessions. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
        char *user;
        char *line;        /* the terminal ("pts/0"), "" when unknown */
        char *host;        /* where from, "" when local */
        gint64 login_usec; /* since the epoch */
} PhxLogin;

void phx_login_free (PhxLogin *login);

/* The USER_PROCESS records of a utmp file, in file order (PhxLogin elements). A missing
 * file is an error with errno ENOENT. The file is parsed directly: getutxent() keeps static
 * state and is not safe in a worker thread. */
GPtrArray *phx_users_read_utmp (const char *path, GError **error);

/* logind's open user sessions, from its session files in `dir` (/run/systemd/sessions),
 * in no particular order. A missing directory is an empty list. */
GPtrArray *phx_users_read_logind (const char *dir);

/* Logged-in users as qemu-ga reports them: from utmp, else (no utmp, or no user records in
 * it) from logind; one entry per user, the earliest login, in order of first appearance. */
GPtrArray *phx_users_first_logins (const char *utmp_path, const char *logind_dir);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxLogin, phx_login_free)

G_END_DECLS
