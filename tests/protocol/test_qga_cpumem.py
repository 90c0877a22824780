"""vCPUs and memory blocks in qemu-ga's dialect, against Debian's qemu-ga 7.2 on this machine:
the get-commands read the same sysfs (exact values), the set-commands only with requests that
cannot change anything (argument errors, vCPUs and blocks that do not exist). Changing vCPUs
and memory is tested in a guest (tests/vm/test_vm_qga_cpumem.py), never on this machine.
Also: the uevent watcher that brings hot-added units online exists unless switched off, and
costs nothing while idle."""
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import AGENT, TIMEOUT, Agent
from qgalib import shape

NETLINK_KOBJECT_UEVENT = 15


def req(execute, arguments=None):
    msg = {"execute": execute}
    if arguments is not None:
        msg["arguments"] = arguments
    return json.dumps(msg).encode()


def ask(path, line):
    """One request with an `id` added, on a connection of its own; its reply without the id.
    (qgalib's both() closes with a guest-sync, whose reply comes first here: these commands
    run in a worker, and replies are matched by id, not by order.)"""
    line = line[:-1] + b',"id":"cm"}'
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    try:
        s.sendall(line)
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, "connection closed"
            buf += chunk
        reply = json.loads(buf.split(b"\n", 1)[0])
        assert reply.pop("id") == "cm", reply
        return reply
    finally:
        s.close()


def both(agent, qga, line):
    return ask(agent.sock_path, line), ask(qga.sock_path, line)


def test_get_vcpus_as_qemu_ga(agent, qga):
    ours, theirs = both(agent, qga, req("guest-get-vcpus"))
    ours, theirs = ours["return"], theirs["return"]
    # qemu-ga lists them in sysfs's directory order; we sort by id (see doc/protocol.md)
    assert [v["logical-id"] for v in ours] == sorted(v["logical-id"] for v in ours)
    assert ours == sorted(theirs, key=lambda v: v["logical-id"])
    cpus = sorted(int(n[3:]) for n in os.listdir("/sys/devices/system/cpu") if n[3:].isdigit() and n[:3] == "cpu")
    assert [v["logical-id"] for v in ours] == cpus
    for v in ours:
        # libvirt refuses an element without any of the three
        assert set(v) == {"logical-id", "online", "can-offline"}
        online = "/sys/devices/system/cpu/cpu%d/online" % v["logical-id"]
        assert v["can-offline"] is os.path.exists(online)
        if os.path.exists(online):
            assert v["online"] is (open(online).read().strip() != "0")


def test_get_memory_block_info_as_qemu_ga(agent, qga):
    ours, theirs = both(agent, qga, req("guest-get-memory-block-info"))
    assert ours == theirs
    size = int(open("/sys/devices/system/memory/block_size_bytes").read(), 16)
    assert ours["return"] == {"size": size}


def test_get_memory_blocks_as_qemu_ga(agent, qga):
    ours, theirs = both(agent, qga, req("guest-get-memory-blocks"))
    assert shape(ours) == shape(theirs)
    ours, theirs = ours["return"], theirs["return"]
    assert [b["phys-index"] for b in ours] == sorted(b["phys-index"] for b in theirs)
    for b in ours:
        assert set(b) == {"phys-index", "online", "can-offline"}
        state = open("/sys/devices/system/memory/memory%d/state" % b["phys-index"]).read()
        assert b["online"] is state.startswith("online")


