/* util-user.h — a guest user as NSS knows them: ids, groups, home and shell. */
#pragma once

#include <sys/types.h>

#include <glib.h>

#include "phx-limits.h"

G_BEGIN_DECLS

typedef struct {
        char *name;
        char *home;
        char *shell;
        uid_t uid;
        gid_t gid;
        gid_t groups[PHX_ACCOUNT_GROUPS_MAX];
        int n_groups;
} PhxUser;

/* NSS may block (a directory service, a stalled disk): worker threads only. */
gboolean phx_user_lookup (const char *name, PhxUser *user, GError **error);
void phx_user_clear (PhxUser *user);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PhxUser, phx_user_clear)

G_END_DECLS
