"""Network family against the real kernel, inside a private network namespace per test.
Nothing here touches the host's own network: every change happens in the namespace."""
import json
import os
import subprocess
import uuid

import pytest

from conftest import Agent, require_root

ESRCH, ENODEV, EEXIST, EINVAL, EADDRNOTAVAIL = 3, 19, 17, 22, 99


def ip(ns, *args):
    out = subprocess.run(["ip", "-n", ns, "-j", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


@pytest.fixture
def netns(tmp_path):
    require_root("creates a network namespace")
    name = "phx-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        # veth, because the dummy module is not available on every test machine
        subprocess.run(["ip", "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def nethost(netns, tmp_path):
    a = Agent(tmp_path, wrap=["ip", "netns", "exec", netns])
    try:
        yield a.connect()
    finally:
        code = a.stop()
    assert code in (0, -15)


def addrs(ns, dev):
    return {"%s/%d" % (i["local"], i["prefixlen"]) for i in ip(ns, "addr", "show", "dev", dev)[0]["addr_info"]}


def test_get_netifaces_matches_the_kernel(netns, nethost):
    subprocess.run(["ip", "-n", netns, "addr", "add", "10.1.0.1/24", "dev", "v0"], check=True)
    subprocess.run(["ip", "-n", netns, "link", "set", "v0", "mtu", "1400", "up"], check=True)
    got = {i["name"]: i for i in nethost.ok("get-netifaces")}
    links = {l["ifname"]: l for l in ip(netns, "link")}
    assert set(got) == set(links) == {"lo", "v0", "v1"}
    v0 = got["v0"]
    assert v0["index"] == links["v0"]["ifindex"]
    assert v0["hwaddr"] == links["v0"]["address"]
    assert v0["flags"] == "up|broadcast|multicast"
    assert v0["ips"] == ["10.1.0.1/24"]
    assert v0["mtu"] == 1400
    assert set(v0["stats"]) == {"rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                                "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"}
    assert got["lo"]["hwaddr"] == "" and got["lo"]["flags"] == "loopback"
    assert list(v0) == ["index", "name", "hwaddr", "flags", "ips", "mtu", "stats"]


def test_ipaddr_add_and_del_v4_and_v6(netns, nethost):
    assert nethost.ok("ipaddr-add", {"ip": "10.2.0.5/24", "ifname": "v0"}) is True
    assert nethost.ok("linux-ipaddr-add", {"ip": "fd00:1::5/64", "ifname": "v0"}) is True
    assert {"10.2.0.5/24", "fd00:1::5/64"} <= addrs(netns, "v0")
    got = [i for i in nethost.ok("get-netifaces") if i["name"] == "v0"][0]
    assert "10.2.0.5/24" in got["ips"] and "fd00:1::5/64" in got["ips"]
    assert nethost.ok("ipaddr-del", {"ip": "10.2.0.5/24", "ifname": "v0"}) is True
    assert nethost.ok("linux-ipaddr-del", {"ip": "fd00:1::5/64", "ifname": "v0"}) is True
    assert not {"10.2.0.5/24", "fd00:1::5/64"} & addrs(netns, "v0")


def test_ipaddr_errors(netns, nethost):
    nethost.ok("ipaddr-add", {"ip": "10.3.0.1/24", "ifname": "v0"})
    code, msg = nethost.err("ipaddr-add", {"ip": "10.3.0.1/24", "ifname": "v0"})
    assert code == EEXIST and "10.3.0.1/24" in msg
    code, msg = nethost.err("ipaddr-del", {"ip": "10.3.9.9/24", "ifname": "v0"})
    assert code == EADDRNOTAVAIL and "10.3.9.9/24" in msg
    code, msg = nethost.err("ipaddr-add", {"ip": "10.3.0.2/24", "ifname": "nosuch0"})
    assert code == ENODEV and "nosuch0" in msg
    for bad in ("10.3.0.300/24", "10.3.0.1/33", "fd00::1/129", "eth0", "10.3.0.1/", "10.3.0.1/ 4", ""):
        code, msg = nethost.err("ipaddr-add", {"ip": bad, "ifname": "v0"})
        assert code == EINVAL and ("'%s'" % bad) in msg, bad
    code, msg = nethost.err("ipaddr-add", {"ip": "10.3.0.9/24", "ifname": "x" * 40})
    assert code == EINVAL
    assert nethost.err("ipaddr-add", {"ifname": "v0"})[0] == EINVAL
    assert addrs(netns, "v0") == {"10.3.0.1/24"}


def test_link_up_and_down(netns, nethost):
    assert nethost.ok("net-iface-up", {"ifname": "v0"}) is True
    assert "UP" in ip(netns, "link", "show", "v0")[0]["flags"]
    assert nethost.ok("net-iface-down", {"ifname": "v0"}) is True
    assert "UP" not in ip(netns, "link", "show", "v0")[0]["flags"]
    assert nethost.err("net-iface-up", {"ifname": "nosuch0"})[0] == ENODEV
    assert nethost.err("net-iface-down", {"ifname": 5})[0] == EINVAL


def up_with_addresses(ns):
    for cmd in (["addr", "add", "10.4.0.1/24", "dev", "v0"], ["addr", "add", "fd00:4::1/64", "dev", "v0", "nodad"],
                ["link", "set", "v1", "up"], ["link", "set", "v0", "up"]):
        subprocess.run(["ip", "-n", ns, *cmd], check=True)


def kernel_routes(ns, family="-4"):
    out = subprocess.run(["ip", "-n", ns, "-j", family, "route"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_routes_via_gateway_link_scope_and_default(netns, nethost):
    up_with_addresses(netns)
    assert nethost.ok("route-add", {"ifname": "v0", "dst": "10.50.0.0/16", "gateway": "10.4.0.254"}) is True
    assert nethost.ok("route-add", {"ifname": "v0", "dst": "10.60.1.0/24", "scope": 253,
                                    "src": "10.4.0.1"}) is True
    assert nethost.ok("route-add", {"ifname": "v0", "dst": "0.0.0.0/0", "gateway": "10.4.0.254"}) is True
    assert nethost.ok("route-add", {"ifname": "v0", "dst": "fd00:99::/48", "gateway": "fd00:4::fe"}) is True
    k = {r["dst"]: r for r in kernel_routes(netns)}
    assert k["10.50.0.0/16"]["gateway"] == "10.4.0.254" and k["10.50.0.0/16"]["dev"] == "v0"
    assert k["10.60.1.0/24"]["scope"] == "link" and k["10.60.1.0/24"]["prefsrc"] == "10.4.0.1"
    assert k["default"]["gateway"] == "10.4.0.254"
    k6 = {r["dst"]: r for r in kernel_routes(netns, "-6")}
    assert k6["fd00:99::/48"]["gateway"] == "fd00:4::fe"

    routes = nethost.ok("get-route-list")
    by_dst = {(r["dst"]["ip"], r["dst"]["mask"]): r for r in routes}
    r = by_dst[("10.50.0.0", "255.255.0.0")]
    assert (r["ifname"], r["gateway"], r["src"], r["scope"], r["prefixlen"], r["table"]) == \
        ("v0", "10.4.0.254", "", 0, 16, 254)
    r = by_dst[("10.60.1.0", "255.255.255.0")]
    assert (r["scope"], r["src"], r["gateway"]) == (253, "10.4.0.1", "")
    assert by_dst[("", "")]["gateway"] == "10.4.0.254"
    r = by_dst[("fd00:99::", "ffff:ffff:ffff::")]
    assert r["gateway"] == "fd00:4::fe" and r["prefixlen"] == 48 and isinstance(r["metric"], int)
    assert list(routes[0]) == ["ifname", "scope", "dst", "src", "gateway", "prefixlen", "metric", "table"]

    assert nethost.ok("route-del", {"ifname": "v0", "dst": "10.50.0.0/16", "gateway": "10.4.0.254"}) is True
    assert nethost.ok("route-del", {"ifname": "v0", "dst": "10.60.1.0/24"}) is True
    assert nethost.ok("route-del", {"ifname": "v0", "dst": "0.0.0.0/0"}) is True
    assert nethost.ok("route-del", {"ifname": "v0", "dst": "fd00:99::/48"}) is True
    left = {r["dst"] for r in kernel_routes(netns)}
    assert not {"10.50.0.0/16", "10.60.1.0/24", "default"} & left
    assert "fd00:99::/48" not in {r["dst"] for r in kernel_routes(netns, "-6")}


def test_route_family_filter(netns, nethost):
    up_with_addresses(netns)
    v4 = nethost.ok("get-route-list", {"family": 2})
    v6 = nethost.ok("get-route-list", {"family": 10})
    both = nethost.ok("get-route-list", {"family": 0})
    assert v4 and v6 and len(both) == len(v4) + len(v6)
    assert all("." in r["dst"]["ip"] or r["dst"]["ip"] == "" for r in v4)
    assert all(":" in r["dst"]["ip"] or r["dst"]["ip"] == "" for r in v6)
    assert {r["dst"]["ip"] for r in v4} == {r["dst"].split("/")[0] for r in kernel_routes(netns)}
    code, msg = nethost.err("get-route-list", {"family": 7})
    assert code == EINVAL and "family" in msg


def test_route_errors(netns, nethost):
    up_with_addresses(netns)
    nethost.ok("route-add", {"ifname": "v0", "dst": "10.70.0.0/16", "gateway": "10.4.0.254"})
    code, msg = nethost.err("route-add", {"ifname": "v0", "dst": "10.70.0.0/16", "gateway": "10.4.0.254"})
    assert code == EEXIST
    code, msg = nethost.err("route-del", {"ifname": "v0", "dst": "10.71.0.0/16"})
    assert code == ESRCH and "10.71.0.0/16" in msg
    code, msg = nethost.err("route-add", {"ifname": "nosuch0", "dst": "10.72.0.0/16"})
    assert code == ENODEV
    code, msg = nethost.err("route-add", {"ifname": "v0", "dst": "10.73.0.0/40"})
    assert code == EINVAL and "10.73.0.0/40" in msg
    code, msg = nethost.err("route-add", {"ifname": "v0", "dst": "10.74.0.0/16", "gateway": "fd00::1"})
    assert code == EINVAL and "gateway" in msg
    code, msg = nethost.err("route-add", {"ifname": "v0", "dst": "10.75.0.0/16", "scope": 300})
    assert code == EINVAL and "scope" in msg
    code, msg = nethost.err("route-add", {"ifname": "v0", "dst": "10.76.0.0/16", "src": "nonsense"})
    assert code == EINVAL and "nonsense" in msg


def test_changes_run_in_the_order_sent(netns, nethost):
    """An address and a route through it, pipelined: the route must see the address."""
    subprocess.run(["ip", "-n", netns, "link", "set", "v0", "up"], check=True)
    msgs = [{"execute": "ipaddr-add", "arguments": {"ip": "10.8.0.1/24", "ifname": "v0"}, "tag": "a"},
            {"execute": "route-add", "arguments": {"ifname": "v0", "dst": "10.88.0.0/16",
                                                   "gateway": "10.8.0.254"}, "tag": "r"},
            {"execute": "ipaddr-del", "arguments": {"ip": "10.8.0.1/24", "ifname": "v0"}, "tag": "d"}]
    nethost.send_raw("".join(json.dumps(m) + "\n" for m in msgs).encode())
    replies = {r["tag"]: r for r in (nethost.read_reply() for _ in msgs)}
    assert all(replies[t].get("return") is True for t in "ard"), replies


def test_route_del_without_scope_matches_any_scope(netns, nethost):
    up_with_addresses(netns)
    nethost.ok("route-add", {"ifname": "v0", "dst": "10.90.0.0/16"})  # scope 0 (universe), no gateway
    assert kernel_routes(netns) and "10.90.0.0/16" in {r["dst"] for r in kernel_routes(netns)}
    assert nethost.ok("route-del", {"ifname": "v0", "dst": "10.90.0.0/16"}) is True
    assert "10.90.0.0/16" not in {r["dst"] for r in kernel_routes(netns)}
    nethost.ok("route-add", {"ifname": "v0", "dst": "10.91.0.0/16", "scope": 253})
    code, _ = nethost.err("route-del", {"ifname": "v0", "dst": "10.91.0.0/16", "scope": 0})
    assert code == ESRCH  # an explicit scope must match
    assert nethost.ok("route-del", {"ifname": "v0", "dst": "10.91.0.0/16", "scope": 253}) is True
