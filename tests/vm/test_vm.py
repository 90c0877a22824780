"""End to end in a real guest: the agent on a real virtio-serial port behind QEMU's chardev.
The only place where filesystems are frozen. Tests run in order on one boot."""
import base64
import hashlib
import os
import re
import subprocess
import time

import pytest

from conftest import AGENT

# The guest runs the agent with --freeze-timeout 8 and --fsfreeze-hook /bin/freeze-hook.
FREEZE_TIMEOUT = 8


def agent_pid(guest):
    code, out = guest.sh("pidof phoenix-ga")
    assert code == 0, out
    return int(out.split()[0])


def frozen_marker(guest):
    return guest.sh("test -e /run/phoenix-ga/frozen")[0] == 0


def test_ping_and_get_commands(guest):
    h = guest.host()
    assert h.ok("ping") == "0.1.0"
    names = h.ok("get-commands")
    assert {"fs-freeze", "fs-unfreeze", "get-freeze-status", "file-open", "sysinfo"} <= set(names)
    assert h.ok("get-freeze-status") is False
    h.close()


def test_udev_rule_wants_the_service_for_the_agent_port_only(guest):
    """The packaged udev rule (data/60-phoenix-ga.rules) on the guest's real devices: the
    org.guest-agent.0 port gets the systemd tag and wants phoenix-ga.service; the data disk
    does not."""
    status, out = guest.sh(
        "for p in /sys/class/virtio-ports/*; do "
        "[ \"$(cat $p/name)\" = org.guest-agent.0 ] && udevadm test --action=add $p 2>&1; done",
        timeout=60)
    assert "SYSTEMD_WANTS=phoenix-ga.service" in out, out
    assert re.search(r"^\|?TAGS=.*:systemd:", out, re.M), out
    status, out = guest.sh("udevadm test --action=add /sys/class/block/vda 2>&1", timeout=60)
    assert "DEVNAME=/dev/vda" in out, out
    assert "phoenix-ga.service" not in out, out


def test_sysinfo_lists_the_data_disk_mounted(guest):
    h = guest.host()
    disks = {d["name"]: d for d in h.ok("sysinfo")["disks"]}
    assert disks["/dev/vda"]["is_mounted"] is True
    assert disks["/dev/vda"]["mountpoint"] == "/data"
    assert 50000 < disks["/dev/vda"]["size_total"] < 70000  # a 64 MiB disk, in KiB
    h.close()


def test_4mib_file_round_trip(guest):
    h = guest.host()
    data = os.urandom(4 * 1024 * 1024)
    fd = h.ok("file-open", {"path": "/data/blob", "mode": "w"})
    for off in range(0, len(data), 1 << 20):
        h.ok("file-write", {"handle_id": fd, "bufb64": base64.b64encode(data[off:off + (1 << 20)]).decode()})
    h.ok("file-close", {"handle_id": fd})
    assert h.ok("get-file-md5sum", {"path": "/data/blob"}) == hashlib.md5(data).hexdigest()
    fd = h.ok("file-open", {"path": "/data/blob"})
    back = b""
    while True:
        r = h.ok("file-read", {"handle_id": fd, "count": 3 * 1024 * 1024})
        back += base64.b64decode(r["bufb64"])
        if r["eof"]:
            break
    assert back == data
    assert guest.sh("md5sum /data/blob")[1].split()[0] == hashlib.md5(data).hexdigest()
    h.close()


def start_writer(guest):
    guest.sh("rm -f /data/ts; (while :; do cut -d' ' -f1 /proc/uptime >> /data/ts; sleep 0.1; done) "
             "</dev/null >/dev/null 2>&1 & echo $! > /run/writer.pid")


def stop_writer(guest):
    guest.sh("kill $(cat /run/writer.pid)")


def longest_gap(guest):
    code, out = guest.sh("cat /data/ts")
    stamps = [float(x) for x in out.split()]
    assert len(stamps) > 10, out
    return max(b - a for a, b in zip(stamps, stamps[1:]))


