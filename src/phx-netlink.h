/* phx-netlink.h — the guest's network state over rtnetlink (libnl-route-3), as plain data.
 * Every function opens its own netlink socket, so it may run in any worker thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
        PHX_NET_RX_BYTES,
        PHX_NET_RX_PACKETS,
        PHX_NET_RX_ERRORS,
        PHX_NET_RX_DROPPED,
        PHX_NET_TX_BYTES,
        PHX_NET_TX_PACKETS,
        PHX_NET_TX_ERRORS,
        PHX_NET_TX_DROPPED,
        PHX_NET_N_STATS
} PhxNetStat;

typedef struct {
        int family;      /* AF_INET or AF_INET6 */
        char *address;   /* as inet_ntop writes it: no prefix, no IPv6 zone */
        guint prefixlen;
        char *label;     /* an IPv4 address's label when it is not the interface's own name
                          * (`ip addr add ... label eth0:1`), else NULL */
} PhxNetAddr;

typedef struct {
        int index;
        char *name;
        char *lladdr;   /* the link-layer address, "aa:bb:..." over all its bytes; NULL
                         * when the link has none (tun, wireguard); loopback's is all zeros */
        char *hwaddr;   /* Phoenix's spelling: "" when none or all zeros */
        guint flags;    /* IFF_* */
        guint mtu;
        guint64 stats[PHX_NET_N_STATS];
        guint64 rx_missed; /* /proc/net/dev counts it in its rx "drop" column */
        GPtrArray *addrs;  /* PhxNetAddr: IPv4 before IPv6, each in the kernel's order */
} PhxNetIface;

typedef struct {
        char *ifname;   /* "" when the route (or this next hop) has no device */
        int family;     /* AF_INET or AF_INET6 */
        int scope;
        int type;       /* RTN_UNICAST, RTN_UNREACHABLE, ... */
        char *dst;      /* address without prefix; "" for a default route */
        guint prefixlen;
        char *src;      /* preferred source (RTA_PREFSRC), "" when none */
        char *from;     /* source prefix of a source-specific IPv6 route (RTA_SRC), "" when none */
        guint from_prefixlen;
        char *gateway;  /* "" when none */
        guint32 metric;
        guint32 table;
        guint32 mtu;    /* RTAX_MTU, 0 when unset */
        guint32 window; /* RTAX_WINDOW, 0 when unset */
        guint32 rtt;    /* RTAX_RTT as the kernel keeps it (ms << 3), 0 when unset */
} PhxNetRoute;

void phx_net_iface_free (PhxNetIface *iface);
void phx_net_route_free (PhxNetRoute *route);

void phx_net_addr_free (PhxNetAddr *addr);

GPtrArray *phx_netlink_list_ifaces (GError **error);
/* Routes of every table but `local` (the kernel's own host and broadcast entries), one
 * entry per next hop; unicast and the refusing types (unreachable, prohibit, blackhole,
 * throw). `family` 0 is both; a family the kernel lacks gives no routes, not an error. */
GPtrArray *phx_netlink_list_routes (int family, GError **error);
gboolean phx_netlink_addr_change (gboolean add, const char *ifname, const char *cidr, GError **error);
gboolean phx_netlink_link_set_up (const char *ifname, gboolean up, GError **error);
gboolean phx_netlink_route_change (gboolean add, const char *ifname, const char *dst, const char *src,
                                   const char *gateway, int scope, GError **error);
char *phx_netlink_prefix_to_mask (int family, guint prefixlen);

G_END_DECLS
