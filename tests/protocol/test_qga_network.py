"""qemu-ga's network commands (guest-network-get-interfaces, guest-network-get-route) against
Debian's qemu-ga 7.2 and the kernel, with both agents started inside one private network
namespace per test: veth pairs, IPv4 and IPv6 addresses, labelled IPv4 aliases, a down
interface, one without addresses, a tun device (no link-layer address) and routes in several
tables. Nothing here touches the host's own network."""
import json
import os
import statistics
import subprocess
import time
import uuid

import pytest

from conftest import TIMEOUT, Agent, Client, require_root
from qgalib import QEMU_GA, QemuGa, both

STAT_MEMBERS = {"rx-bytes", "rx-packets", "rx-errs", "rx-dropped", "tx-bytes", "tx-packets", "tx-errs", "tx-dropped"}
# qemu-ga 9.1's GuestNetworkRoute members per version (commands-linux.c), and ours on top
V4_MEMBERS = {"iface", "destination", "metric", "gateway", "mask", "flags", "refcnt", "use", "mtu", "window", "irtt",
              "version"}
V6_MEMBERS = {"iface", "destination", "metric", "desprefixlen", "source", "srcprefixlen", "nexthop", "flags", "use",
              "mtu", "version"}
RTF_UP, RTF_GATEWAY, RTF_HOST, RTF_REJECT = 0x1, 0x2, 0x4, 0x200
U32_MAX = 4294967295


