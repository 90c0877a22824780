/* accounts-password.c — sets a guest user's password with the guest's own chpasswd (so PAM,
 * the shadow file's format and its locking are the distribution's), fed `user:password` on
 * its stdin: never on a command line, where any user could read it in /proc. A name with ':'
 * or a line break, or a password with a line break or NUL, could make chpasswd set another
 * user's password: refused before anything runs. Runs in a worker thread. */
#define G_LOG_DOMAIN "accounts-password"

#include <errno.h>
#include <string.h>

#include "accounts-password.h"
#include "phx-error.h"

static char *
find_chpasswd (void)
{
        static const char *const fallback[] = { "/usr/sbin/chpasswd", "/sbin/chpasswd" };
        char *path = g_find_program_in_path ("chpasswd");

        /* a daemon's PATH may lack sbin */
        for (guint i = 0; path == NULL && i < G_N_ELEMENTS (fallback); i++) {
                if (g_file_test (fallback[i], G_FILE_TEST_IS_EXECUTABLE))
                        path = g_strdup (fallback[i]);
        }
        return path;
}

gboolean
phx_password_set (const char *username, GBytes *password, gboolean crypted, GCancellable *cancellable,
                  GError **error)
{
        gsize len;
        const char *pw = g_bytes_get_data (password, &len);
        g_autofree char *chpasswd = NULL;
        g_autoptr(GSubprocess) proc = NULL;
        g_autoptr(GBytes) input = NULL;
        g_autoptr(GBytes) err_out = NULL;
        g_autoptr(GError) local = NULL;
        char *line;

        if (username[0] == '\0' || strpbrk (username, ":\r\n") != NULL) {
                phx_error_set (error, EINVAL, "username must not be empty or contain ':' or a line break");
                return FALSE;
        }
        if (len == 0 || memchr (pw, '\n', len) != NULL || memchr (pw, '\r', len) != NULL ||
            memchr (pw, '\0', len) != NULL) {
                phx_error_set (error, EINVAL, "password must not be empty or contain a line break or NUL");
                return FALSE;
        }
        chpasswd = find_chpasswd ();
        if (chpasswd == NULL) {
                phx_error_set (error, ENOENT, "chpasswd not found in the guest");
                return FALSE;
        }
        line = g_malloc (strlen (username) + len + 3);
        memcpy (line, username, strlen (username));
        line[strlen (username)] = ':';
        memcpy (line + strlen (username) + 1, pw, len);
        line[strlen (username) + 1 + len] = '\n';
        line[strlen (username) + 2 + len] = '\0';
        /* the copy holding the password is wiped when chpasswd has had it */
        input = g_bytes_new_with_free_func (line, strlen (username) + 2 + len, (GDestroyNotify) g_free, NULL);
        if (crypted)
                proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                         G_SUBPROCESS_FLAGS_STDERR_PIPE, &local, chpasswd, "-e", NULL);
        else
                proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                         G_SUBPROCESS_FLAGS_STDERR_PIPE, &local, chpasswd, NULL);
        if (proc == NULL || !g_subprocess_communicate (proc, input, cancellable, NULL, &err_out, &local)) {
                explicit_bzero (line, g_bytes_get_size (input));
                phx_error_set (error, EIO, "chpasswd: %s", local->message);
                return FALSE;
        }
        explicit_bzero (line, g_bytes_get_size (input));
        if (!g_subprocess_get_successful (proc)) {
                g_autofree char *why = g_strndup (g_bytes_get_data (err_out, NULL), g_bytes_get_size (err_out));
                phx_error_set (error, EIO, "chpasswd failed with status %d: %s", g_subprocess_get_exit_status (proc),
                               g_strstrip (why));
                return FALSE;
        }
        return TRUE;
}
