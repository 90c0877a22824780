/* phx-netlink.c — the only code that talks rtnetlink, through libnl-route-3. Requests are
 * built by libnl and acknowledged with our own error callback, so a failure carries the
 * kernel's errno itself (libnl's NLE_* codes would fold several into one). Input text is
 * parsed strictly here before anything is sent. */
#define G_LOG_DOMAIN "phx-netlink"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <string.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "phx-netlink.h"

typedef struct nl_sock NlSock;
typedef struct nl_msg NlMsg;
typedef struct nl_addr NlAddr;
typedef struct rtnl_addr RtnlAddr;
typedef struct rtnl_link RtnlLink;
typedef struct rtnl_route RtnlRoute;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlMsg, nlmsg_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlAddr, nl_addr_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlAddr, rtnl_addr_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlLink, rtnl_link_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlRoute, rtnl_route_put)

void
phx_net_addr_free (PhxNetAddr *addr)
{
        g_free (addr->address);
        g_free (addr->label);
        g_free (addr);
}

void
phx_net_iface_free (PhxNetIface *iface)
{
        g_free (iface->name);
        g_free (iface->lladdr);
        g_free (iface->hwaddr);
        g_ptr_array_unref (iface->addrs);
        g_free (iface);
}

void
phx_net_route_free (PhxNetRoute *route)
{
        g_free (route->ifname);
        g_free (route->dst);
        g_free (route->src);
        g_free (route->from);
        g_free (route->gateway);
        g_free (route);
}

/* For failures libnl reports itself (no kernel errno to hand on). */
static void
set_nl_error (GError **error, int nle, const char *what)
{
        static const struct {
                int nle, errsv;
        } map[] = {
                { NLE_NOMEM, ENOMEM }, { NLE_PERM, EPERM }, { NLE_NODEV, ENODEV }, { NLE_EXIST, EEXIST },
                { NLE_INVAL, EINVAL }, { NLE_NOADDR, EADDRNOTAVAIL }, { NLE_OBJ_NOTFOUND, ESRCH },
                { NLE_AGAIN, EAGAIN }, { NLE_BUSY, EBUSY }, { NLE_OPNOTSUPP, EOPNOTSUPP },
                { NLE_AF_NOSUPPORT, EAFNOSUPPORT }, { NLE_NOACCESS, EACCES },
                { NLE_DUMP_INTR, EAGAIN }, /* still changing after PHX_NETLINK_DUMP_TRIES dumps */
        };

        nle = ABS (nle);
        for (guint i = 0; i < G_N_ELEMENTS (map); i++) {
                if (map[i].nle == nle) {
                        phx_error_set_errno (error, map[i].errsv, "%s", what);
                        return;
                }
        }
        phx_error_set (error, PHX_ERROR_GENERIC, "%s: %s", what, nl_geterror (nle));
}

static NlSock *
open_socket (GError **error)
{
        g_autoptr(NlSock) sk = nl_socket_alloc ();
        int err;

        if (sk == NULL) {
                phx_error_set_errno (error, ENOMEM, "netlink socket");
                return NULL;
        }
        err = nl_connect (sk, NETLINK_ROUTE);
        if (err < 0) {
                set_nl_error (error, err, "netlink connect");
                return NULL;
        }
        return g_steal_pointer (&sk);
}

static int
on_nl_error (struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
        *(int *) arg = -e->error;
        return NL_STOP;
}

/* Sends one request and waits for the kernel's answer; `what` names it in errors. */
static gboolean
transact (NlSock *sk, NlMsg *msg, const char *what, GError **error)
{
        int kernel_errno = 0;
        int err;

        nl_socket_modify_err_cb (sk, NL_CB_CUSTOM, on_nl_error, &kernel_errno);
        err = nl_send_auto (sk, msg);
        if (err >= 0)
                err = nl_wait_for_ack (sk);
        if (kernel_errno != 0) {
                phx_error_set_errno (error, kernel_errno, "%s", what);
                return FALSE;
        }
        if (err < 0) {
                set_nl_error (error, err, what);
                return FALSE;
        }
        return TRUE;
}

