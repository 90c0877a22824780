/* sysinfo-file.c — bounded whole-file reads for the system-information readers. Knows
 * nothing about what the files mean. */
#define G_LOG_DOMAIN "sysinfo-file"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "phx-error.h"
#include "sysinfo-file.h"

gboolean
phx_sysinfo_read_file (const char *path, gsize max, char **contents, gsize *len, GError **error)
{
        g_autofree char *buf = NULL;
        gsize size = 0, cap = 4096;
        int fd;

        fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                phx_error_set_errno (error, errno, "open %s", path);
                return FALSE;
        }
        buf = g_malloc (cap + 1);
        for (;;) {
                ssize_t n;

                if (size == cap) {
                        if (cap > max) /* one byte past the bound was read: too long */
                                break;
                        cap = MIN (cap * 2, max + 1);
                        buf = g_realloc (buf, cap + 1);
                }
                n = read (fd, buf + size, cap - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int errsv = errno;
                        close (fd);
                        phx_error_set_errno (error, errsv, "read %s", path);
                        return FALSE;
                }
                if (n == 0)
                        break;
                size += n;
        }
        close (fd);
        if (size > max) {
                phx_error_set_errno (error, EFBIG, "read %s: longer than %" G_GSIZE_FORMAT " bytes", path, max);
                return FALSE;
        }
        buf[size] = '\0';
        if (len != NULL)
                *len = size;
        *contents = g_steal_pointer (&buf);
        return TRUE;
}