def ip(ns, *args):
    out = subprocess.run(["ip", "-n", ns, "-j", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def ip_batch(ns, lines):
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def in_ns(ns, *argv):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def netns():
    require_root("creates a network namespace")
    name = "phx-qn-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


# v0 (up): an address, two labelled aliases (one a secondary of the same subnet, one a primary
# of another), IPv6; v1 (up): only its link-local; v2 (down) with an address; v3 (down) with
# none; tun0: no link-layer address at all.
LAB = [
    "link set lo up",
    "link add v0 type veth peer name v1",
    "link add v2 type veth peer name v3",
    "addr add 10.1.1.2/24 dev v0",
    "addr add 10.1.1.1/24 dev v0 label v0:1",
    "addr add 10.9.9.9/16 dev v0 label v0:vip",
    "addr add fd00:1::1/64 dev v0 nodad",
    "link set v0 up",
    "link set v1 up",
    "addr add 10.2.2.2/24 dev v2",
    "tuntap add tun0 mode tun",
    "route add 10.77.0.0/16 via 10.1.1.254 mtu 1400 window 1000 rtt 100ms",
    "route add 10.78.0.0/16 via 10.1.1.254 metric 4294967295",
    "route add 10.79.0.1/32 dev v0",
    "route add unreachable 10.88.0.0/16",
    "route add default via 10.1.1.254 table 100",
    "route add default via 10.1.1.253",
    "route add 10.66.0.0/16 nexthop via 10.1.1.254 dev v0 nexthop via 10.1.1.253 dev v0",
    "route add fd00:99::/48 via fd00:1::fe",
    "route add fd00:98::/48 via fd00:1::fe metric 4294967295",
    "route add unreachable fd00:97::/48",
    "route add default via fd00:1::fe table 100",
    "route add fd00:66::/48 nexthop via fd00:1::fe dev v0 nexthop via fd00:1::fd dev v0",
]


@pytest.fixture
def lab(netns):
    ip_batch(netns, LAB)
    return netns


@pytest.fixture
def agents(lab, tmp_path):
    assert os.access(QEMU_GA, os.X_OK), "qemu-ga missing: scripts/deps.sh installs qemu-guest-agent"
    (tmp_path / "phx").mkdir()
    phx = Agent(tmp_path / "phx", wrap=["ip", "netns", "exec", lab])
    try:
        qga = QemuGa(tmp_path, wrap=["ip", "netns", "exec", lab])
    except BaseException:
        phx.stop()
        raise
    try:
        yield phx, qga
    finally:
        qga.stop()
        assert phx.stop() in (0, -15)


def call(agent, command, arguments=None):
    """One request on its own connection, and its one reply. Not qgalib.replies: these
    commands run in a worker thread, and the guest-sync it sends after them is answered
    inline, before them (qemu-ga answers in order; phoenix-ga's dispatcher does not hold an
    inline reply behind an earlier threaded one yet), so the mark would end the exchange
    before the reply came."""
    req = {"execute": command}
    if arguments is not None:
        req["arguments"] = arguments
    c = Client(agent.sock_path)
    try:
        c.send_raw(json.dumps(req).encode())
        return json.loads(c.read_line())
    finally:
        c.close()


def ok(agent, command):
    reply = call(agent, command)
    assert "return" in reply, reply
    return reply["return"]


def test_interfaces_match_qemu_ga(lab, agents):
    phx, qga = agents
    # qemu-ga before and after: every counter of ours lies between its two readings
    before = ok(qga, "guest-network-get-interfaces")
    ours = ok(phx, "guest-network-get-interfaces")
    after = ok(qga, "guest-network-get-interfaces")

    # the same entries in the same order: links in the kernel's order, then one per IPv4 label
    assert [i["name"] for i in ours] == [i["name"] for i in before] == [i["name"] for i in after]
    assert [i["name"] for i in ours] == ["lo", "v1", "v0", "v3", "v2", "tun0", "v0:vip", "v0:1"]
    for o, b, a in zip(ours, before, after):
        name = o["name"]
        assert o.get("ip-addresses") == b.get("ip-addresses"), name
        if name == "tun0":
            # deliberately different: no link-layer address is no member, not six zero bytes
            assert b["hardware-address"] == "00:00:00:00:00:00" and "hardware-address" not in o
        else:
            assert o["hardware-address"] == b["hardware-address"], name
        if "statistics" in b:
            assert set(o["statistics"]) == set(b["statistics"]) == STAT_MEMBERS
            for k, v in o["statistics"].items():
                assert isinstance(v, int) and b["statistics"][k] <= v <= a["statistics"][k], (name, k)
        elif ":" in name:
            assert "statistics" not in o  # a label's counters are its link's, counted once
        else:
            # extended: qemu-ga 7.2 reads counters only while it reads an address
            assert name in ("v3", "tun0") and set(o["statistics"]) == STAT_MEMBERS
    by = {i["name"]: i for i in ours}
    assert by["lo"]["hardware-address"] == "00:00:00:00:00:00"
    assert "ip-addresses" not in by["v3"]
    assert by["v0:1"]["hardware-address"] == by["v0:vip"]["hardware-address"] == by["v0"]["hardware-address"]
    assert list(by["v0"]) == ["name", "hardware-address", "ip-addresses", "statistics"]
    assert list(by["v0"]["ip-addresses"][0]) == ["ip-address", "ip-address-type", "prefix"]


def test_interfaces_against_the_kernel_and_libvirts_merge(lab, agents):
    phx, _ = agents
    ours = ok(phx, "guest-network-get-interfaces")
    links = ip(lab, "addr")
    # libvirt (qemuAgentGetInterfaces) folds `if:label` into `if`; what it then shows for each
    # link must be exactly what the kernel has on it
    merged = {}
    for entry in ours:
        base = entry["name"].split(":")[0]
        merged.setdefault(base, []).extend((a["ip-address"], a["prefix"], a["ip-address-type"])
                                           for a in entry.get("ip-addresses", []))
    assert set(merged) == {link["ifname"] for link in links}
    for link in links:
        want = [(a["local"], a["prefixlen"], "ipv4" if a["family"] == "inet" else "ipv6") for a in link["addr_info"]]
        assert sorted(merged[link["ifname"]]) == sorted(want), link["ifname"]
        entry = [e for e in ours if e["name"] == link["ifname"]][0]
        if link["ifname"] == "tun0":
            assert "address" not in link and "hardware-address" not in entry
        else:
            assert entry["hardware-address"] == link["address"]
    # the IPv6 text is inet_ntop's: no %zone on link-local addresses
    assert all("%" not in a["ip-address"] for e in ours for a in e.get("ip-addresses", []))
    # and the counters are the kernel's /proc/net/dev columns (lo sees no traffic here)
    dev = {}
    for line in in_ns(lab, "cat", "/proc/net/dev").splitlines()[2:]:
        name, cols = line.split(":", 1)
        dev[name.strip()] = [int(c) for c in cols.split()]
    lo = [e for e in ours if e["name"] == "lo"][0]["statistics"]
    c = dev["lo"]
    assert [lo["rx-bytes"], lo["rx-packets"], lo["rx-errs"], lo["rx-dropped"],
            lo["tx-bytes"], lo["tx-packets"], lo["tx-errs"], lo["tx-dropped"]] == c[0:4] + c[8:12]


def test_arguments_refused_as_qemu_ga_does(lab, agents):
    phx, qga = agents
    for command in ("guest-network-get-interfaces", "guest-network-get-route"):
        req = json.dumps({"execute": command, "arguments": {"all": True}}).encode()
        (mine,), (theirs,) = both(phx, qga, [req])
        assert mine["error"]["class"] == "GenericError"
        assert mine["error"]["desc"] == "Parameter 'all' is unexpected"
        if command == "guest-network-get-interfaces":
            assert theirs == mine


def proc_net_route(ns):
    """/proc/net/route, which qemu-ga 9.1 reads: the main table's IPv4 routes."""
    rows = []
    for line in in_ns(ns, "cat", "/proc/net/route").splitlines()[1:]:
        f = line.split()
        ipv4 = lambda h: ".".join(str(b) for b in int(h, 16).to_bytes(4, "little"))
        rows.append({"iface": f[0], "destination": ipv4(f[1]), "gateway": ipv4(f[2]), "flags": int(f[3], 16),
                     # printed with %d: qemu-ga 9.1 reads 4294967295 as -1; it is a u32
                     "refcnt": int(f[4]), "use": int(f[5]), "metric": int(f[6]) & 0xffffffff, "mask": ipv4(f[7]),
                     "window": int(f[9]), "irtt": int(f[10])})
    return rows


def kernel_routes(ns, family):
    """`ip route show table all` without the local table, as (dst, dev, gateway, metric, table)."""
    out = set()
    for r in ip(ns, family, "route", "show", "table", "all"):
        table = r.get("table", "main")
        if table == "local" or r.get("type") in ("multicast", "broadcast", "local", "anycast"):
            continue
        table = {"main": 254, "default": 253}.get(table, table)
        dst = r["dst"]
        if dst == "default":
            dst = "0.0.0.0/0" if family == "-4" else "::/0"
        elif "/" not in dst:
            dst += "/32" if family == "-4" else "/128"
        for hop in r.get("nexthops", [r]):  # a multipath route: one entry per next hop
            out.add((dst, hop.get("dev", "*"), hop.get("gateway", ""), r.get("metric", 0), int(table)))
    return out


def test_routes_against_the_kernel(lab, agents):
    phx, qga = agents
    mine, theirs = call(phx, "guest-network-get-route"), call(qga, "guest-network-get-route")
    # qemu-ga 7.2 predates the command (9.1)
    assert theirs["error"] == {"class": "CommandNotFound",
                               "desc": "The command guest-network-get-route has not been found"}
    routes = mine["return"]
    v4 = [r for r in routes if r["version"] == 4]
    v6 = [r for r in routes if r["version"] == 6]
    assert routes == v4 + v6, "IPv4 first, as qemu-ga"
    for r in v4:
        assert set(r) == V4_MEMBERS | {"table"}, r
    for r in v6:
        assert set(r) == V6_MEMBERS | {"table"} | ({"gateway"} if r["nexthop"] != "::" else set()), r
    for r in routes:
        assert all(isinstance(v, int) and v >= 0 for k, v in r.items() if k in ("metric", "flags", "mtu", "table"))

    def prefix4(mask):
        return sum(bin(int(o)).count("1") for o in mask.split("."))

    got4 = {("%s/%d" % (r["destination"], prefix4(r["mask"])), r["iface"],
             "" if r["gateway"] == "0.0.0.0" else r["gateway"], r["metric"], r["table"]) for r in v4}
    got6 = {("%s/%s" % (r["destination"], r["desprefixlen"]), r["iface"],
             "" if r["nexthop"] == "::" else r["nexthop"], r["metric"], r["table"]) for r in v6}
    assert got4 == kernel_routes(lab, "-4") and len(got4) == len(v4)
    assert got6 == kernel_routes(lab, "-6") and len(got6) == len(v6)
    # every IPv6 link's fe80::/64, not just one of them (libnl's route cache kept one)
    assert {r["iface"] for r in v6 if r["destination"] == "fe80::"} == {"v0", "v1"}
    # main table first within a family: a client taking the first default route gets main's
    assert [r["table"] for r in v4 if r["destination"] == "0.0.0.0"] == [254, 100]
    assert [r["table"] for r in v6 if r["destination"] == "::"] == [100]

    # IPv4 main table: what qemu-ga 9.1 reports from /proc/net/route, value for value (but mtu)
    # (/proc/net/route shows a multipath route once, with its first next hop)
    main4 = [{k: v for k, v in r.items() if k not in ("mtu", "version", "table")} for r in v4 if r["table"] == 254]
    assert [r for r in main4 if r["destination"] != "10.66.0.0"] == \
        [r for r in proc_net_route(lab) if r["destination"] != "10.66.0.0"]
    assert [r["gateway"] for r in main4 if r["destination"] == "10.66.0.0"] == ["10.1.1.254", "10.1.1.253"]
    assert [r["nexthop"] for r in v6 if r["destination"] == "fd00:66::"] == ["fd00:1::fe", "fd00:1::fd"]

    by = {(r["destination"], r["version"], r["table"]): r for r in routes}
    r = by[("10.77.0.0", 4, 254)]
    assert (r["gateway"], r["mask"], r["mtu"], r["window"], r["irtt"], r["flags"]) == \
        ("10.1.1.254", "255.255.0.0", 1400, 1000, 100, RTF_UP | RTF_GATEWAY)
    assert by[("10.79.0.1", 4, 254)]["flags"] == RTF_UP | RTF_HOST
    r = by[("10.88.0.0", 4, 254)]
    assert (r["iface"], r["flags"]) == ("*", RTF_UP | RTF_REJECT)
    # unsigned where qemu-ga 9.1 sign-extends (-1) in IPv6
    assert by[("10.78.0.0", 4, 254)]["metric"] == U32_MAX
    assert by[("fd00:98::", 6, 254)]["metric"] == U32_MAX
    r = by[("fd00:99::", 6, 254)]
    assert (r["nexthop"], r["gateway"], r["desprefixlen"], r["source"], r["srcprefixlen"], r["flags"]) == \
        ("fd00:1::fe", "fd00:1::fe", "48", "::", "0", RTF_UP | RTF_GATEWAY)
    assert by[("fd00:97::", 6, 254)]["flags"] & RTF_REJECT


def test_routes_without_ipv6(netns, tmp_path):
    """IPv6 switched off in the namespace: the IPv4 routes, no error (qemu-ga 9.1 fails the
    whole command when /proc/net/ipv6_route cannot be read)."""
    in_ns(netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    ip_batch(netns, ["link add v0 type veth peer name v1", "addr add 10.3.3.1/24 dev v0", "link set v0 up",
                     "link set v1 up", "route add default via 10.3.3.254"])
    phx = Agent(tmp_path, wrap=["ip", "netns", "exec", netns])
    try:
        routes = ok(phx, "guest-network-get-route")
    finally:
        assert phx.stop() in (0, -15)
    assert {(r["destination"], r["gateway"], r["version"]) for r in routes} == \
        {("10.3.3.0", "0.0.0.0", 4), ("0.0.0.0", "10.3.3.254", 4)}


# The bound (item 8): 200 interfaces answered in under 50 ms. How it is held, and why:
# - On this shared 2-CPU machine the same release binary answers in a median of 4 ms when it
#   is quiet and 8-66 ms at load average 10 (scripts/bench-qga-net.py, doc/performance.md):
#   under such load the wall time is mostly waiting for a CPU, and a wall-clock bound of 50 ms
#   fails about one run in six without the code being any slower. So the 50 ms is held on
#   what the agent itself spends: its CPU time per call (all threads, kernel time included:
#   the netlink dumps are half of it), averaged over 9 calls from /proc/PID/stat, which
#   waiting for a CPU does not inflate.
# - The wall time is held too, with 4x margin for the loaded machine (median of 9 calls under
#   200 ms): an answer that waits (a timeout, a lock, a request per interface) fails there.
# - CI also runs this file against the ASan+UBSan build, which is not the shipped binary:
#   every freed block sits in ASan's quarantine, so each call faults in and clears fresh
#   pages (perf: 29% in libasan, 10% clearing pages). That run checks memory safety; both
#   bounds are 3x there, which still fails a listing that grew quadratic.
BENCH_INTERFACES = 200
BENCH_CALLS = 9
BENCH_BOUND_MS = 50
WALL_MARGIN = 4
SANITIZED_FACTOR = 3


def sanitized(pid):
    """True when the agent process runs with AddressSanitizer's runtime mapped."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def cpu_seconds(pid):
    """utime + stime of every thread the process has had, dead ones included."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_200_interfaces_within_50ms(netns, tmp_path):
    lines = ["link set lo up"]
    for i in range(BENCH_INTERFACES // 2):
        lines += ["link add b%da type veth peer name b%db" % (i, i),
                  "addr add 10.%d.%d.1/30 dev b%da" % (100 + i // 250, i % 250, i),
                  "addr add 10.%d.%d.2/30 dev b%db" % (100 + i // 250, i % 250, i),
                  "link set b%da up" % i, "link set b%db up" % i]
    ip_batch(netns, lines)
    phx = Agent(tmp_path, wrap=["ip", "netns", "exec", netns])
    try:
        # `ip netns exec` execs the agent in its own process: this pid is the agent's
        pid = phx.proc.pid
        bound = BENCH_BOUND_MS * (SANITIZED_FACTOR if sanitized(pid) else 1)
        c = phx.connect()
        req = b'{"execute":"guest-network-get-interfaces"}\n'
        c.send_raw(req)
        first = json.loads(c.read_line())["return"]
        assert len(first) == BENCH_INTERFACES + 1  # and lo
        assert all(len(e["ip-addresses"]) >= 1 for e in first)
        times = []
        cpu0 = cpu_seconds(pid)
        for _ in range(BENCH_CALLS):
            t0 = time.perf_counter()
            c.send_raw(req)
            reply = json.loads(c.read_line(timeout=TIMEOUT))
            times.append((time.perf_counter() - t0) * 1000)
            assert len(reply["return"]) == BENCH_INTERFACES + 1
        cpu_ms = (cpu_seconds(pid) - cpu0) * 1000 / BENCH_CALLS
    finally:
        assert phx.stop() in (0, -15)
    what = "agent CPU %.1f ms per call; wall ms %s" % (cpu_ms, ["%.1f" % t for t in times])
    assert cpu_ms < bound, what
    assert statistics.median(times) < bound * WALL_MARGIN, what


ROUTES_MAX = 40000  # PHX_NET_ROUTES_MAX


def test_too_many_routes_fail_whole(netns, tmp_path):
    """Past PHX_NET_ROUTES_MAX a listing fails with EMSGSIZE in both dialects rather than
    hand back part of the table; at the bound it is whole. IPv6 is off in the namespace so
    that no link-local route comes and goes while we count."""
    in_ns(netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    ip_batch(netns, ["link add v0 type veth peer name v1", "link set v0 up"] +
             ["route add 10.%d.%d.0/24 dev v0" % (i // 256, i % 256) for i in range(ROUTES_MAX + 1)])
    phx = Agent(tmp_path, wrap=["ip", "netns", "exec", netns])
    try:
        host = phx.connect()  # both dialects on one connection (the agent serves one host)

        def qga_route():
            host.send_raw(b'{"execute":"guest-network-get-route"}')
            return json.loads(host.read_line())

        reply = qga_route()
        assert reply["error"]["class"] == "GenericError"
        assert reply["error"]["desc"].startswith("more than %d routes" % ROUTES_MAX), reply
        code, msg = host.err("get-route-list")
        assert code == 90 and "more than %d routes" % ROUTES_MAX in msg  # EMSGSIZE
        subprocess.run(["ip", "-n", netns, "route", "del", "10.0.0.0/24", "dev", "v0"], check=True)
        routes = qga_route()["return"]
        assert len(routes) == ROUTES_MAX and {r["version"] for r in routes} == {4}
        assert len(host.ok("get-route-list")) == ROUTES_MAX
    finally:
        assert phx.stop() in (0, -15)
