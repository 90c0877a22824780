/* cmd-network.c — the network family: interfaces, addresses, link state and routes.
 * Reports and changes go through phx-netlink (never through `ip`); all run in workers. */
#define G_LOG_DOMAIN "cmd-network"

#include <errno.h>
#include <net/if.h>
#include <sys/socket.h>

#include "phx-error.h"
#include "phx-family.h"
#include "phx-netlink.h"

static JsonNode *
true_node (void)
{
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static char *
flags_string (guint flags)
{
        /* the original agent's order and spelling */
        static const struct {
                guint flag;
                const char *name;
        } names[] = {
                { IFF_UP, "up" }, { IFF_BROADCAST, "broadcast" }, { IFF_LOOPBACK, "loopback" },
                { IFF_POINTOPOINT, "pointtopoint" }, { IFF_MULTICAST, "multicast" }, { IFF_RUNNING, "running" },
        };
        GString *s = g_string_new (NULL);

        for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
                if (!(flags & names[i].flag))
                        continue;
                if (s->len > 0)
                        g_string_append_c (s, '|');
                g_string_append (s, names[i].name);
        }
        return g_string_free (s, FALSE);
}

static JsonNode *
get_netifaces (PhxCall *call, GError **error)
{
        static const char *const stat_names[PHX_NET_N_STATS] = {
                "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                "tx_bytes", "tx_packets", "tx_errors", "tx_dropped",
        };
        g_autoptr(GPtrArray) ifaces = phx_netlink_list_ifaces (error);
        g_autoptr(JsonArray) arr = NULL;

        if (ifaces == NULL)
                return NULL;
        arr = json_array_sized_new (ifaces->len);
        for (guint i = 0; i < ifaces->len; i++) {
                PhxNetIface *iface = g_ptr_array_index (ifaces, i);
                JsonObject *obj = json_object_new ();
                JsonObject *stats = json_object_new ();
                JsonArray *ips = json_array_sized_new (iface->ips->len);
                g_autofree char *flags = flags_string (iface->flags);

                json_object_set_int_member (obj, "index", iface->index);
                json_object_set_string_member (obj, "name", iface->name);
                json_object_set_string_member (obj, "hwaddr", iface->hwaddr);
                json_object_set_string_member (obj, "flags", flags);
                for (guint j = 0; j < iface->ips->len; j++)
                        json_array_add_string_element (ips, g_ptr_array_index (iface->ips, j));
                json_object_set_array_member (obj, "ips", ips);
                json_object_set_int_member (obj, "mtu", iface->mtu);
                for (guint j = 0; j < PHX_NET_N_STATS; j++)
                        json_object_set_int_member (stats, stat_names[j], (gint64) iface->stats[j]);
                json_object_set_object_member (obj, "stats", stats);
                json_array_add_object_element (arr, obj);
        }
        return json_node_init_array (json_node_alloc (), arr);
}

static JsonNode *
ipaddr_add (PhxCall *call, GError **error)
{
        if (!phx_netlink_addr_change (TRUE, phx_args_get_string (call->args, "ifname"),
                                      phx_args_get_string (call->args, "ip"), error))
                return NULL;
        return true_node ();
}

static JsonNode *
ipaddr_del (PhxCall *call, GError **error)
{
        if (!phx_netlink_addr_change (FALSE, phx_args_get_string (call->args, "ifname"),
                                      phx_args_get_string (call->args, "ip"), error))
                return NULL;
        return true_node ();
}

static JsonNode *
iface_up (PhxCall *call, GError **error)
{
        if (!phx_netlink_link_set_up (phx_args_get_string (call->args, "ifname"), TRUE, error))
                return NULL;
        return true_node ();
}

static JsonNode *
iface_down (PhxCall *call, GError **error)
{
        if (!phx_netlink_link_set_up (phx_args_get_string (call->args, "ifname"), FALSE, error))
                return NULL;
        return true_node ();
}