typedef struct {
        int family;
        guint8 bytes[16];
        guint prefixlen;
} Cidr;

/* "ADDR" or "ADDR/LEN", IPv4 or IPv6, nothing else (no names, no "default"). */
static gboolean
parse_cidr (const char *text, const char *what, Cidr *out, GError **error)
{
        g_autofree char *addr = g_strdup (text);
        char *slash = strchr (addr, '/');
        guint max;

        if (slash != NULL)
                *slash = '\0';
        if (inet_pton (AF_INET, addr, out->bytes) == 1) {
                out->family = AF_INET;
                max = 32;
        } else if (inet_pton (AF_INET6, addr, out->bytes) == 1) {
                out->family = AF_INET6;
                max = 128;
        } else {
                phx_error_set (error, EINVAL, "invalid %s '%s': not an IPv4 or IPv6 address", what, text);
                return FALSE;
        }
        out->prefixlen = max;
        if (slash != NULL) {
                guint64 len;
                if (!g_ascii_string_to_unsigned (slash + 1, 10, 0, max, &len, NULL)) {
                        phx_error_set (error, EINVAL, "invalid %s '%s': prefix length must be 0..%u", what,
                                       text, max);
                        return FALSE;
                }
                out->prefixlen = (guint) len;
        }
        return TRUE;
}

static NlAddr *
cidr_to_nl (const Cidr *c)
{
        NlAddr *a = nl_addr_build (c->family, c->bytes, c->family == AF_INET ? 4 : 16);

        nl_addr_set_prefixlen (a, c->prefixlen);
        return a;
}

static gboolean
lookup_ifindex (const char *ifname, int *ifindex, GError **error)
{
        if (ifname[0] == '\0' || strlen (ifname) >= IFNAMSIZ) {
                phx_error_set (error, EINVAL, "invalid interface name '%s'", ifname);
                return FALSE;
        }
        *ifindex = (int) if_nametoindex (ifname);
        if (*ifindex == 0) {
                phx_error_set_errno (error, errno == ENXIO ? ENODEV : errno, "interface %s", ifname);
                return FALSE;
        }
        return TRUE;
}

static char *
addr_to_string (NlAddr *a)
{
        char buf[INET6_ADDRSTRLEN];

        if (a == NULL || nl_addr_get_len (a) == 0)
                return g_strdup ("");
        if (inet_ntop (nl_addr_get_family (a), nl_addr_get_binary_addr (a), buf, sizeof buf) == NULL)
                return g_strdup ("");
        return g_strdup (buf);
}

char *
phx_netlink_prefix_to_mask (int family, guint prefixlen)
{
        guint8 bytes[16] = { 0 };
        char buf[INET6_ADDRSTRLEN];

        for (guint i = 0; i < prefixlen && i < 128; i++)
                bytes[i / 8] |= (guint8) (0x80 >> (i % 8));
        inet_ntop (family, bytes, buf, sizeof buf);
        return g_strdup (buf);
}

static char *
format_lladdr (const guint8 *b, guint len)
{
        GString *s;

        if (len == 0)
                return NULL;
        s = g_string_sized_new (len * 3);
        for (guint i = 0; i < len; i++)
                g_string_append_printf (s, i ? ":%02x" : "%02x", b[i]);
        return g_string_free (s, FALSE);
}

/* loopback's 00:00:00:00:00:00 means "none", as the original agent reported it */
static char *
phoenix_hwaddr (const char *lladdr)
{
        if (lladdr == NULL || strspn (lladdr, "0:") == strlen (lladdr))
                return g_strdup ("");
        return g_strdup (lladdr);
}

/* One dump request and every reply to it, each handed to `on_msg`. A dump the kernel marks
 * interrupted (its table changed meanwhile) is thrown away and asked for again, as libnl's
 * caches do; `reset` forgets what the callback had collected from it. */
