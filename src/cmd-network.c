/* cmd-network.c — the network family: interfaces, addresses, link state and routes, and
 * qemu-ga's faces of the two listings. Reports and changes go through phx-netlink (never
 * through `ip`); all run in workers. */
#define G_LOG_DOMAIN "cmd-network"

#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <sys/socket.h>

#include <linux/rtnetlink.h>

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
                JsonArray *ips = json_array_sized_new (iface->addrs->len);
                g_autofree char *flags = flags_string (iface->flags);

                json_object_set_int_member (obj, "index", iface->index);
                json_object_set_string_member (obj, "name", iface->name);
                json_object_set_string_member (obj, "hwaddr", iface->hwaddr);
                json_object_set_string_member (obj, "flags", flags);
                for (guint j = 0; j < iface->addrs->len; j++) {
                        PhxNetAddr *a = g_ptr_array_index (iface->addrs, j);
                        g_autofree char *cidr = g_strdup_printf ("%s/%u", a->address, a->prefixlen);
                        json_array_add_string_element (ips, cidr);
                }
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
                JsonObject *obj;
                JsonObject *dst;
                g_autofree char *mask = NULL;

                /* this listing has always been of unicast routes only */
                if (r->type != RTN_UNICAST)
                        continue;
                obj = json_object_new ();
                dst = json_object_new ();
                mask = r->prefixlen > 0 ? phx_netlink_prefix_to_mask (r->family, r->prefixlen) : g_strdup ("");

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

/* --- qemu-ga's faces: the same readers, qemu-ga's members (doc/protocol.md "Network") --- */

/* One entry of guest-network-get-interfaces: a link, or an IPv4 label (`eth0:1`). */
typedef struct {
        const char *name;
        const char *lladdr;
        JsonArray *ips;           /* NULL until the first address */
        const PhxNetIface *stats; /* NULL for a label: its counters are its link's */
} QgaIface;

static void
qga_iface_add_addr (QgaIface *e, const PhxNetAddr *a)
{
        JsonObject *o = json_object_new ();

        if (e->ips == NULL)
                e->ips = json_array_new ();
        json_object_set_string_member (o, "ip-address", a->address);
        json_object_set_string_member (o, "ip-address-type", a->family == AF_INET ? "ipv4" : "ipv6");
        json_object_set_int_member (o, "prefix", a->prefixlen);
        json_array_add_object_element (e->ips, o);
}

static JsonObject *
qga_iface_to_json (QgaIface *e)
{
        JsonObject *o = json_object_new ();

        json_object_set_string_member (o, "name", e->name);
        if (e->lladdr != NULL)
                json_object_set_string_member (o, "hardware-address", e->lladdr);
        if (e->ips != NULL)
                json_object_set_array_member (o, "ip-addresses", g_steal_pointer (&e->ips));
        if (e->stats != NULL) {
                const guint64 *v = e->stats->stats;
                JsonObject *st = json_object_new ();

                /* the columns of /proc/net/dev, which qemu-ga reads: its rx "drop" adds the
                 * frames the device missed */
                json_object_set_int_member (st, "rx-bytes", (gint64) v[PHX_NET_RX_BYTES]);
                json_object_set_int_member (st, "rx-packets", (gint64) v[PHX_NET_RX_PACKETS]);
                json_object_set_int_member (st, "rx-errs", (gint64) v[PHX_NET_RX_ERRORS]);
                json_object_set_int_member (st, "rx-dropped",
                                            (gint64) (v[PHX_NET_RX_DROPPED] + e->stats->rx_missed));
                json_object_set_int_member (st, "tx-bytes", (gint64) v[PHX_NET_TX_BYTES]);
                json_object_set_int_member (st, "tx-packets", (gint64) v[PHX_NET_TX_PACKETS]);
                json_object_set_int_member (st, "tx-errs", (gint64) v[PHX_NET_TX_ERRORS]);
                json_object_set_int_member (st, "tx-dropped", (gint64) v[PHX_NET_TX_DROPPED]);
                json_object_set_object_member (o, "statistics", st);
        }
        return o;
}