static JsonNode *
get_route_list (PhxCall *call, GError **error)
{
        gint64 family = phx_args_get_int (call->args, "family");
        g_autoptr(GPtrArray) routes = NULL;
        g_autoptr(JsonArray) arr = NULL;

        if (family != 0 && family != AF_INET && family != AF_INET6) {
                phx_error_set (error, EINVAL, "family must be 0 (all), 2 (IPv4) or 10 (IPv6), not %" G_GINT64_FORMAT,
                               family);
                return NULL;
        }
        routes = phx_netlink_list_routes ((int) family, error);
        if (routes == NULL)
                return NULL;
        arr = json_array_sized_new (routes->len);
        for (guint i = 0; i < routes->len; i++) {
                PhxNetRoute *r = g_ptr_array_index (routes, i);
                JsonObject *obj = json_object_new ();
                JsonObject *dst = json_object_new ();
                g_autofree char *mask = r->prefixlen > 0 ? phx_netlink_prefix_to_mask (r->family, r->prefixlen)
                                                         : g_strdup ("");

                json_object_set_string_member (obj, "ifname", r->ifname);
                json_object_set_int_member (obj, "scope", r->scope);
                json_object_set_string_member (dst, "ip", r->dst);
                json_object_set_string_member (dst, "mask", mask);
                json_object_set_object_member (obj, "dst", dst);
                json_object_set_string_member (obj, "src", r->src);
                json_object_set_string_member (obj, "gateway", r->gateway);
                json_object_set_int_member (obj, "prefixlen", r->prefixlen);
                json_object_set_int_member (obj, "metric", r->metric);
                json_object_set_int_member (obj, "table", r->table);
                json_array_add_object_element (arr, obj);
        }
        return json_node_init_array (json_node_alloc (), arr);
}

static gboolean
route_change (PhxCall *call, gboolean add, GError **error)
{
        PhxArgs *a = call->args;

        /* Deleting without a scope matches any scope, as `ip route del` does. */
        return phx_netlink_route_change (add, phx_args_get_string (a, "ifname"), phx_args_get_string (a, "dst"),
                                         phx_args_get_string (a, "src"), phx_args_get_string (a, "gateway"),
                                         add || phx_args_has (a, "scope") ? (int) phx_args_get_int (a, "scope") : -1,
                                         error);
}

static JsonNode *
route_add (PhxCall *call, GError **error)
{
        return route_change (call, TRUE, error) ? true_node () : NULL;
}

static JsonNode *
route_del (PhxCall *call, GError **error)
{
        return route_change (call, FALSE, error) ? true_node () : NULL;
}

static const PhxArgSpec addr_args[] = {
        { "ip", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { "ifname", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxArgSpec iface_args[] = {
        { "ifname", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxArgSpec route_list_args[] = {
        { "family", PHX_ARG_INT, 0, .def.i = 0 },
        { NULL }
};

static const PhxArgSpec route_args[] = {
        { "ifname", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { "dst", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { "src", PHX_ARG_STRING, 0 },
        { "gateway", PHX_ARG_STRING, 0 },
        { "scope", PHX_ARG_INT, 0, .def.i = 0, .min = 0, .max = 255 },
        { NULL }
};

static const PhxCommand network_commands[] = {
        { "get-netifaces", get_netifaces, NULL, PHX_CMD_THREADED },
        { "ipaddr-add", ipaddr_add, addr_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "linux-ipaddr-add", ipaddr_add, addr_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "ipaddr-del", ipaddr_del, addr_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "linux-ipaddr-del", ipaddr_del, addr_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "net-iface-up", iface_up, iface_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "net-iface-down", iface_down, iface_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "get-route-list", get_route_list, route_list_args, PHX_CMD_THREADED },
        { "route-add", route_add, route_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "route-del", route_del, route_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { NULL }
};

PHX_DEFINE_STATELESS_FAMILY (PhxNetworkFamily, phx_network_family, network_commands)
