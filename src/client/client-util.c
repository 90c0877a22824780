/* client-util.c — helpers the subcommands share: building arguments, running a command
 * (or printing its raw reply with --json), parsing octal modes and UID:GID. */
#define G_LOG_DOMAIN "client-util"

#include "config.h"

#include <glib/gi18n.h>

#include "client.h"

JsonObject *
client_args_new (void)
{
        return json_object_new ();
}

gboolean
client_usage_error (GError **error, const char *usage)
{
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, _("usage: phoenix-ga-client %s"), usage);
        return FALSE;
}

/* A wrong argument, named, with why: "put: --mode '999' is not an octal mode (0 to 7777)".
 * A person who mistyped one value learns which and how to fix it, not only the usage line. */
gboolean
client_bad_argument (GError **error, const char *subcommand, const char *format, ...)
{
        g_autofree char *what = NULL;
        va_list ap;

        va_start (ap, format);
        what = g_strdup_vprintf (format, ap);
        va_end (ap);
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s: %s", subcommand, what);
        return FALSE;
}

/* The same for the two value kinds several subcommands take. */
gboolean
client_want_octal (const char *subcommand, const char *what, const char *text, gint64 *out, GError **error)
{
        if (client_parse_octal (text, out))
                return TRUE;
        return client_bad_argument (error, subcommand, _("%s '%s' is not an octal mode (0 to 7777, e.g. 0644)"), what,
                                    text);
}

gboolean
client_want_owner (const char *subcommand, const char *text, gint64 *uid, gint64 *gid, GError **error)
{
        if (client_parse_owner (text, uid, gid))
                return TRUE;
        return client_bad_argument (error, subcommand,
                                    _("'%s' is not UID:GID (numbers, -1 to leave one unchanged, e.g. 0:0)"), text);
}

/* Runs a command; with --json prints the raw reply instead of handing back the value. */
JsonNode *
client_run (Ctx *ctx, const char *execute, JsonObject *arguments, GError **error)
{
        if (ctx->json) {
                g_autofree char *raw = client_conn_call_raw (ctx->conn, execute, arguments, error);
                if (raw != NULL)
                        g_print ("%s\n", raw);
                return raw != NULL ? json_node_new (JSON_NODE_NULL) : NULL;
        }
        return client_conn_call (ctx->conn, execute, arguments, error);
}

void
client_print_json (JsonNode *node)
{
        g_autofree char *text = json_to_string (node, TRUE);
        g_print ("%s\n", text);
}

gboolean
client_parse_octal (const char *text, gint64 *out)
{
        guint64 v;

        if (!g_ascii_string_to_unsigned (text, 8, 0, 07777, &v, NULL))
                return FALSE;
        *out = (gint64) v;
        return TRUE;
}

gboolean
client_parse_owner (const char *text, gint64 *uid, gint64 *gid)
{
        g_auto(GStrv) parts = g_strsplit (text, ":", 2);
        gint64 u, g;

        if (g_strv_length (parts) != 2 || !g_ascii_string_to_signed (parts[0], 10, -1, G_MAXUINT32 - 1, &u, NULL) ||
            !g_ascii_string_to_signed (parts[1], 10, -1, G_MAXUINT32 - 1, &g, NULL))
                return FALSE;
        *uid = u;
        *gid = g;
        return TRUE;
}

JsonObject *
client_path_args (const char *path)
{
        JsonObject *a = client_args_new ();

        json_object_set_string_member (a, "path", path);
        return a;
}

