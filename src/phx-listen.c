/* phx-listen.c — opens the listening socket of a channel: a unix socket (bound under a
 * temporary name, given its mode, renamed into place), a vsock address, or the socket systemd
 * passed. It neither watches nor accepts: phx-channel.c does. */
#define G_LOG_DOMAIN "phx-listen"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "phx-listen.h"

/* Sets the mode of the socket just bound at `name`. By path, since fchmod() on a socket
 * changes the socket and not its file; O_PATH|O_NOFOLLOW so that a link swapped in for
 * the name (in a directory others may write) is not followed. */
static gboolean
chmod_socket (const char *name, guint mode, GError **error)
{
        char proc[64];
        struct stat st;
        int fd = open (name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 || fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode)) {
                int errsv = fd < 0 ? errno : EEXIST; /* fstat of an O_PATH fd does not fail */

                phx_error_set_errno (error, errsv, "chmod %s", name);
                if (fd >= 0)
                        close (fd);
                return FALSE;
        }
        g_snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (chmod (proc, mode) < 0) {
                phx_error_set_errno (error, errno, "chmod %s", name);
                close (fd);
                return FALSE;
        }
        close (fd);
        return TRUE;
}

/* The socket is bound under a temporary name in the same directory, given its mode and
 * made to listen, and only then renamed into place: a client that sees the path can
 * connect at once, and no one can connect while the mode is still the umask's (an
 * unlistened socket refuses everyone). rename() also replaces a stale socket of an earlier
 * run in one step. */
int
phx_listen_unix (const char *path, guint socket_mode, GError **error)
{
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        g_autofree char *dir = g_path_get_dirname (path);
        gboolean bound = FALSE;
        struct stat st;
        int fd;

        if (strlen (path) >= sizeof addr.sun_path) {
                phx_error_set (error, ENAMETOOLONG, "socket path %s is longer than %zu bytes", path,
                               sizeof addr.sun_path - 1);
                return -1;
        }
        /* Anything but a socket at the path is not ours to replace. */
        if (lstat (path, &st) == 0 && !S_ISSOCK (st.st_mode)) {
                phx_error_set (error, EEXIST, "%s exists and is not a socket", path);
                return -1;
        }
        fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                phx_error_set_errno (error, errno, "socket");
                return -1;
        }
        for (guint attempt = 0; !bound; attempt++) {
                int n = g_snprintf (addr.sun_path, sizeof addr.sun_path, "%s/.phx-%06x", dir,
                                    g_random_int () & 0xffffff);

                if (n < 0 || (gsize) n >= sizeof addr.sun_path) {
                        phx_error_set (error, ENAMETOOLONG, "no room for a temporary socket name in %s", dir);
                        close (fd);
                        return -1;
                }
                if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
                        bound = TRUE;
                else if (errno != EADDRINUSE || attempt + 1 >= PHX_TEMP_NAME_TRIES) {
                        phx_error_set_errno (error, errno, "bind %s", addr.sun_path);
                        close (fd);
                        return -1;
                }
        }
        if (!chmod_socket (addr.sun_path, socket_mode != 0 ? socket_mode : PHX_SOCKET_MODE_DEFAULT, error))
                goto failed;
        if (listen (fd, PHX_LISTEN_BACKLOG) < 0) {
                phx_error_set_errno (error, errno, "listen %s", path);
                goto failed;
        }
        if (rename (addr.sun_path, path) < 0) {
                phx_error_set_errno (error, errno, "rename %s to %s", addr.sun_path, path);
                goto failed;
        }
        return fd;

failed:
        unlink (addr.sun_path);
        close (fd);
        return -1;
}

/* "CID:PORT", as qemu-ga spells it; CID may be -1 or "any" (every address of the guest). */
static gboolean
parse_vsock_address (const char *text, struct sockaddr_vm *addr, GError **error)
{
        g_auto(GStrv) parts = text != NULL ? g_strsplit (text, ":", -1) : NULL;
        guint64 cid, port;

        if (text == NULL) {
                phx_error_set (error, EINVAL, "vsock-listen needs an address: -p CID:PORT");
                return FALSE;
        }
        if (g_strv_length (parts) != 2)
                goto bad;
        if (g_str_equal (parts[0], "-1") || g_ascii_strcasecmp (parts[0], "any") == 0)
                cid = VMADDR_CID_ANY;
        else if (!g_ascii_string_to_unsigned (parts[0], 10, 0, G_MAXUINT32, &cid, NULL))
                goto bad;
        if (!g_ascii_string_to_unsigned (parts[1], 10, 0, G_MAXUINT32 - 1, &port, NULL))
                goto bad;
        *addr = (struct sockaddr_vm) { .svm_family = AF_VSOCK, .svm_cid = (guint) cid, .svm_port = (guint) port };
        return TRUE;
bad:
        phx_error_set (error, EINVAL, "vsock address %s is not CID:PORT (CID a number, -1 or any)", text);
        return FALSE;
}

