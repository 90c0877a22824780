/* util-path.h — walks a path one component at a time, following only symbolic links that
 * an unprivileged user cannot have planted, so that the agent (root) changes what the
 * host named and not what a guest user pointed it at. */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef enum {
        /* The last component too is followed if it is a trusted link (else it is left as
         * it is, link or not, for the caller's *at(..., NOFOLLOW) call). */
        UTIL_PATH_FOLLOW_LAST = 1 << 0,
        /* Missing components, the last one included, are created as directories. */
        UTIL_PATH_MKDIRS = 1 << 1,
} UtilPathFlags;

/* Where a resolved path ends: the directory holding its last component (an O_PATH
 * descriptor, usable as the dirfd of *at() calls) and that component's name, which may
 * not exist. "/" resolves to "/" and ".". */
typedef struct {
        int dirfd;
        char *name;
} UtilPath;

#define UTIL_PATH_INIT { .dirfd = -1, .name = NULL }

gboolean util_path_resolve (const char *path, UtilPathFlags flags, mode_t dir_mode, UtilPath *out,
                            GError **error);
void util_path_clear (UtilPath *path);
gboolean util_path_is_trusted_owner (uid_t uid);
int util_path_chmod_fd (int fd, mode_t mode);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UtilPath, util_path_clear)

G_END_DECLS
