/* login-pty.h — a user's login shell on a new pseudo-terminal. */
#pragma once

#include <glib.h>

#include "util-user.h"

G_BEGIN_DECLS

typedef struct {
        int master;  /* the terminal's host side: non-blocking, close-on-exec */
        GPid pid;    /* the shell: a session leader, its process group is its pid; not reaped */
        char *tty;   /* /dev/pts/N */
} PhxLoginPty;

gboolean phx_login_pty_spawn (const PhxUser *user, gid_t tty_gid, const char *term, guint rows, guint cols,
                              PhxLoginPty *pty, GError **error);
gboolean phx_login_pty_resize (int master, guint rows, guint cols);
void phx_login_pty_clear (PhxLoginPty *pty);

G_END_DECLS
