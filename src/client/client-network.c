/* client-network.c — the network subcommands: ifaces, addr, link, routes, route. */
#define G_LOG_DOMAIN "client-network"

#include "config.h"

#include <glib/gi18n.h>

#include "client.h"

/* The kernel's route scopes by the names `ip route` prints and accepts (iproute2's
 * rt_scopes): a person reads "scope link", not "scope 253". */
static const struct {
        gint64 value;
        const char *name;
} scopes[] = {
        { 0, "global" }, { 200, "site" }, { 253, "link" }, { 254, "host" }, { 255, "nowhere" },
};

static const char *
scope_name (gint64 value)
{
        for (guint i = 0; i < G_N_ELEMENTS (scopes); i++) {
                if (scopes[i].value == value)
                        return scopes[i].name;
        }
        return NULL;
}

static gboolean
parse_scope (const char *text, gint64 *out)
{
        for (guint i = 0; i < G_N_ELEMENTS (scopes); i++) {
                if (g_str_equal (scopes[i].name, text)) {
                        *out = scopes[i].value;
                        return TRUE;
                }
        }
        return g_ascii_string_to_signed (text, 10, 0, 255, out, NULL);
}

gboolean
sub_ifaces (Ctx *ctx, GError **error)
{
        g_autoptr(JsonNode) ret = client_run (ctx, "get-netifaces", NULL, error);
        JsonArray *arr;

        if (ret == NULL)
                return FALSE;
        if (ctx->json)
                return TRUE;
        arr = json_node_get_array (ret);
        g_print ("%-5s %-16s %-17s %-6s %-32s %s\n", "INDEX", "NAME", "HWADDR", "MTU", "FLAGS", "ADDRESSES");
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonObject *x = json_array_get_object_element (arr, i);
                JsonArray *ips = json_object_get_array_member (x, "ips");
                g_autoptr(GString) list = g_string_new (NULL);
                for (guint j = 0; j < json_array_get_length (ips); j++)
                        g_string_append_printf (list, "%s%s", j ? " " : "", json_array_get_string_element (ips, j));
                g_print ("%-5" G_GINT64_FORMAT " %-16s %-17s %-6" G_GINT64_FORMAT " %-32s %s\n",
                         json_object_get_int_member (x, "index"), json_object_get_string_member (x, "name"),
                         json_object_get_string_member (x, "hwaddr"), json_object_get_int_member (x, "mtu"),
                         json_object_get_string_member (x, "flags"), list->str);
        }
        return TRUE;
}

gboolean
sub_routes (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonNode) ret = NULL;
        JsonArray *arr;

        if (ctx->argc > 2 || (ctx->argc == 2 && !g_str_equal (ctx->argv[1], "-4") && !g_str_equal (ctx->argv[1], "-6")))
                return client_usage_error (error, "routes [-4|-6]");
        json_object_set_int_member (a, "family", ctx->argc == 1 ? 0 : g_str_equal (ctx->argv[1], "-4") ? 2 : 10);
        ret = client_run (ctx, "get-route-list", a, error);
        if (ret == NULL)
                return FALSE;
        if (ctx->json)
                return TRUE;
        arr = json_node_get_array (ret);
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonObject *r = json_array_get_object_element (arr, i);
                JsonObject *dst = json_object_get_object_member (r, "dst");
                const char *ip = json_object_get_string_member (dst, "ip");
                const char *gw = json_object_get_string_member (r, "gateway");
                const char *src = json_object_get_string_member (r, "src");
                g_autofree char *d = ip[0] == '\0' ? g_strdup ("default")
                                                   : g_strdup_printf ("%s/%" G_GINT64_FORMAT, ip,
                                                                      json_object_get_int_member (r, "prefixlen"));
                gint64 scope = json_object_get_int_member (r, "scope");
                const char *name = scope_name (scope);
                g_autofree char *scope_text = scope == 0 ? g_strdup ("")
                                              : name != NULL ? g_strdup_printf (" scope %s", name)
                                                             : g_strdup_printf (" scope %" G_GINT64_FORMAT, scope);

                /* as `ip route` writes it: the global scope is the default and goes unsaid */
                g_print ("%s%s%s dev %s%s%s%s metric %" G_GINT64_FORMAT "\n", d, gw[0] ? " via " : "", gw,
                         json_object_get_string_member (r, "ifname"), scope_text, src[0] ? " src " : "", src,
                         json_object_get_int_member (r, "metric"));
        }
        return TRUE;
}

/* addr add|del CIDR dev IFNAME */
gboolean
sub_addr (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 5 || !g_str_equal (ctx->argv[3], "dev") ||
            (!g_str_equal (ctx->argv[1], "add") && !g_str_equal (ctx->argv[1], "del")))
                return client_usage_error (error, "addr add|del CIDR dev IFNAME");
        json_object_set_string_member (a, "ip", ctx->argv[2]);
        json_object_set_string_member (a, "ifname", ctx->argv[4]);
        ret = client_run (ctx, g_str_equal (ctx->argv[1], "add") ? "ipaddr-add" : "ipaddr-del", a, error);
        return ret != NULL;
}

/* link up|down IFNAME */
gboolean
sub_link (Ctx *ctx, GError **error)
{
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc != 3 || (!g_str_equal (ctx->argv[1], "up") && !g_str_equal (ctx->argv[1], "down")))
                return client_usage_error (error, "link up|down IFNAME");
        json_object_set_string_member (a, "ifname", ctx->argv[2]);
        ret = client_run (ctx, g_str_equal (ctx->argv[1], "up") ? "net-iface-up" : "net-iface-down", a, error);
        return ret != NULL;
}

/* route add|del DST dev IFNAME [via GATEWAY] [src ADDR] [scope NAME|N] */
gboolean
sub_route (Ctx *ctx, GError **error)
{
        static const char usage[] = "route add|del DST dev IFNAME [via GATEWAY] [src ADDR] [scope NAME|N]";
        g_autoptr(JsonObject) a = client_args_new ();
        g_autoptr(JsonNode) ret = NULL;

        if (ctx->argc < 5 || (!g_str_equal (ctx->argv[1], "add") && !g_str_equal (ctx->argv[1], "del")))
                return client_usage_error (error, usage);
        json_object_set_string_member (a, "dst", ctx->argv[2]);
        for (int i = 3; i < ctx->argc; i += 2) {
                const char *key = ctx->argv[i];
                const char *val = i + 1 < ctx->argc ? ctx->argv[i + 1] : NULL;
                gint64 scope;
                if (val == NULL)
                        return client_bad_argument (error, "route", _("'%s' needs a value (%s)"), key, usage);
                if (g_str_equal (key, "dev"))
                        json_object_set_string_member (a, "ifname", val);
                else if (g_str_equal (key, "via"))
                        json_object_set_string_member (a, "gateway", val);
                else if (g_str_equal (key, "src"))
                        json_object_set_string_member (a, "src", val);
                else if (g_str_equal (key, "scope") && parse_scope (val, &scope))
                        json_object_set_int_member (a, "scope", scope);
                else if (g_str_equal (key, "scope"))
                        return client_bad_argument (error, "route",
                                                    _("scope '%s' is not global, site, link, host, nowhere or 0 to 255"),
                                                    val);
                else
                        return client_bad_argument (error, "route", _("unknown keyword '%s' (%s)"), key, usage);
        }
        if (!json_object_has_member (a, "ifname"))
                return client_usage_error (error, usage);
        ret = client_run (ctx, g_str_equal (ctx->argv[1], "add") ? "route-add" : "route-del", a, error);
        return ret != NULL;
}