static gboolean
run_dump (NlSock *sk, int type, void *req, gsize req_len, nl_recvmsg_msg_cb_t on_msg, void (*reset) (void *),
          void *arg, const char *what, GError **error)
{
        int err = 0;

        for (guint i = 0; i < PHX_NETLINK_DUMP_TRIES; i++) {
                if (i > 0)
                        reset (arg);
                if ((err = nl_send_simple (sk, type, NLM_F_DUMP, req, req_len)) < 0 ||
                    (err = nl_socket_modify_cb (sk, NL_CB_VALID, NL_CB_CUSTOM, on_msg, arg)) < 0)
                        break;
                if ((err = nl_recvmsgs_default (sk)) != -NLE_DUMP_INTR)
                        break;
        }
        if (err < 0) {
                set_nl_error (error, err, what);
                return FALSE;
        }
        return TRUE;
}

typedef struct {
        GPtrArray *out;        /* PhxNetIface, in the link dump's order */
        GHashTable *by_index;  /* ifindex -> PhxNetIface */
} IfaceDump;

static void
iface_dump_reset_links (void *arg)
{
        IfaceDump *d = arg;

        g_hash_table_remove_all (d->by_index);
        g_ptr_array_set_size (d->out, 0);
}

static void
iface_dump_reset_addrs (void *arg)
{
        IfaceDump *d = arg;

        for (guint i = 0; i < d->out->len; i++)
                g_ptr_array_set_size (((PhxNetIface *) g_ptr_array_index (d->out, i))->addrs, 0);
}

/* The link attributes are read straight from the message (no libnl object per link): a
 * listing of hundreds of links stays a few allocations per link. Lengths are checked before
 * any attribute is read. */
static int
on_link (NlMsg *msg, void *arg)
{
        IfaceDump *d = arg;
        struct nlmsghdr *h = nlmsg_hdr (msg);
        struct nlattr *tb[IFLA_MAX + 1];
        struct ifinfomsg *ifi;
        PhxNetIface *iface;

        if (h->nlmsg_type != RTM_NEWLINK || nlmsg_parse (h, sizeof *ifi, tb, IFLA_MAX, NULL) < 0 ||
            tb[IFLA_IFNAME] == NULL || nla_len (tb[IFLA_IFNAME]) < 1)
                return NL_SKIP;
        ifi = nlmsg_data (h);
        iface = g_new0 (PhxNetIface, 1);
        iface->index = ifi->ifi_index;
        iface->name = g_strndup (nla_data (tb[IFLA_IFNAME]), MIN (nla_len (tb[IFLA_IFNAME]), IFNAMSIZ));
        if (tb[IFLA_ADDRESS] != NULL)
                iface->lladdr = format_lladdr (nla_data (tb[IFLA_ADDRESS]), (guint) nla_len (tb[IFLA_ADDRESS]));
        iface->hwaddr = phoenix_hwaddr (iface->lladdr);
        iface->flags = ifi->ifi_flags;
        if (tb[IFLA_MTU] != NULL && nla_len (tb[IFLA_MTU]) >= (int) sizeof (guint32))
                iface->mtu = nla_get_u32 (tb[IFLA_MTU]);
        if (tb[IFLA_STATS64] != NULL) {
                struct rtnl_link_stats64 st = { 0 };

                /* an older kernel's struct may be shorter, a newer one's longer */
                memcpy (&st, nla_data (tb[IFLA_STATS64]), MIN ((gsize) nla_len (tb[IFLA_STATS64]), sizeof st));
                iface->stats[PHX_NET_RX_BYTES] = st.rx_bytes;
                iface->stats[PHX_NET_RX_PACKETS] = st.rx_packets;
                iface->stats[PHX_NET_RX_ERRORS] = st.rx_errors;
                iface->stats[PHX_NET_RX_DROPPED] = st.rx_dropped;
                iface->stats[PHX_NET_TX_BYTES] = st.tx_bytes;
                iface->stats[PHX_NET_TX_PACKETS] = st.tx_packets;
                iface->stats[PHX_NET_TX_ERRORS] = st.tx_errors;
                iface->stats[PHX_NET_TX_DROPPED] = st.tx_dropped;
                iface->rx_missed = st.rx_missed_errors;
        }
        iface->addrs = g_ptr_array_new_with_free_func ((GDestroyNotify) phx_net_addr_free);
        g_hash_table_insert (d->by_index, GINT_TO_POINTER (iface->index), iface);
        g_ptr_array_add (d->out, iface);
        return NL_OK;
}