def test_freeze_stalls_a_writer_and_thaw_releases_it(guest):
    guest.sh("rm -f /run/hook.log")
    start_writer(guest)
    time.sleep(1)
    h = guest.host()
    assert h.ok("fs-freeze") is True
    assert h.ok("get-freeze-status") is True
    assert frozen_marker(guest)
    # only the allowed commands run while frozen
    assert h.ok("ping") == "0.1.0"
    code, msg = h.err("file-open", {"path": "/data/x", "mode": "w"})
    assert "not allowed while the guest filesystems are frozen" in msg
    assert "frozen" in h.err("fs-freeze")[1]
    time.sleep(3)
    assert h.ok("fs-unfreeze") is True
    assert h.ok("get-freeze-status") is False
    assert not frozen_marker(guest)
    time.sleep(1)
    stop_writer(guest)
    gap = longest_gap(guest)
    assert 2.5 < gap < FREEZE_TIMEOUT, "writer gap %.2fs" % gap
    assert guest.sh("cat /run/hook.log")[1].split() == ["freeze", "thaw"]
    h.close()


def test_auto_thaw_fires(guest):
    start_writer(guest)
    h = guest.host()
    assert h.ok("fs-freeze") is True
    t0 = time.monotonic()
    while h.ok("get-freeze-status") is True:
        assert time.monotonic() - t0 < FREEZE_TIMEOUT + 10, "auto-thaw did not fire"
        time.sleep(0.5)
    waited = time.monotonic() - t0
    assert FREEZE_TIMEOUT - 1 <= waited
    time.sleep(1)
    stop_writer(guest)
    assert FREEZE_TIMEOUT - 1 < longest_gap(guest) < FREEZE_TIMEOUT + 5
    # what it logged while frozen was held, then written after the thaw
    assert "thawing the filesystems" in guest.sh("cat /run/agent.log")[1]
    h.close()


