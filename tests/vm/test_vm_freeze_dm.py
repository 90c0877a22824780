"""fs-freeze on a stacked guest, as installers make them: ext4 on a device-mapper (dm-linear)
device over a loop device, and ext4 directly on another loop device, both loop devices backed
by files on the ext4 data disk (/data). The agent must freeze the stacked filesystems (LVM and
LUKS roots are dm devices) and must freeze them before /data: the other way round, their last
writeback would wait inside the loop driver on the frozen /data and FIFREEZE would never
return. Runs on the session's guest after tests/vm/test_vm.py (which may have stopped the
agent: it is started again here)."""
import time

import pytest

# The guest's agent runs with --freeze-timeout 8 (guest-init.sh): every check made while
# frozen must be done well within that, or the agent thaws by itself.
FREEZE_TIMEOUT = 8
STACK = [
    # (mountpoint, block device, backing file, size in MiB)
    ("/mnt/dm", "/dev/mapper/phxdm", "/data/dm.img", 12),
    ("/mnt/loop", "/dev/loop1", "/data/loop.img", 8),
]


def wait_until(guest, command, timeout):
    """Polls a guest shell command until it succeeds; False if it never did within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if guest.sh(command, timeout=10)[0] == 0:
            return True
        time.sleep(0.3)
    return False


def synced_host(guest, tries=5):
    """A host connection that has had a reply before its first real command, as libvirt
    does with guest-sync. The first reply on a fresh connection is sometimes lost (reported
    to the lead: phx-channel reads a request, then bumps the connection generation when an
    old unconfirmed arrival expires, and drops the reply; or a reply written on EAGAIN waits
    for an EPOLLOUT edge that already passed). Another ping on the same connection gets
    things moving, so the fs-freeze below is never that first request."""
    h = guest.host()
    for _ in range(tries):
        try:
            h.ok("ping", timeout=3)
            return h
        except TimeoutError:
            continue
    h.close()
    raise TimeoutError("no ping reply on a new connection after %d tries" % tries)


def must(guest, command, timeout=60):
    code, out = guest.sh(command, timeout=timeout)
    assert code == 0, "%s: %s" % (command, out)
    return out


@pytest.fixture(scope="module")
def stacked(guest):
    """The agent running, and the two stacked filesystems mounted; all undone afterwards."""
    if guest.sh("pidof phoenix-ga")[0] != 0:
        must(guest, "rm -f /run/stop-agent; setsid /init --agent-loop </dev/null >/dev/null 2>&1 &")
    guest.wait_for_agent().close()
    # A 12 MiB sparse file on /data, a loop device on it, a dm-linear device over the whole
    # loop device (24576 sectors), ext4 on that; and ext4 straight on a second loop device.
    must(guest, "dd if=/dev/zero of=/data/dm.img bs=1M count=0 seek=12 2>/dev/null && "
                "dd if=/dev/zero of=/data/loop.img bs=1M count=0 seek=8 2>/dev/null && "
                "losetup /dev/loop0 /data/dm.img && losetup /dev/loop1 /data/loop.img && "
                "dmsetup create phxdm --table '0 24576 linear /dev/loop0 0' && "
                "mkfs.ext4 -q -F /dev/mapper/phxdm && mkfs.ext4 -q -F /dev/loop1 && "
                "mkdir -p /mnt/dm /mnt/loop && "
                "mount -t ext4 /dev/mapper/phxdm /mnt/dm && mount -t ext4 /dev/loop1 /mnt/loop")
    # what the kernel says the stack is: dm-N over loop0, loop0 backed by /data/dm.img
    # (without udev, /dev/mapper/phxdm is a node of its own, not a link to /dev/dm-N)
    dm = must(guest, "for d in /sys/block/dm-*; do [ $(cat $d/dm/name) = phxdm ] && basename $d; done; true")
    assert must(guest, "ls /sys/block/%s/slaves" % dm) == "loop0"
    assert must(guest, "cat /sys/block/loop0/loop/backing_file") == "/data/dm.img"
    yield dm
    h = guest.wait_for_agent()
    try:
        if h.ok("get-freeze-status") is True:  # a failed test may have left it frozen
            h.ok("fs-unfreeze")
    finally:
        h.close()
    guest.sh("umount /mnt/dm; umount /mnt/loop; dmsetup remove phxdm; losetup -d /dev/loop0; "
             "losetup -d /dev/loop1; rm -f /data/dm.img /data/loop.img", timeout=60)


def test_dm_and_loop_filesystems_are_frozen_before_their_backing_filesystem(guest, stacked):
    # Dirty data in the page cache of the stacked filesystems: FIFREEZE has to write it back
    # through dm and loop into /data, which must not be frozen yet when it does.
    for mp, _, _, _ in STACK:
        must(guest, "dd if=/dev/urandom of=%s/dirty bs=64k count=32 2>/dev/null" % mp)
        must(guest, "rm -f /run/%s.done" % mp.rsplit("/", 1)[1])
    h = synced_host(guest)
    try:
        check_frozen_then_thawed(guest, h)
    finally:
        h.close()  # QEMU serves one client at a time: a socket left open would stall the next test


def check_frozen_then_thawed(guest, h):
    t0 = time.monotonic()
    assert h.ok("fs-freeze", timeout=60) is True
    try:
        assert h.ok("get-freeze-status") is True
        # The marker lists what was frozen, in freeze order.
        order = must(guest, "cat /run/phoenix-ga/frozen").split()
        for mp, _, _, _ in STACK:
            assert mp in order, order
            assert order.index(mp) < order.index("/data"), order
        # A write to each stacked filesystem, from a child process, must wait for the thaw;
        # /run (tmpfs) records when it got through.
        for mp, _, _, _ in STACK:
            name = mp.rsplit("/", 1)[1]
            must(guest, "(echo written > %s/during && echo done > /run/%s.done) "
                        "</dev/null >/dev/null 2>&1 &" % (mp, name))
        time.sleep(2)
        assert time.monotonic() - t0 < FREEZE_TIMEOUT - 1, "too slow to check before the auto-thaw"
        for mp, _, _, _ in STACK:
            name = mp.rsplit("/", 1)[1]
            assert guest.sh("test -e /run/%s.done" % name)[0] != 0, "%s was written while frozen" % mp
        assert h.ok("get-freeze-status") is True  # still frozen: the check above was not after an auto-thaw
    finally:
        assert h.ok("fs-unfreeze", timeout=30) is True
    assert h.ok("get-freeze-status") is False
    for mp, _, _, _ in STACK:
        name = mp.rsplit("/", 1)[1]
        assert wait_until(guest, "test -e /run/%s.done" % name, 20), "%s still blocked after thaw" % mp
        assert must(guest, "cat %s/during" % mp) == "written"
    assert guest.sh("test -e /run/phoenix-ga/frozen")[0] != 0


def test_stacked_filesystems_are_consistent_after_freeze_and_thaw(guest, stacked):
    """Another round with fresh dirty data; then the stacked filesystems are unmounted and
    e2fsck finds nothing to fix, and the data reads back the same after a remount."""
    must(guest, "dd if=/dev/urandom of=/mnt/dm/more bs=64k count=16 2>/dev/null")
    before = must(guest, "md5sum /mnt/dm/more | cut -d' ' -f1")
    h = synced_host(guest)
    try:
        assert h.ok("fs-freeze", timeout=60) is True
        assert h.ok("fs-unfreeze", timeout=30) is True
        assert h.ok("get-freeze-status") is False
    finally:
        h.close()
    must(guest, "umount /mnt/dm && umount /mnt/loop")
    for _, dev, _, _ in STACK:
        must(guest, "e2fsck -fn %s" % dev)
    must(guest, "mount -t ext4 /dev/mapper/phxdm /mnt/dm && mount -t ext4 /dev/loop1 /mnt/loop")
    assert must(guest, "md5sum /mnt/dm/more | cut -d' ' -f1") == before
    assert must(guest, "cat /mnt/dm/during /mnt/loop/during") == "written\nwritten"
