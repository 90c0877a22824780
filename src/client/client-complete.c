/* client-complete.c — what the bash completion asks the client: the guest paths that
 * begin with a prefix, read through the agent (`phoenix-ga-client __complete-path PREFIX`).
 * Not listed in --help: only data/completion/phoenix-ga-client calls it. */
#define G_LOG_DOMAIN "client-complete"

#include "config.h"

#include <sys/stat.h>

#include "client.h"
#include "client-limits.h"

/* One line per match, directories ending in '/', nothing on any error: a completion that
 * cannot reach the agent completes nothing rather than printing into the user's prompt. */
gboolean
sub_complete_path (Ctx *ctx, GError **error)
{
        const char *prefix = ctx->argc == 2 ? ctx->argv[1] : "/";
        const char *slash = strrchr (prefix, '/');
        g_autofree char *dir = NULL;
        g_autoptr(JsonObject) a = NULL;
        g_autoptr(JsonNode) ret = NULL;
        g_autoptr(GError) ignored = NULL;
        JsonArray *arr;
        guint printed = 0;

        if (ctx->argc > 2 || prefix[0] != '/')
                return TRUE; /* guest paths are absolute */
        dir = g_strndup (prefix, (gsize) (slash - prefix) + 1);
        a = client_path_args (dir);
        ret = client_conn_call (ctx->conn, "directory-list", a, &ignored);
        if (ret == NULL || !JSON_NODE_HOLDS_ARRAY (ret))
                return TRUE;
        arr = json_node_get_array (ret);
        for (guint i = 0; i < json_array_get_length (arr) && printed < CLIENT_COMPLETE_MAX; i++) {
                JsonObject *entry = json_array_get_object_element (arr, i);
                const char *name = json_object_get_string_member_with_default (entry, "name", "");
                JsonObject *st = json_object_get_object_member (entry, "stat");
                gint64 mode = st != NULL ? json_object_get_int_member_with_default (st, "Mode", 0) : 0;

                if (g_str_equal (name, ".") || g_str_equal (name, "..") || !g_str_has_prefix (name, slash + 1))
                        continue;
                g_print ("%s%s%s\n", dir, name, S_ISDIR (mode) ? "/" : "");
                printed++;
        }
        return TRUE;
}
