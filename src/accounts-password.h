/* accounts-password.h — a guest user's password, set through the guest's own chpasswd. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

gboolean phx_password_set (const char *username, GBytes *password, gboolean crypted, GCancellable *cancellable,
                           GError **error);

G_END_DECLS