int
phx_listen_vsock (const char *address, GError **error)
{
        struct sockaddr_vm addr;
        int fd;

        if (!parse_vsock_address (address, &addr, error))
                return -1;
        fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                phx_error_set_errno (error, errno, "vsock socket (is the vsock module loaded?)");
                return -1;
        }
        if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0) {
                phx_error_set_errno (error, errno, "bind vsock %s", address);
                close (fd);
                return -1;
        }
        if (listen (fd, PHX_LISTEN_BACKLOG) < 0) {
                phx_error_set_errno (error, errno, "listen vsock %s", address);
                close (fd);
                return -1;
        }
        return fd;
}

/* systemd socket activation (sd_listen_fds(3), without libsystemd): a listening stream
 * socket passed as fd 3 is the channel, whatever -m and -p say, as in qemu-ga. The variables
 * are removed so that commands the agent runs do not take the socket for theirs. Returns -1
 * with no error when nothing was passed, -2 with one when what was passed cannot be served. */
#define LISTEN_FDS_START 3

int
phx_listen_inherited (GError **error)
{
        const char *pid_text = g_getenv ("LISTEN_PID");
        const char *fds_text = g_getenv ("LISTEN_FDS");
        guint64 pid, n_fds;
        int value = 0;
        socklen_t len = sizeof value;
        int fd = LISTEN_FDS_START;

        if (pid_text == NULL || fds_text == NULL ||
            !g_ascii_string_to_unsigned (pid_text, 10, 1, G_MAXINT, &pid, NULL) || (pid_t) pid != getpid ())
                return -1;
        g_unsetenv ("LISTEN_PID");
        g_unsetenv ("LISTEN_FDS");
        g_unsetenv ("LISTEN_FDNAMES");
        if (!g_ascii_string_to_unsigned (fds_text, 10, 0, G_MAXINT, &n_fds, NULL) || n_fds != 1) {
                phx_error_set (error, EINVAL, "socket activation passed %s sockets; exactly one is served", fds_text);
                return -2;
        }
        if (getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) < 0 || value == 0) {
                phx_error_set (error, EINVAL, "socket activation: fd %d is not a listening socket", fd);
                return -2;
        }
        len = sizeof value;
        if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &value, &len) < 0 || value != SOCK_STREAM) {
                phx_error_set (error, EINVAL, "socket activation: fd %d is not a stream socket", fd);
                return -2;
        }
        if (fcntl (fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK) < 0) {
                phx_error_set_errno (error, errno, "socket activation: fd %d", fd);
                return -2;
        }
        return fd;
}

int
phx_listen_describe (int fd, char **name, GError **error)
{
        union {
                struct sockaddr sa;
                struct sockaddr_vm vm;
                struct sockaddr_un un;
        } addr = { 0 };
        socklen_t len = sizeof addr;

        if (getsockname (fd, &addr.sa, &len) < 0) {
                phx_error_set_errno (error, errno, "socket activation: getsockname");
                return 0;
        }
        if (addr.sa.sa_family == AF_UNIX) {
                *name = g_strndup (addr.un.sun_path, len - offsetof (struct sockaddr_un, sun_path));
        } else if (addr.sa.sa_family == AF_VSOCK) {
                *name = addr.vm.svm_cid == VMADDR_CID_ANY ? g_strdup_printf ("-1:%u", addr.vm.svm_port)
                                                          : g_strdup_printf ("%u:%u", addr.vm.svm_cid, addr.vm.svm_port);
        } else {
                phx_error_set (error, EAFNOSUPPORT, "socket activation: address family %d is not served",
                               addr.sa.sa_family);
                return 0;
        }
        return addr.sa.sa_family;
}