static int
on_addr (NlMsg *msg, void *arg)
{
        IfaceDump *d = arg;
        struct nlmsghdr *h = nlmsg_hdr (msg);
        struct nlattr *tb[IFA_MAX + 1];
        struct ifaddrmsg *ifa;
        struct nlattr *local;
        PhxNetIface *iface;
        PhxNetAddr *addr;
        char buf[INET6_ADDRSTRLEN];

        if (h->nlmsg_type != RTM_NEWADDR || nlmsg_parse (h, sizeof *ifa, tb, IFA_MAX, NULL) < 0)
                return NL_SKIP;
        ifa = nlmsg_data (h);
        /* IFA_LOCAL is the address itself; IFA_ADDRESS is the peer's on a point-to-point
         * link, and the only one IPv6 sends (getifaddrs makes the same choice) */
        local = tb[IFA_LOCAL] != NULL ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
        /* an address of a link that came after the link dump waits for the next call */
        iface = g_hash_table_lookup (d->by_index, GINT_TO_POINTER ((int) ifa->ifa_index));
        if (iface == NULL || local == NULL || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) ||
            nla_len (local) != (ifa->ifa_family == AF_INET ? 4 : 16) ||
            inet_ntop (ifa->ifa_family, nla_data (local), buf, sizeof buf) == NULL)
                return NL_SKIP;
        addr = g_new0 (PhxNetAddr, 1);
        addr->family = ifa->ifa_family;
        addr->address = g_strdup (buf);
        addr->prefixlen = ifa->ifa_prefixlen;
        if (addr->family == AF_INET && tb[IFA_LABEL] != NULL && nla_len (tb[IFA_LABEL]) > 0) {
                g_autofree char *label = g_strndup (nla_data (tb[IFA_LABEL]),
                                                    MIN (nla_len (tb[IFA_LABEL]), IFNAMSIZ));
                if (label[0] != '\0' && g_strcmp0 (label, iface->name) != 0)
                        addr->label = g_steal_pointer (&label);
        }
        g_ptr_array_add (iface->addrs, addr);
        return NL_OK;
}

/* Two dumps (links, then addresses), read as they arrive: the cost grows with the number of
 * interfaces plus addresses, never with their product, so hundreds of veth or VRRP
 * addresses stay fast. Links come in the kernel's order (glibc's getifaddrs, and so
 * qemu-ga, use it too); addresses family by family (IPv4 first), each in the kernel's order. */
GPtrArray *
phx_netlink_list_ifaces (GError **error)
{
        g_autoptr(NlSock) sk = open_socket (error);
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) phx_net_iface_free);
        g_autoptr(GHashTable) by_index = g_hash_table_new (g_direct_hash, g_direct_equal);
        IfaceDump d = { out, by_index };
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
        struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };

        if (sk == NULL ||
            !run_dump (sk, RTM_GETLINK, &ifi, sizeof ifi, on_link, iface_dump_reset_links, &d, "netlink link dump",
                   error) ||
            !run_dump (sk, RTM_GETADDR, &ifa, sizeof ifa, on_addr, iface_dump_reset_addrs, &d, "netlink address dump",
                   error))
                return NULL;
        return g_steal_pointer (&out);
}