/* Every link in the kernel's order, then one entry per IPv4 label in the order its first
 * address comes, named by the label and carrying its link's hardware address: what qemu-ga
 * (getifaddrs) reports, and what libvirt folds back into the link (`eth0:1` -> `eth0`). */
static JsonNode *
qga_get_interfaces (PhxCall *call, GError **error)
{
        g_autoptr(GPtrArray) ifaces = phx_netlink_list_ifaces (error);
        g_autoptr(GArray) entries = NULL;
        g_autoptr(GHashTable) by_name = NULL;
        g_autoptr(JsonArray) arr = NULL;

        if (ifaces == NULL)
                return NULL;
        entries = g_array_sized_new (FALSE, TRUE, sizeof (QgaIface), ifaces->len);
        by_name = g_hash_table_new (g_str_hash, g_str_equal);
        for (guint i = 0; i < ifaces->len; i++) {
                const PhxNetIface *iface = g_ptr_array_index (ifaces, i);
                QgaIface e = { iface->name, iface->lladdr, NULL, iface };

                g_array_append_val (entries, e);
                g_hash_table_insert (by_name, iface->name, GUINT_TO_POINTER (entries->len));
        }
        for (guint i = 0; i < ifaces->len; i++) {
                const PhxNetIface *iface = g_ptr_array_index (ifaces, i);

                for (guint j = 0; j < iface->addrs->len; j++) {
                        const PhxNetAddr *a = g_ptr_array_index (iface->addrs, j);
                        const char *name = a->label != NULL ? a->label : iface->name;
                        guint pos = GPOINTER_TO_UINT (g_hash_table_lookup (by_name, name));

                        if (pos == 0) {
                                QgaIface e = { a->label, iface->lladdr, NULL, NULL };

                                g_array_append_val (entries, e);
                                pos = entries->len;
                                g_hash_table_insert (by_name, a->label, GUINT_TO_POINTER (pos));
                        }
                        qga_iface_add_addr (&g_array_index (entries, QgaIface, pos - 1), a);
                }
        }
        arr = json_array_sized_new (entries->len);
        for (guint i = 0; i < entries->len; i++)
                json_array_add_object_element (arr, qga_iface_to_json (&g_array_index (entries, QgaIface, i)));
        return json_node_init_array (json_node_alloc (), arr);
}

/* route(8)'s RTF_* bits, as the kernel's /proc/net/route and /proc/net/ipv6_route show them */
static guint64
qga_route_flags (const PhxNetRoute *r)
{
        guint64 flags = RTF_UP;

        if (r->gateway[0] != '\0')
                flags |= RTF_GATEWAY;
        if (r->prefixlen == (r->family == AF_INET ? 32u : 128u))
                flags |= RTF_HOST;
        /* the refusing types the kernel marks REJECT in each family's listing */
        if (r->type == RTN_UNREACHABLE || r->type == RTN_PROHIBIT ||
            (r->family == AF_INET6 && (r->type == RTN_BLACKHOLE || r->type == RTN_THROW)))
                flags |= RTF_REJECT;
        return flags;
}

/* qemu-ga's order: IPv4, then IPv6; within each, the main table (the only one qemu-ga
 * reads) before the others, so a client that takes the first default route gets main's. */
static gint
qga_route_order (gconstpointer pa, gconstpointer pb)
{
        const PhxNetRoute *a = *(const PhxNetRoute **) pa;
        const PhxNetRoute *b = *(const PhxNetRoute **) pb;
        guint ka = a->table == RT_TABLE_MAIN ? 0 : a->table;
        guint kb = b->table == RT_TABLE_MAIN ? 0 : b->table;

        if (a->family != b->family)
                return a->family == AF_INET ? -1 : 1;
        return ka < kb ? -1 : ka > kb;
}

