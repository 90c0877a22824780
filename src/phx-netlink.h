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
        int index;
        char *name;
        char *hwaddr;   /* "aa:bb:..", "" when none */
        guint flags;    /* IFF_* */
        guint mtu;
        guint64 stats[PHX_NET_N_STATS];
        GPtrArray *ips; /* CIDR strings */
} PhxNetIface;

typedef struct {
        char *ifname;   /* "" when the route has no device */
        int family;     /* AF_INET or AF_INET6 */
        int scope;
        char *dst;      /* address without prefix; "" for a default route */
        guint prefixlen;
        char *src;      /* preferred source, "" when none */
        char *gateway;  /* "" when none */
        guint32 metric;
        guint32 table;
} PhxNetRoute;

void phx_net_iface_free (PhxNetIface *iface);
void phx_net_route_free (PhxNetRoute *route);

GPtrArray *phx_netlink_list_ifaces (GError **error);
GPtrArray *phx_netlink_list_routes (int family, GError **error);
gboolean phx_netlink_addr_change (gboolean add, const char *ifname, const char *cidr, GError **error);
gboolean phx_netlink_link_set_up (const char *ifname, gboolean up, GError **error);
gboolean phx_netlink_route_change (gboolean add, const char *ifname, const char *dst, const char *src,
                                   const char *gateway, int scope, GError **error);
char *phx_netlink_prefix_to_mask (int family, guint prefixlen);

G_END_DECLS
