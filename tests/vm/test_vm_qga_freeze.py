"""qemu-ga's freeze commands in a real guest (the only place filesystems may be frozen):
guest-fsfreeze-status/-freeze/-freeze-list/-thaw over the same freeze state as Phoenix's
fs-freeze family, on the guest's real ext4 data disk (/dev/vda on /data). A freeze through one
dialect is seen and thawed through the other; a writer on the frozen disk stalls until the
thaw; the auto-thaw, the hook and the marker apply to the qemu-ga face as they do to Phoenix's.
The counts are qemu-ga's: filesystems frozen, a bind mount once."""
import time

import pytest

# The guest runs the agent with --freeze-timeout 8 and --fsfreeze-hook /bin/freeze-hook
# (guest-init.sh); checks made while frozen finish well within that.
FREEZE_TIMEOUT = 8
FROZEN_TEXT = "Command %s has been disabled: the agent is in frozen state"


def must(guest, command, timeout=60):
    code, out = guest.sh(command, timeout=timeout)
    assert code == 0, "%s: %s" % (command, out)
    return out


def wait_until(guest, command, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if guest.sh(command, timeout=10)[0] == 0:
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def h(guest):
    """A host connection that has had a reply (see test_vm_freeze_dm.synced_host), with the
    agent running and thawed; thawed again and closed afterwards."""
    if guest.sh("pidof phoenix-ga")[0] != 0:
        must(guest, "rm -f /run/stop-agent; setsid /init --agent-loop </dev/null >/dev/null 2>&1 &")
    host = guest.wait_for_agent()
    for _ in range(5):
        try:
            host.qga_ok("guest-ping", timeout=3)
            break
        except TimeoutError:
            continue
    must(guest, "rm -f /run/hook.log /run/during.done /data/during")
    yield host
    try:
        if host.qga_ok("guest-fsfreeze-status") == "frozen":
            host.qga_ok("guest-fsfreeze-thaw", timeout=30)
    finally:
        host.close()


def start_blocked_write(guest):
    """A write to /data from a child process; /run/during.done (tmpfs) says it got through."""
    must(guest, "(echo written > /data/during && sync /data/during && touch /run/during.done) "
                "</dev/null >/dev/null 2>&1 &")


def write_blocked(guest):
    time.sleep(1.5)
    return guest.sh("test -e /run/during.done")[0] != 0


def write_released(guest):
    return wait_until(guest, "test -e /run/during.done", 20) and must(guest, "cat /data/during") == "written"


def test_qga_freeze_phoenix_thaw(guest, h):
    t0 = time.monotonic()
    assert h.qga_ok("guest-fsfreeze-status") == "thawed"
    assert h.qga_ok("guest-fsfreeze-freeze", timeout=60) == 1  # /data: the one block filesystem
    try:
        assert h.qga_ok("guest-fsfreeze-status") == "frozen"
        assert h.ok("get-freeze-status") is True
        assert must(guest, "cat /run/phoenix-ga/frozen") == "/data"
        start_blocked_write(guest)
        assert write_blocked(guest), "a write to /data went through while frozen"
        # refused in both dialects, qemu-ga's in its own words and class
        assert h.qga_err("guest-fsfreeze-freeze") == ("CommandNotFound", FROZEN_TEXT % "guest-fsfreeze-freeze")
        assert h.qga_err("guest-fsfreeze-freeze-list", {"mountpoints": ["/data"]}) == \
            ("CommandNotFound", FROZEN_TEXT % "guest-fsfreeze-freeze-list")
        assert "frozen" in h.err("fs-freeze")[1]
        assert h.qga("guest-ping") == {"return": {}, "id": "vm%d" % h.seq}
        assert time.monotonic() - t0 < FREEZE_TIMEOUT - 1, "too slow to check before the auto-thaw"
        assert h.qga_ok("guest-fsfreeze-status") == "frozen"
    finally:
        assert h.ok("fs-unfreeze", timeout=30) is True
    assert h.qga_ok("guest-fsfreeze-status") == "thawed"
    assert write_released(guest)
    assert guest.sh("test -e /run/phoenix-ga/frozen")[0] != 0
    assert wait_until(guest, "[ \"$(cat /run/hook.log | tr '\\n' ' ')\" = 'freeze thaw ' ]", 10)


def test_phoenix_freeze_qga_thaw(guest, h):
    assert h.ok("fs-freeze", timeout=60) is True
    try:
        assert h.qga_ok("guest-fsfreeze-status") == "frozen"
        start_blocked_write(guest)
        assert write_blocked(guest)
    finally:
        assert h.qga_ok("guest-fsfreeze-thaw", timeout=30) == 1
    assert h.ok("get-freeze-status") is False
    assert write_released(guest)
    # nothing frozen: 0, as qemu-ga
    assert h.qga_ok("guest-fsfreeze-thaw") == 0


def test_freeze_list_and_bind_mounts(guest, h):
    must(guest, "mkdir -p /data/sub /mnt/qbind && mount --bind /data/sub /mnt/qbind")
    try:
        # a bind mount of /data named alone freezes /data's filesystem through it
        assert h.qga_ok("guest-fsfreeze-freeze-list", {"mountpoints": ["/nope", "/mnt/qbind"]},
                        timeout=60) == 1
        try:
            assert h.qga_ok("guest-fsfreeze-status") == "frozen"
            assert must(guest, "cat /run/phoenix-ga/frozen") == "/mnt/qbind"
            start_blocked_write(guest)
            assert write_blocked(guest)
        finally:
            assert h.qga_ok("guest-fsfreeze-thaw", timeout=30) == 1
        assert write_released(guest)
        # unknown mountpoints are ignored; nothing frozen leaves the agent thawed (as qemu-ga)
        # and the hook, told "freeze", is told "thaw" too (qemu-ga forgets that)
        must(guest, "rm -f /run/hook.log")
        assert h.qga_ok("guest-fsfreeze-freeze-list", {"mountpoints": ["/nope", "/data/"]}) == 0
        assert h.qga_ok("guest-fsfreeze-status") == "thawed"
        assert h.ok("get-freeze-status") is False
        assert wait_until(guest, "[ \"$(cat /run/hook.log | tr '\\n' ' ')\" = 'freeze thaw ' ]", 10)
        # every filesystem, a bind mount counted once (the kernel says EBUSY to its second FIFREEZE)
        assert h.qga_ok("guest-fsfreeze-freeze-list", timeout=60) == 1
        assert h.qga_ok("guest-fsfreeze-thaw", timeout=30) == 1
        assert h.qga_ok("guest-fsfreeze-freeze-list", {"mountpoints": ["/data", "/mnt/qbind"]}, timeout=60) == 1
        assert h.qga_ok("guest-fsfreeze-thaw", timeout=30) == 1
    finally:
        must(guest, "umount /mnt/qbind")


def test_auto_thaw_applies_to_a_qga_freeze(guest, h):
    assert h.qga_ok("guest-fsfreeze-freeze", timeout=60) == 1
    t0 = time.monotonic()
    start_blocked_write(guest)
    while h.qga_ok("guest-fsfreeze-status") == "frozen":
        assert time.monotonic() - t0 < FREEZE_TIMEOUT + 10, "auto-thaw did not fire"
        time.sleep(0.5)
    assert time.monotonic() - t0 >= FREEZE_TIMEOUT - 1
    assert write_released(guest)
    assert h.qga_ok("guest-fsfreeze-thaw") == 0
