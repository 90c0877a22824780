/* sysinfo-os.c — uname, the host name and os-release(5), read from the kernel and /etc.
 * No protocol knowledge: the families shape the replies. */
#define G_LOG_DOMAIN "sysinfo-os"

#include <errno.h>
#include <string.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "sysinfo-file.h"
#include "sysinfo-os.h"

gboolean
phx_os_uname (struct utsname *out, GError **error)
{
        if (uname (out) < 0) {
                phx_error_set_errno (error, errno, "uname");
                return FALSE;
        }
        return TRUE;
}

char *
phx_os_host_name (GError **error)
{
        struct utsname u;

        /* gethostname(2) is uname's nodename; GLib's g_get_host_name() would cache it. */
        if (!phx_os_uname (&u, error))
                return NULL;
        return g_utf8_make_valid (u.nodename, -1);
}

static gboolean
is_blank (char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

/* One value as os-release(5) asks ("shell style"):
 * - "double quoted": \" \\ \$ \` and (as qemu-ga, which QEMU's own tests pin) \' stand for
 *   the character; any other backslash stays. Ends at the closing quote; the rest of the
 *   line is ignored, as qemu-ga does. An unterminated quote runs to the end of the line
 *   (qemu-ga repeats the last character there).
 * - 'single quoted': literal up to the closing quote (qemu-ga does not know single
 *   quotes and returns the text up to the first blank, quote included).
 * - unquoted: a backslash escapes the next character and a blank ends the value (qemu-ga
 *   keeps the backslashes). */
static char *
unquote (const char *v)
{
        GString *out = g_string_new (NULL);

        if (v[0] == '"') {
                for (v++; *v != '\0' && *v != '"'; v++) {
                        if (v[0] == '\\' && v[1] != '\0' && strchr ("\"\\$`'", v[1]) != NULL)
                                v++;
                        g_string_append_c (out, *v);
                }
        } else if (v[0] == '\'') {
                for (v++; *v != '\0' && *v != '\''; v++)
                        g_string_append_c (out, *v);
        } else {
                for (; *v != '\0' && !is_blank (*v); v++) {
                        if (v[0] == '\\' && v[1] != '\0')
                                v++;
                        g_string_append_c (out, *v);
                }
        }
        return g_string_free (out, FALSE);
}

static gboolean
is_variable_name (const char *s)
{
        if (*s == '\0')
                return FALSE;
        for (; *s != '\0'; s++)
                if (!g_ascii_isalnum (*s) && *s != '_')
                        return FALSE;
        return TRUE;
}

GHashTable *
phx_os_release_parse (const char *text)
{
        GHashTable *vars = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
        g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

        /* Line by line, a bad line skipped: qemu-ga loads the file as a GKeyFile, and one line
         * that is not `key=value` makes it report no os-release member at all. */
        for (guint i = 0; lines[i] != NULL; i++) {
                char *line = g_strchug (lines[i]);
                char *eq = strchr (line, '=');
                g_autofree char *value = NULL;
                char *key;

                if (eq == NULL || line[0] == '#')
                        continue;
                *eq = '\0';
                key = g_strchomp (line);
                if (!is_variable_name (key))
                        continue;
                /* blanks around `=` and at the end of the line are dropped, as qemu-ga
                 * (GKeyFile) does; those inside quotes stay */
                value = unquote (g_strstrip (eq + 1));
                g_hash_table_replace (vars, g_strdup (key), g_utf8_make_valid (value, -1));
        }
        return vars;
}

GHashTable *
phx_os_release_read (void)
{
        const char *forced = g_getenv ("QGA_OS_RELEASE");
        const char *paths[] = { "/etc/os-release", "/usr/lib/os-release" };

        for (guint i = 0; i < G_N_ELEMENTS (paths); i++) {
                const char *path = forced != NULL ? forced : paths[i];
                g_autofree char *text = NULL;
                g_autoptr(GError) error = NULL;

                if (phx_sysinfo_read_file (path, PHX_OS_RELEASE_MAX, &text, NULL, &error))
                        return phx_os_release_parse (text);
                g_debug ("%s", error->message);
                if (forced != NULL)
                        break;
        }
        return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}