static gboolean
route_type_listed (int type)
{
        switch (type) {
        case RTN_UNICAST:
        case RTN_UNREACHABLE:
        case RTN_PROHIBIT:
        case RTN_BLACKHOLE:
        case RTN_THROW:
                return TRUE;
        default:
                return FALSE;
        }
}

typedef struct {
        int family;
        GHashTable *names; /* ifindex -> name, from one if_nameindex() */
        GPtrArray *out;
        gboolean too_many; /* past PHX_NET_ROUTES_MAX: the dump was left unread */
} RouteDump;

static PhxNetRoute *
route_new (RouteDump *dump, RtnlRoute *r, struct rtnl_nexthop *nh)
{
        PhxNetRoute *route = g_new0 (PhxNetRoute, 1);
        NlAddr *dst = rtnl_route_get_dst (r);
        NlAddr *from = rtnl_route_get_src (r);
        const char *name = NULL;
        guint32 v;

        if (nh != NULL && rtnl_route_nh_get_ifindex (nh) > 0)
                name = g_hash_table_lookup (dump->names, GINT_TO_POINTER (rtnl_route_nh_get_ifindex (nh)));
        /* "" also for a device that came after the name list: it is gone or brand new */
        route->ifname = g_strdup (name != NULL ? name : "");
        route->family = rtnl_route_get_family (r);
        route->scope = rtnl_route_get_scope (r);
        route->type = rtnl_route_get_type (r);
        route->prefixlen = dst != NULL ? nl_addr_get_prefixlen (dst) : 0;
        route->dst = route->prefixlen > 0 ? addr_to_string (dst) : g_strdup ("");
        route->src = addr_to_string (rtnl_route_get_pref_src (r));
        route->from_prefixlen = from != NULL ? nl_addr_get_prefixlen (from) : 0;
        route->from = route->from_prefixlen > 0 ? addr_to_string (from) : g_strdup ("");
        route->gateway = addr_to_string (nh != NULL ? rtnl_route_nh_get_gateway (nh) : NULL);
        route->metric = rtnl_route_get_priority (r);
        route->table = rtnl_route_get_table (r);
        if (rtnl_route_get_metric (r, RTAX_MTU, &v) == 0)
                route->mtu = v;
        if (rtnl_route_get_metric (r, RTAX_WINDOW, &v) == 0)
                route->window = v;
        if (rtnl_route_get_metric (r, RTAX_RTT, &v) == 0)
                route->rtt = v;
        return route;
}

static void
route_dump_reset (void *arg)
{
        g_ptr_array_set_size (((RouteDump *) arg)->out, 0);
        ((RouteDump *) arg)->too_many = FALSE;
}

static int
on_route (NlMsg *msg, void *arg)
{
        RouteDump *dump = arg;
        g_autoptr(RtnlRoute) r = NULL;
        int f, n;

        /* a message libnl cannot read is one route fewer, not a failed listing */
        if (rtnl_route_parse (nlmsg_hdr (msg), &r) < 0)
                return NL_SKIP;
        f = rtnl_route_get_family (r);
        n = rtnl_route_get_nnexthops (r);
        /* The local table holds the kernel's own host and broadcast entries; hosts manage
         * routes in the others. IPv4/IPv6 multicast routing (families 128, 129) and MPLS
         * share the dump and are not IP routes here. */
        if ((f != AF_INET && f != AF_INET6) || (dump->family != AF_UNSPEC && f != dump->family) ||
            rtnl_route_get_table (r) == RT_TABLE_LOCAL || !route_type_listed (rtnl_route_get_type (r)))
                return NL_OK;
        if (dump->out->len + MAX (n, 1) > PHX_NET_ROUTES_MAX) {
                dump->too_many = TRUE;
                return NL_STOP;
        }
        if (n == 0)
                g_ptr_array_add (dump->out, route_new (dump, r, NULL));
        /* a multipath route: one entry per next hop, as /proc/net/ipv6_route lists them */
        for (int i = 0; i < n; i++)
                g_ptr_array_add (dump->out, route_new (dump, r, rtnl_route_nexthop_n (r, i)));
        return NL_OK;
}