static JsonObject *
qga_route_to_json (const PhxNetRoute *r)
{
        JsonObject *o = json_object_new ();
        gboolean v4 = r->family == AF_INET;
        const char *any = v4 ? "0.0.0.0" : "::";

        /* the kernel's own spelling of a route without a device */
        json_object_set_string_member (o, "iface", r->ifname[0] != '\0' ? r->ifname : "*");
        json_object_set_string_member (o, "destination", r->dst[0] != '\0' ? r->dst : any);
        json_object_set_int_member (o, "metric", r->metric);
        if (v4) {
                g_autofree char *mask = phx_netlink_prefix_to_mask (AF_INET, r->prefixlen);

                json_object_set_string_member (o, "gateway", r->gateway[0] != '\0' ? r->gateway : any);
                json_object_set_string_member (o, "mask", mask);
                /* the kernel's /proc/net/route shows refcnt and use as 0 since Linux 2.6 */
                json_object_set_int_member (o, "refcnt", 0);
                json_object_set_int_member (o, "use", 0);
                json_object_set_int_member (o, "window", r->window);
                json_object_set_int_member (o, "irtt", r->rtt >> 3);
        } else {
                g_autofree char *dlen = g_strdup_printf ("%u", r->prefixlen);
                g_autofree char *slen = g_strdup_printf ("%u", r->from_prefixlen);

                if (r->gateway[0] != '\0')
                        json_object_set_string_member (o, "gateway", r->gateway);
                json_object_set_string_member (o, "desprefixlen", dlen);
                json_object_set_string_member (o, "source", r->from[0] != '\0' ? r->from : any);
                json_object_set_string_member (o, "srcprefixlen", slen);
                json_object_set_string_member (o, "nexthop", r->gateway[0] != '\0' ? r->gateway : any);
                json_object_set_int_member (o, "use", 0);
        }
        json_object_set_int_member (o, "flags", (gint64) qga_route_flags (r));
        json_object_set_int_member (o, "mtu", r->mtu);
        json_object_set_int_member (o, "version", v4 ? 4 : 6);
        json_object_set_int_member (o, "table", r->table);
        return o;
}

static JsonNode *
qga_get_route (PhxCall *call, GError **error)
{
        g_autoptr(GPtrArray) routes = phx_netlink_list_routes (AF_UNSPEC, error);
        g_autoptr(JsonArray) arr = NULL;

        if (routes == NULL)
                return NULL;
        g_ptr_array_sort (routes, qga_route_order);
        arr = json_array_sized_new (routes->len);
        for (guint i = 0; i < routes->len; i++)
                json_array_add_object_element (arr, qga_route_to_json (g_ptr_array_index (routes, i)));
        return json_node_init_array (json_node_alloc (), arr);
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
        /* reads touch no disk: they answer while filesystems are frozen */
        { "get-netifaces", get_netifaces, NULL, PHX_CMD_THREADED | PHX_CMD_FROZEN_OK },
        { "ipaddr-add", ipaddr_add, addr_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "linux-ipaddr-add", ipaddr_add, addr_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "ipaddr-del", ipaddr_del, addr_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "linux-ipaddr-del", ipaddr_del, addr_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "net-iface-up", iface_up, iface_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "net-iface-down", iface_down, iface_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "get-route-list", get_route_list, route_list_args, PHX_CMD_THREADED | PHX_CMD_FROZEN_OK },
        { "route-add", route_add, route_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "route-del", route_del, route_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "qga-network-get-interfaces", qga_get_interfaces, NULL,
          PHX_CMD_THREADED | PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { "qga-network-get-route", qga_get_route, NULL, PHX_CMD_THREADED | PHX_CMD_FROZEN_OK | PHX_CMD_FACE_ONLY },
        { NULL }
};

static const PhxFace network_faces[] = {
        { PHX_DIALECT_QGA, "guest-network-get-interfaces", "qga-network-get-interfaces", NULL, NULL,
          PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-network-get-route", "qga-network-get-route", NULL, NULL, PHX_FACE_STRICT },
        { .name = NULL }
};

typedef struct {
        PhxFamily parent_instance;
} PhxNetworkFamily;

typedef struct {
        PhxFamilyClass parent_class;
} PhxNetworkFamilyClass;

G_DEFINE_TYPE (PhxNetworkFamily, phx_network_family, PHX_TYPE_FAMILY)

static void
phx_network_family_class_init (PhxNetworkFamilyClass *klass)
{
        PHX_FAMILY_CLASS (klass)->commands = network_commands;
        PHX_FAMILY_CLASS (klass)->faces = network_faces;
}

static void
phx_network_family_init (PhxNetworkFamily *self)
{
}