# Requests that change nothing, answered word for word as qemu-ga answers them.
SAME_AS_QEMU_GA = [
    req("guest-get-vcpus", {"x": 1}),
    req("guest-get-memory-blocks", {"x": 1}),
    req("guest-get-memory-block-info", {"x": 1}),
    req("guest-set-vcpus"),
    req("guest-set-vcpus", {}),
    req("guest-set-vcpus", {"vcpus": []}),
    req("guest-set-vcpus", {"vcpus": 1}),
    req("guest-set-vcpus", {"vcpus": None}),
    req("guest-set-vcpus", {"vcpus": [1]}),
    req("guest-set-vcpus", {"vcpus": [None]}),
    req("guest-set-vcpus", {"vcpus": [{}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 0}]}),
    req("guest-set-vcpus", {"vcpus": [{"online": True}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": "a", "online": True}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 0, "online": 1}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 0, "online": None}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 0, "online": True, "x": 1}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 9999, "online": True, "can-offline": 1}]}),
    b'{"execute":"guest-set-vcpus","arguments":{"vcpus":[{"logical-id":1e3,"online":true}]}}',
    b'{"execute":"guest-set-vcpus","arguments":{"vcpus":[{"logical-id":1.0,"online":true}]}}',
    b'{"execute":"guest-set-vcpus","arguments":{"vcpus":[{"logical-id":18446744073709551615,"online":true}]}}',
    # every element is checked before the first one runs
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 9999, "online": True}, {"logical-id": "x", "online": True}]}),
    # vCPUs that do not exist: qemu-ga's open() error, from the first element only
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 9999, "online": True}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": -1, "online": True}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 9998, "online": False}, {"logical-id": 9999, "online": True}]}),
    req("guest-set-vcpus", {"vcpus": [{"logical-id": 9999, "online": True, "can-offline": True}]}),
    req("guest-set-memory-blocks"),
    req("guest-set-memory-blocks", {"mem-blks": []}),
    req("guest-set-memory-blocks", {"mem-blks": {}}),
    req("guest-set-memory-blocks", {"mem-blks": ["a"]}),
    req("guest-set-memory-blocks", {"mem-blks": [{}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": 1}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": None, "online": True}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": True, "online": True}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": "1", "online": True}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": 1.5, "online": True}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": 1, "online": "yes"}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": 1, "online": True, "can-offline": "x"}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": 1, "online": True, "y": True}]}),
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": 999999, "online": True},
                                                 {"phys-index": "x", "online": True}]}),
    # blocks that do not exist: one response each, the run goes on
    req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": 999999, "online": False},
                                                 {"phys-index": 999998, "online": True, "can-offline": False}]}),
]


@pytest.mark.parametrize("request_line", SAME_AS_QEMU_GA, ids=lambda r: r.decode()[12:90])
def test_requests_that_change_nothing_answered_as_qemu_ga(agent, qga, request_line):
    ours, theirs = both(agent, qga, request_line)
    assert ours == theirs


def test_a_negative_phys_index_is_refused(agent, qga):
    """Deliberately different: qemu-ga reads -1 as 2^64 - 1 and reports that block not found."""
    line = req("guest-set-memory-blocks", {"mem-blks": [{"phys-index": -1, "online": True}]})
    ours, theirs = both(agent, qga, line)
    assert ours["error"] == {"class": "GenericError", "desc": "Parameter 'mem-blks[0].phys-index' expects uint64"}
    assert theirs["return"] == [{"response": "not-found", "error-code": 2, "phys-index": 2 ** 64 - 1}]


def uevent_sockets(pid):
    """The NETLINK_KOBJECT_UEVENT sockets process `pid` holds."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/%d/net/netlink" % pid) as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return [r for r in rows if int(r[1]) == NETLINK_KOBJECT_UEVENT and r[-1] in inodes]


def wakeups(pid):
    """Context switches of every thread of `pid` so far."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    return total


def test_the_uevent_watcher_is_on_by_default_and_idle(agent):
    c = agent.connect()
    c.ok("ping")
    socks = uevent_sockets(agent.proc.pid)
    assert len(socks) == 1, socks
    assert int(socks[0][3], 16) & 1  # the kernel's group, not udev's
    # No timer, no polling: an idle agent does not run at all (a socket filter keeps this
    # machine's other device events, loop devices of other tests say, from waking it). The
    # first second after start is its own (worker threads settling).
    time.sleep(1)
    before = wakeups(agent.proc.pid)
    time.sleep(3)
    assert wakeups(agent.proc.pid) == before


def test_no_online_hotplug_option_and_key(tmp_path):
    (tmp_path / "opt").mkdir()
    a = Agent(tmp_path / "opt", args=("--no-online-hotplug",))
    try:
        a.connect().ok("ping")
        assert uevent_sockets(a.proc.pid) == []
    finally:
        a.stop()
    conf = tmp_path / "off.conf"
    conf.write_text("[general]\nonline-hotplug = false\n")
    conf.chmod(0o644)
    (tmp_path / "key").mkdir()
    a = Agent(tmp_path / "key", args=("--config", str(conf)))
    try:
        a.connect().ok("ping")
        assert uevent_sockets(a.proc.pid) == []
    finally:
        a.stop()
    conf.write_text("[general]\nonline-hotplug = maybe\n")
    r = subprocess.run([AGENT, "--config", str(conf), "-m", "unix-listen", "-p", str(tmp_path / "x.sock")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "%s:2: online-hotplug: 'maybe' is not a boolean (true or false)" % conf in r.stderr, r.stderr