GPtrArray *
phx_netlink_list_routes (int family, GError **error)
{
        g_autoptr(NlSock) sk = open_socket (error);
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) phx_net_route_free);
        g_autoptr(GHashTable) names = g_hash_table_new (g_direct_hash, g_direct_equal);
        struct rtmsg rtm = { .rtm_family = AF_UNSPEC };
        RouteDump dump_state = { family, names, out, FALSE };
        struct if_nameindex *ni;

        if (sk == NULL)
                return NULL;
        /* Every device's name from one netlink dump (glibc's), not one if_indextoname()
         * (a socket and an ioctl) per route: hundreds of routes cost one call. */
        if ((ni = if_nameindex ()) == NULL) {
                phx_error_set_errno (error, errno, "interface names");
                return NULL;
        }
        for (struct if_nameindex *p = ni; p->if_index != 0; p++)
                g_hash_table_insert (names, GUINT_TO_POINTER (p->if_index), p->if_name);
        /* A plain dump, not a libnl cache: the cache keeps one route per (table, prefix,
         * metric) and drops the rest, so of the fe80::/64 route every IPv6 link has, only
         * one survived. One dump of every family, filtered in on_route: asking for AF_INET6
         * on a kernel without IPv6 gets rtnetlink's all-families dump back, not an error. */
        if (!run_dump (sk, RTM_GETROUTE, &rtm, sizeof rtm, on_route, route_dump_reset, &dump_state,
                       "netlink route dump", error)) {
                if_freenameindex (ni);
                return NULL;
        }
        if_freenameindex (ni);
        if (dump_state.too_many) {
                phx_error_set (error, EMSGSIZE,
                               "more than %d routes: the listing would not fit in a reply a host reads "
                               "(list them in the guest with `ip route`)",
                               PHX_NET_ROUTES_MAX);
                return NULL;
        }
        return g_steal_pointer (&out);
}

gboolean
phx_netlink_addr_change (gboolean add, const char *ifname, const char *cidr, GError **error)
{
        g_autoptr(NlSock) sk = NULL;
        g_autoptr(RtnlAddr) addr = NULL;
        g_autoptr(NlAddr) local = NULL;
        g_autoptr(NlMsg) msg = NULL;
        g_autofree char *what = NULL;
        Cidr c;
        int ifindex, err;

        if (!parse_cidr (cidr, "address", &c, error) || !lookup_ifindex (ifname, &ifindex, error))
                return FALSE;
        if ((sk = open_socket (error)) == NULL)
                return FALSE;
        addr = rtnl_addr_alloc ();
        local = cidr_to_nl (&c);
        rtnl_addr_set_ifindex (addr, ifindex);
        rtnl_addr_set_family (addr, c.family);
        rtnl_addr_set_local (addr, local);
        rtnl_addr_set_prefixlen (addr, (int) c.prefixlen);
        what = g_strdup_printf ("%s %s dev %s", add ? "add address" : "delete address", cidr, ifname);
        /* NLM_F_EXCL: an address already present is EEXIST, not a silent success. */
        err = add ? rtnl_addr_build_add_request (addr, NLM_F_EXCL, &msg)
                  : rtnl_addr_build_delete_request (addr, 0, &msg);
        if (err < 0) {
                set_nl_error (error, err, what);
                return FALSE;
        }
        return transact (sk, msg, what, error);
}