def test_client_freeze_status_and_thaw_subcommands(guest):
    """phoenix-ga-client's freeze, freeze-status and thaw, from the host through the QEMU
    chardev socket: the only place where `freeze` may really freeze (tests/protocol never
    runs it on the test machine)."""
    client = os.path.join(os.path.dirname(AGENT), "phoenix-ga-client")

    def cli(*args):
        out = subprocess.run([client, "-s", guest.ga_path, "--timeout", "20", *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert cli("freeze-status") == "thawed"
    assert cli("freeze") == "true"
    assert cli("freeze-status") == "frozen"
    assert frozen_marker(guest)
    assert cli("thaw") == "true"
    assert cli("freeze-status") == "thawed"
    assert not frozen_marker(guest)
    assert guest.sh("touch /data/after-client-thaw", timeout=5)[0] == 0


def test_failing_freeze_hook_aborts_the_freeze(guest):
    guest.sh("rm -f /run/hook.log; touch /run/hook-fail")
    h = guest.host()
    code, msg = h.err("fs-freeze")
    assert "fsfreeze hook" in msg and "exit status 3" in msg
    assert h.ok("get-freeze-status") is False
    assert guest.sh("touch /data/after-hook")[0] == 0  # not frozen
    guest.sh("rm -f /run/hook-fail")
    h.close()


def test_restart_after_a_crash_while_frozen_can_thaw(guest):
    h = guest.host()
    assert h.ok("fs-freeze") is True
    old = agent_pid(guest)
    guest.sh("kill -9 %d" % old)
    h.close()
    h = guest.wait_for_agent()
    assert agent_pid(guest) != old
    assert h.ok("get-freeze-status") is True  # from the marker
    assert h.ok("fs-unfreeze") is True
    assert h.ok("get-freeze-status") is False
    assert guest.sh("touch /data/after-crash", timeout=5)[0] == 0
    h.close()


def test_sigterm_while_frozen_thaws_first(guest):
    h = guest.host()
    assert h.ok("fs-freeze") is True
    guest.sh("kill -TERM %d" % agent_pid(guest))
    h.close()
    h = guest.wait_for_agent()
    assert h.ok("get-freeze-status") is False
    assert not frozen_marker(guest)
    assert guest.sh("touch /data/after-term", timeout=5)[0] == 0
    assert guest.sh("tail -n 1 /run/agent-exits")[1] == "0"
    h.close()


def test_agent_shutdown_while_frozen_thaws_first(guest):
    h = guest.host()
    assert h.ok("fs-freeze") is True
    assert h.ok("agent-shutdown") is True
    h.close()
    h = guest.wait_for_agent()
    assert h.ok("get-freeze-status") is False
    assert guest.sh("touch /data/after-shutdown", timeout=5)[0] == 0
    h.close()


def read_replies(h, n, timeout=30, until=None):
    """The next n replies on h, by tag (requests sent raw); or fewer, once `until` came."""
    deadline = time.monotonic() + timeout
    replies = {}
    while len(replies) < n and until not in replies:
        reply = h.read_reply(deadline, "%d of %d replies" % (len(replies), n))
        replies[reply["tag"]] = reply
    return replies


def test_two_freezes_in_one_write_leave_nothing_frozen(guest):
    """A host's retried fs-freeze sent before the first was answered: the retry is refused
    and fs-unfreeze thaws the disk. (It used to empty the list of frozen mounts: fs-unfreeze
    answered true, status said thawed, and the disk never took another write.)"""
    h = guest.host()
    h.sock.sendall(b'{"execute":"fs-freeze","tag":"f1"}\n{"execute":"fs-freeze","tag":"f2"}\n')
    r = read_replies(h, 2)
    assert "return" in r["f1"] and "error" in r["f2"], r
    assert h.ok("get-freeze-status") is True
    assert h.ok("fs-unfreeze") is True
    assert h.ok("get-freeze-status") is False
    assert not frozen_marker(guest)
    assert guest.sh("touch /data/after-two-freezes", timeout=5)[0] == 0
    h.close()


def test_freeze_and_shutdown_in_one_write_thaw_before_exit(guest):
    """fs-freeze and agent-shutdown in one write: the agent waits for the freeze, thaws, then
    exits. (It used to answer the shutdown and exit while the worker went on to freeze: the
    disk never accepted another write.)"""
    h = guest.host()
    h.sock.sendall(b'{"execute":"fs-freeze","tag":"f"}\n{"execute":"agent-shutdown","tag":"x"}\n')
    r = read_replies(h, 2, until="x")
    assert "return" in r["x"], r
    h.close()
    h = guest.wait_for_agent()
    assert h.ok("get-freeze-status") is False
    assert not frozen_marker(guest)
    assert guest.sh("touch /data/after-freeze-and-shutdown", timeout=5)[0] == 0
    h.close()


def agent_cpu_ticks(h):
    fd = h.ok("file-open", {"path": "/proc/self/stat"})
    stat = base64.b64decode(h.ok("file-read", {"handle_id": fd, "count": 4096})["bufb64"]).decode()
    fields = stat.rsplit(")", 1)[1].split()
    h.request("file-close", {"handle_id": fd})  # already closed if the read hit end of file
    return int(fields[11]) + int(fields[12])


def test_reconnects_and_no_cpu_while_no_host(guest):
    for i in range(5):
        h = guest.host()
        assert h.ok("ping") == "0.1.0"
        h.close()
    h = guest.host()
    before = agent_cpu_ticks(h)
    h.close()
    time.sleep(10)  # no host attached: the port reports HUP; the agent must sleep
    h = guest.wait_for_agent()
    after = agent_cpu_ticks(h)
    # A busy loop on HUP would burn ~1000 ticks here. The handful of commands around the
    # idle period cost a few ticks of guest CPU, more when TCG runs slowly on a busy host.
    assert after - before <= 20, "agent used %d ticks with no host" % (after - before)
    h.close()


def test_reply_for_a_departed_host_is_dropped(guest):
    h = guest.host()
    h.sock.sendall(b'{"execute":"sysinfo","tag":"old"}\n')
    h.close()
    # A host that arrives within a second of the last one's departure may still get its
    # reply (doc/freeze.md, "Known limits": virtio reports arrivals and departures apart
    # from the data); after that it must never.
    time.sleep(1.5)
    h = guest.host()
    assert h.ok("ping") == "0.1.0"
    assert b"old" not in h.buf
    h.close()


def test_agent_shutdown_exits_cleanly(guest):
    guest.sh("touch /run/stop-agent")
    h = guest.host()
    assert h.ok("agent-shutdown") is True
    h.close()
    for _ in range(50):
        if guest.sh("pidof phoenix-ga", timeout=5)[0] != 0:
            break
        time.sleep(0.1)
    assert guest.sh("pidof phoenix-ga")[0] != 0
    assert guest.sh("tail -n 1 /run/agent-exits")[1] == "0"
    # the tests after this one (and other files in the session) need an agent again
    guest.sh("rm /run/stop-agent; setsid /init --agent-loop </dev/null >/dev/null 2>&1 &")
    guest.wait_for_agent().close()


def test_qga_dialect_on_the_same_port(guest):
    """A qemu-ga request on the Phoenix port gets a qemu-ga reply, and a Phoenix one still a
    Phoenix reply, on one connection."""
    h = guest.wait_for_agent()
    try:
        assert h.qga_ok("guest-sync", {"id": 31}) == 31
        assert h.qga_ok("guest-ping") == {}
        assert h.ok("ping")
        assert h.qga_err("guest-no-such")[0] == "CommandNotFound"
    finally:
        h.close()
