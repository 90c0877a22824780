/* login-session.h — PhxLoginSession: one login, its shell on its terminal and the connection
 * it was handed. */
#pragma once

#include <glib-object.h>

#include "login-pty.h"
#include "phx-connection.h"

G_BEGIN_DECLS

#define PHX_TYPE_LOGIN_SESSION (phx_login_session_get_type ())
G_DECLARE_FINAL_TYPE (PhxLoginSession, phx_login_session, PHX, LOGIN_SESSION, GObject)

PhxLoginSession *phx_login_session_new (guint number, const char *user, PhxLoginPty *pty);
guint phx_login_session_get_number (PhxLoginSession *self);
void phx_login_session_attach (PhxLoginSession *self, PhxConnection *connection);
void phx_login_session_hang_up (PhxLoginSession *self, const char *why);

G_END_DECLS