gboolean
phx_netlink_link_set_up (const char *ifname, gboolean up, GError **error)
{
        g_autoptr(NlSock) sk = NULL;
        g_autoptr(RtnlLink) orig = NULL;
        g_autoptr(RtnlLink) change = NULL;
        g_autoptr(NlMsg) msg = NULL;
        g_autofree char *what = g_strdup_printf ("set %s %s", ifname, up ? "up" : "down");
        int ifindex, err;

        if (!lookup_ifindex (ifname, &ifindex, error) || (sk = open_socket (error)) == NULL)
                return FALSE;
        if ((err = rtnl_link_get_kernel (sk, ifindex, NULL, &orig)) < 0) {
                set_nl_error (error, err, what);
                return FALSE;
        }
        change = rtnl_link_alloc ();
        if (up)
                rtnl_link_set_flags (change, IFF_UP);
        else
                rtnl_link_unset_flags (change, IFF_UP);
        if ((err = rtnl_link_build_change_request (orig, change, 0, &msg)) < 0) {
                set_nl_error (error, err, what);
                return FALSE;
        }
        return transact (sk, msg, what, error);
}

gboolean
phx_netlink_route_change (gboolean add, const char *ifname, const char *dst, const char *src,
                          const char *gateway, int scope, GError **error)
{
        g_autoptr(NlSock) sk = NULL;
        g_autoptr(RtnlRoute) route = NULL;
        g_autoptr(NlAddr) dst_addr = NULL;
        g_autoptr(NlMsg) msg = NULL;
        g_autofree char *what = NULL;
        struct rtnl_nexthop *nh;
        Cidr d, s, g;
        int ifindex, err;

        if (!parse_cidr (dst, "destination", &d, error))
                return FALSE;
        if (src != NULL && (!parse_cidr (src, "source", &s, error) || s.family != d.family)) {
                if (error != NULL && *error == NULL)
                        phx_error_set (error, EINVAL, "source '%s' is not of the destination's family", src);
                return FALSE;
        }
        if (gateway != NULL && (!parse_cidr (gateway, "gateway", &g, error) || g.family != d.family)) {
                if (error != NULL && *error == NULL)
                        phx_error_set (error, EINVAL, "gateway '%s' is not of the destination's family", gateway);
                return FALSE;
        }
        if (!lookup_ifindex (ifname, &ifindex, error) || (sk = open_socket (error)) == NULL)
                return FALSE;

        route = rtnl_route_alloc ();
        dst_addr = cidr_to_nl (&d);
        rtnl_route_set_family (route, d.family);
        rtnl_route_set_dst (route, dst_addr);
        rtnl_route_set_table (route, RT_TABLE_MAIN);
        rtnl_route_set_type (route, RTN_UNICAST);
        if (add) {
                rtnl_route_set_protocol (route, RTPROT_BOOT);
                rtnl_route_set_scope (route, (guint8) scope);
        } else if (scope >= 0) {
                rtnl_route_set_scope (route, (guint8) scope);
        }
        if (src != NULL) {
                g_autoptr(NlAddr) a = cidr_to_nl (&s);
                rtnl_route_set_pref_src (route, a);
        }
        nh = rtnl_route_nh_alloc ();
        rtnl_route_nh_set_ifindex (nh, ifindex);
        if (gateway != NULL) {
                g_autoptr(NlAddr) a = cidr_to_nl (&g);
                rtnl_route_nh_set_gateway (nh, a);
        }
        rtnl_route_add_nexthop (route, nh);

        what = g_strdup_printf ("%s %s dev %s%s%s", add ? "add route" : "delete route", dst, ifname,
                                gateway != NULL ? " via " : "", gateway != NULL ? gateway : "");
        if (!add)
                rtnl_route_set_protocol (route, RTPROT_UNSPEC);
        err = add ? rtnl_route_build_add_request (route, NLM_F_EXCL, &msg)
                  : rtnl_route_build_del_request (route, 0, &msg);
        if (err < 0) {
                set_nl_error (error, err, what);
                return FALSE;
        }
        /* Deleting without a scope must match any scope, as `ip route del` does: the
         * kernel reads RT_SCOPE_NOWHERE as "any", but libnl replaces an unset scope with a
         * guess (link when there is no gateway), which would miss a global device route. */
        if (!add && scope < 0)
                ((struct rtmsg *) nlmsg_data (nlmsg_hdr (msg)))->rtm_scope = RT_SCOPE_NOWHERE;
        return transact (sk, msg, what, error);
}
