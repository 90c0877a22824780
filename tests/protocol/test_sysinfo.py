"""sysinfo against what the kernel says; users from a real utmp in a private mount namespace."""
import os
import shutil
import struct
import subprocess
import time

import pytest

from conftest import Agent


def meminfo():
    out = {}
    for line in open("/proc/meminfo"):
        k, v = line.split(":")
        out[k] = int(v.split()[0])
    return out


def test_sysinfo_matches_the_kernel(host):
    r = host.ok("sysinfo")
    u = os.uname()
    assert r["uname"] == {"sysname": u.sysname, "nodename": u.nodename, "release": u.release,
                          "version": u.version, "machine": u.machine,
                          "domain": open("/proc/sys/kernel/domainname").read().strip()}
    assert r["long_bit"] == 64
    up = float(open("/proc/uptime").read().split()[0])
    assert abs(r["uptime"] - up) <= 2
    assert set(r["loadavg"]) == {"1m", "5m", "15m"}
    assert all(isinstance(v, (int, float)) and v >= 0 for v in r["loadavg"].values())
    m = meminfo()
    assert r["ram"]["total"] == m["MemTotal"]
    assert set(r["ram"]) == {"total", "free", "buffer", "available", "cached"}
    assert 0 < r["ram"]["free"] <= m["MemTotal"]
    assert r["swap"] == {"total": m["SwapTotal"], "free": m["SwapFree"]} or m["SwapTotal"] > 0
    assert isinstance(r["users"], list)


def test_disks_are_physical_block_devices(host):
    disks = host.ok("sysinfo")["disks"]
    expected = sorted("/dev/" + d for d in os.listdir("/sys/block")
                      if os.path.exists("/sys/block/%s/device" % d))
    assert [d["name"] for d in disks] == expected
    for d in disks:
        assert set(d) == {"name", "is_mounted", "mountpoint", "size_total", "size_used", "size_avail"}
        if d["is_mounted"]:
            sv = os.statvfs(d["mountpoint"])
            assert d["size_total"] == sv.f_blocks * sv.f_frsize // 1024
            assert 0 <= d["size_avail"] <= d["size_total"]
        else:
            assert d["mountpoint"] == "" and d["size_total"] == 0


UTMP_FMT = "hi32s4s32s256shhiii4i20x"  # struct utmp on x86-64 (384 bytes)
USER_PROCESS, DEAD_PROCESS = 7, 8


def utmp_record(kind, user, line, host, when):
    return struct.pack(UTMP_FMT, kind, 4242, line.encode(), b"ts/0", user.encode(), host.encode(),
                       0, 0, 0, when, 0, 0, 0, 0, 0)


@pytest.fixture
def private_run(tmp_path):
    """Runs the agent in a private mount namespace whose /run is an empty tmpfs."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is required")

    def start(utmp_bytes):
        setup = tmp_path / "setup.sh"
        staged = tmp_path / "utmp.staged"
        if utmp_bytes is not None:
            staged.write_bytes(utmp_bytes)
        setup.write_text("mount -t tmpfs none /run\n" +
                         ("cp %s /run/utmp\n" % staged if utmp_bytes is not None else "") +
                         'exec "$@"\n')
        return Agent(tmp_path, wrap=["unshare", "-m", "--propagation", "private", "sh", str(setup)])
    return start


def test_users_empty_without_utmp(private_run):
    a = private_run(None)
    try:
        assert a.connect().ok("sysinfo")["users"] == []
    finally:
        a.stop()


def test_users_from_utmp(private_run):
    assert struct.calcsize(UTMP_FMT) == 384
    now = int(time.time())
    data = (utmp_record(USER_PROCESS, "alice", "pts/3", "10.0.0.9", now - 100) +
            utmp_record(DEAD_PROCESS, "gone", "pts/4", "", now) +
            utmp_record(USER_PROCESS, "bob", "tty1", "", now - 5))
    a = private_run(data)
    try:
        users = a.connect().ok("sysinfo")["users"]
    finally:
        a.stop()
    assert users == [
        {"name": "alice", "device": "pts/3", "host": "10.0.0.9", "login_time": now - 100},
        {"name": "bob", "device": "tty1", "host": "", "login_time": now - 5},
    ]
