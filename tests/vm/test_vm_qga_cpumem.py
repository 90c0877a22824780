"""vCPUs and memory blocks in a guest of their own: qemu-ga's guest-get/set-vcpus and
guest-get/set-memory-blocks against the guest's sysfs, and vCPUs and DIMMs hot-added through
QEMU's monitor brought online by the agent (and left offline when it is told not to).

The guest: 2 vCPUs of at most 4 (cpu2 and cpu3 can be hot-added), 256 MiB with 2 DIMM slots,
and memhp_default_state=offline so that the kernel leaves hot-added memory offline itself.
online_policy=auto-movable puts what goes online into ZONE_MOVABLE (as cloud images that
resize memory do): a block of ZONE_NORMAL may hold unmovable kernel pages, and its offline
then went on for minutes in one run.

What TCG makes slow (measured here, with a host thread per vCPU; the guest now runs its vCPUs
in one thread, see cm_guest): a hot-added vCPU takes 4-5 s to come up, and once one
is up the guest's cross-CPU work crawls: a memory offline that took 0.07 s took ~90 s, and
taking a hot-added vCPU offline and online again hung for minutes. So memory is hot-added and
taken offline first, offline/online cycles use cpu1 (present at boot), and vCPUs are
hot-added last. The virtio interrupts are kept on cpu0: with them on cpu1 the agent's port
went unread for minutes right after boot (twice in ten runs). Tests run in order on one
boot."""
import json
import os
import pathlib
import shutil
import socket
import tempfile
import time

import pytest

from conftest import Guest

MIB = 1024 * 1024
DIMM_SIZE = 256 * MIB
# Seconds for the guest to show a change. Under TCG on a busy machine, bringing a hot-added
# vCPU up takes 4-5 s idle (the kernel calibrates its delay loop) and much more when other
# guests share the host's cores; meanwhile its sysfs files block readers (device lock).
WAIT = 120


class Qmp:
    """QEMU's monitor: one command at a time; events in between are skipped."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.buf = b""
        assert "QMP" in self._read()
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "QMP closed"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, execute, **arguments):
        self.sock.sendall(json.dumps({"execute": execute, "arguments": arguments}).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            assert "return" in reply, (execute, arguments, reply)
            return reply["return"]

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def cm_guest():
    # beside the session guest's directory, whose downloaded kernel it reuses
    shared = os.environ.get("PHX_VM_DIR")
    if shared:
        workdir = pathlib.Path(shared) / "cpumem"
        (workdir / "cache").mkdir(parents=True, exist_ok=True)
        for deb in (pathlib.Path(shared) / "cache").glob("*.deb"):
            if not (workdir / "cache" / deb.name).exists():
                shutil.copy(deb, workdir / "cache")
    else:
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="phx-vm-cpumem-"))
    # One host thread runs all the vCPUs in turn (thread=single). With a thread per vCPU on
    # this 2-core machine, a vCPU that the others wait for (an IPI, a lock it holds) may not
    # be running, and once a third vCPU was up the guest's cross-CPU work crawled: a
    # guest-get-vcpus went unanswered for 120 s in one CI run in several. In turn, a vCPU
    # waited for runs in the next slice. The module takes 30-50 s either way.
    g = Guest(workdir, extra_args=["-smp", "2,maxcpus=4", "-m", "256,slots=2,maxmem=1G",
                                   "-accel", "tcg,thread=single"],
              append="memhp_default_state=offline memory_hotplug.online_policy=auto-movable")
    try:
        g.qmp = Qmp(g.qmp_path)
        # the agent port's interrupts on cpu0, before any host connection (see above)
        code, out = g.sh("d=$(basename $(readlink -f /sys/bus/virtio/drivers/virtio_console/virtio*)); "
                         "for i in $(grep \"$d-\" /proc/interrupts | cut -d: -f1); do "
                         "echo 1 > /proc/irq/$i/smp_affinity || echo FAILED $i; done; grep \"$d-\" /proc/interrupts")
        assert code == 0 and "FAILED" not in out and "virtio" in out, out
    except BaseException:
        g.stop()  # no teardown follows a failed fixture: never leave qemu running
        raise
    yield g
    g.qmp.close()
    g.stop()


def ok(host, execute, arguments=None):
    return host.qga_ok(execute, arguments, timeout=WAIT)


def err(host, execute, arguments=None):
    return host.qga_err(execute, arguments, timeout=WAIT)


def must(guest, command, timeout=WAIT):
    code, out = guest.sh(command, timeout=timeout)
    assert code == 0, (command, out)
    return out


def cpu_online(guest, n):
    """'1' or '0' from cpuN/online; '' while cpuN does not exist."""
    return guest.sh("cat /sys/devices/system/cpu/cpu%d/online 2>/dev/null" % n, timeout=WAIT)[1]


def memory_blocks(guest):
    """{index: state} of every memory block."""
    out = must(guest, "for b in /sys/devices/system/memory/memory*; do echo ${b##*memory} $(cat $b/state); done")
    return {int(i): s for i, s in (line.split() for line in out.splitlines())}


def wait_guest(guest, condition, what, timeout=WAIT):
    """Polls the guest until `condition` holds (a real state, never a guessed delay)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "%s; agent log:\n%s" % (what, agent_log(guest))
        time.sleep(0.2)


def mem_total(guest):
    """MemTotal in bytes."""
    return int(must(guest, "awk '/MemTotal/ {print $2}' /proc/meminfo")) * 1024


def agent_log(guest):
    return guest.sh("tail -n 30 /run/agent.log", timeout=WAIT)[1]


def log_has(guest, text):
    return guest.sh("grep -qF '%s' /run/agent.log" % text)[0] == 0


def hot_add_cpu(guest, cpu_id):
    """device_add of the hot-pluggable slot that becomes cpu<cpu_id> (slots fill in order)."""
    free = [c for c in guest.qmp.cmd("query-hotpluggable-cpus") if "qom-path" not in c]
    assert free, "no free vCPU slot"
    slot = sorted(free, key=lambda c: c["props"].get("socket-id", 0))[0]
    guest.qmp.cmd("device_add", driver=slot["type"], id="hcpu%d" % cpu_id, **slot["props"])
    # the kernel makes cpuN, with online 0, on the ACPI notification that follows
    wait_guest(guest, lambda: cpu_online(guest, cpu_id) != "", "cpu%d did not appear" % cpu_id)


def hot_add_dimm(guest, name):
    """A 256 MiB pc-dimm; returns the indexes of the memory blocks it brought."""
    before = set(memory_blocks(guest))
    guest.qmp.cmd("object-add", **{"qom-type": "memory-backend-ram", "id": "mem-" + name, "size": DIMM_SIZE})
    guest.qmp.cmd("device_add", driver="pc-dimm", id=name, memdev="mem-" + name)
    block = int(must(guest, "cat /sys/devices/system/memory/block_size_bytes"), 16)
    n = DIMM_SIZE // block
    new = wait_guest(guest, lambda: sorted(set(memory_blocks(guest)) - before) if
                     len(set(memory_blocks(guest)) - before) == n else None,
                     "the DIMM's %d blocks did not appear" % n)
    return new


def restart_agent(guest, args):
    """The agent again, with `args` instead of the guest's usual ones (None: the usual
    supervisor loop); returns a fresh host connection."""
    guest.sh("touch /run/stop-agent; kill $(pidof phoenix-ga) 2>/dev/null")
    wait_guest(guest, lambda: guest.sh("pidof phoenix-ga")[0] != 0, "the agent did not stop")
    if args is None:
        must(guest, "rm -f /run/stop-agent; setsid /init --agent-loop </dev/null >/dev/null 2>&1 &")
    else:
        must(guest, "setsid /bin/phoenix-ga --debug %s </dev/null >>/run/agent.log 2>&1 &" % args)
    return guest.wait_for_agent()


def test_get_vcpus_is_sysfs(cm_guest):
    h = cm_guest.wait_for_agent()
    vcpus = ok(h, "guest-get-vcpus")
    # x86's cpu0 has no `online` file: it cannot go offline (and counts as online)
    assert vcpus == [{"logical-id": 0, "online": True, "can-offline": False},
                     {"logical-id": 1, "online": True, "can-offline": True}]
    assert cm_guest.sh("test -e /sys/devices/system/cpu/cpu0/online")[0] == 1
    assert cpu_online(cm_guest, 1) == "1"
    h.close()


def test_memory_block_info_and_blocks(cm_guest):
    h = cm_guest.wait_for_agent()
    size = int(must(cm_guest, "cat /sys/devices/system/memory/block_size_bytes"), 16)
    assert ok(h, "guest-get-memory-block-info") == {"size": size}
    blocks = ok(h, "guest-get-memory-blocks")
    states = memory_blocks(cm_guest)
    assert [b["phys-index"] for b in blocks] == sorted(states)
    for b in blocks:
        assert set(b) == {"phys-index", "online", "can-offline"}, b
        assert b["online"] is (states[b["phys-index"]] == "online")
    assert ok(h, "guest-set-memory-blocks", {"mem-blks": [{"phys-index": 4000, "online": True}]}) == \
        [{"phys-index": 4000, "response": "not-found", "error-code": 2}]
    h.close()


def test_hot_added_dimm_stays_offline_when_told(cm_guest):
    """With online-hotplug = false (a configuration file) the agent leaves a hot-added DIMM
    as the kernel made it: offline. This is also the proof that the kernel itself does not
    bring it online, so that test_hot_added_dimm_goes_online's is the agent's doing."""
    must(cm_guest, "printf '[general]\\nonline-hotplug = false\\n' > /etc/phx-off.conf")
    h = restart_agent(cm_guest, "--config /etc/phx-off.conf --runtime-dir /run/phoenix-ga")
    blocks = hot_add_dimm(cm_guest, "dimm1")
    # what a running watcher would have done within milliseconds of the event
    time.sleep(2)
    states = memory_blocks(cm_guest)
    assert all(states[b] == "offline" for b in blocks), states
    listed = {b["phys-index"]: b["online"] for b in ok(h, "guest-get-memory-blocks")}
    assert all(listed[b] is False for b in blocks), listed
    # the host brings them online itself, through the agent
    reply = ok(h, "guest-set-memory-blocks", {"mem-blks": [{"phys-index": b, "online": True} for b in blocks]})
    assert reply == [{"phys-index": b, "response": "success"} for b in blocks]
    states = memory_blocks(cm_guest)
    assert all(states[b] == "online" for b in blocks), states
    h.close()


def test_set_memory_blocks_offline_and_online(cm_guest):
    """One block of a hot-added DIMM (in ZONE_MOVABLE, so the kernel can empty it) offline
    and back."""
    h = cm_guest.wait_for_agent()
    blocks = sorted(b for b, s in memory_blocks(cm_guest).items() if b >= 8)  # dimm1, above the boot RAM
    block = blocks[-1]
    reply = ok(h, "guest-set-memory-blocks", {"mem-blks": [{"phys-index": block, "online": False}]})
    assert reply == [{"phys-index": block, "response": "success"}], reply
    assert memory_blocks(cm_guest)[block] == "offline"
    listed = {b["phys-index"]: b["online"] for b in ok(h, "guest-get-memory-blocks")}
    assert listed[block] is False
    reply = ok(h, "guest-set-memory-blocks", {"mem-blks": [{"phys-index": block, "online": True}]})
    assert reply == [{"phys-index": block, "response": "success"}], reply
    assert memory_blocks(cm_guest)[block] == "online"
    h.close()


def test_hot_added_dimm_goes_online(cm_guest):
    """The guest's usual agent (online-hotplug on by default) brings a hot-added DIMM's
    blocks online by itself; test_hot_added_dimm_stays_offline_when_told showed that
    nothing else does."""
    restart_agent(cm_guest, None).close()
    before = mem_total(cm_guest)
    blocks = hot_add_dimm(cm_guest, "dimm2")
    wait_guest(cm_guest, lambda: all(memory_blocks(cm_guest)[b] == "online" for b in blocks),
               "hot-added memory blocks %r stayed offline" % blocks)
    for b in blocks:
        wait_guest(cm_guest, lambda: log_has(cm_guest, "brought hot-added memory block %d online" % b),
                   "no log of block %d" % b)
    h = cm_guest.wait_for_agent()
    listed = {b["phys-index"]: b["online"] for b in ok(h, "guest-get-memory-blocks")}
    assert all(listed[b] for b in blocks)
    # the kernel counts it: MemTotal grows by the DIMM (its page structs come from old memory)
    assert mem_total(cm_guest) - before >= DIMM_SIZE * 95 // 100, (before, mem_total(cm_guest))
    h.close()


def test_set_vcpus_offline_and_online(cm_guest):
    h = cm_guest.wait_for_agent()
    assert ok(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": False}]}) == 1
    assert cpu_online(cm_guest, 1) == "0"
    assert {v["logical-id"]: v["online"] for v in ok(h, "guest-get-vcpus")} == {0: True, 1: False}
    # again: nothing to do, still counted as processed
    assert ok(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": False}]}) == 1
    assert ok(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": True}]}) == 1
    assert cpu_online(cm_guest, 1) == "1"
    h.close()


def test_set_vcpus_stops_at_the_first_failure(cm_guest):
    """qemu-ga's contract (libvirt relies on it): the count of elements done before the first
    failure; the failure itself is the reply only when it is the first element."""
    h = cm_guest.wait_for_agent()
    assert err(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 0, "online": False}]}) == \
        ("GenericError", "logical processor #0 can't be offlined")
    n = ok(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": False},
                                               {"logical-id": 0, "online": False},
                                               {"logical-id": 1, "online": True}]})
    assert n == 1
    assert cpu_online(cm_guest, 1) == "0"  # the third element was not reached
    assert err(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 7, "online": True}]}) == \
        ("GenericError", 'open("/sys/devices/system/cpu/cpu7/"): No such file or directory')
    assert ok(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 0, "online": True},
                                                  {"logical-id": 1, "online": True}]}) == 2
    assert cpu_online(cm_guest, 1) == "1"
    h.close()


def test_a_synthetic_add_event_does_not_undo_an_offline(cm_guest):
    """`udevadm trigger` (or `echo add > uevent`) replays an "add" for a vCPU an administrator
    took offline: the agent sees it, and leaves the vCPU alone."""
    h = cm_guest.wait_for_agent()
    assert ok(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": False}]}) == 1
    must(cm_guest, "echo add > /sys/devices/system/cpu/cpu1/uevent")
    wait_guest(cm_guest, lambda: log_has(cm_guest, "uevent add /devices/system/cpu/cpu1 (cpu) synthetic"),
               "the agent did not see the synthetic event")
    # the event was handled (the agent's main loop has moved on: it answers)
    ok(h, "guest-get-vcpus")
    assert cpu_online(cm_guest, 1) == "0"
    assert ok(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": True}]}) == 1
    h.close()


def test_other_device_events_never_reach_the_agent(cm_guest):
    """The socket filter: a "change" of a vCPU and an "add" of a disk are dropped by the
    kernel; a second vCPU add, sent after them, is the proof that they had their turn."""
    seen = "uevent add /devices/system/cpu/cpu1 (cpu) synthetic"
    count = cm_guest.sh("grep -cF '%s' /run/agent.log" % seen)[1]
    must(cm_guest, "echo change > /sys/devices/system/cpu/cpu1/uevent; echo add > /sys/block/vda/uevent; "
                   "echo add > /sys/devices/system/cpu/cpu1/uevent")
    wait_guest(cm_guest, lambda: cm_guest.sh("grep -cF '%s' /run/agent.log" % seen)[1] == str(int(count) + 1),
               "the agent did not see the second synthetic add")
    assert cm_guest.sh("grep -E 'uevent (change|add /devices/pci)' /run/agent.log")[0] == 1, agent_log(cm_guest)
    assert cpu_online(cm_guest, 1) == "1"


def test_hot_added_vcpu_stays_offline_when_told(cm_guest):
    """The same for a vCPU."""
    h = restart_agent(cm_guest, "--config /etc/phx-off.conf --runtime-dir /run/phoenix-ga")
    hot_add_cpu(cm_guest, 2)
    time.sleep(2)
    assert cpu_online(cm_guest, 2) == "0"
    assert ok(h, "guest-get-vcpus")[2] == {"logical-id": 2, "online": False, "can-offline": True}
    assert ok(h, "guest-set-vcpus", {"vcpus": [{"logical-id": 2, "online": True}]}) == 1
    assert cpu_online(cm_guest, 2) == "1"
    h.close()
    restart_agent(cm_guest, None).close()  # the guest's usual agent, for the last test


def test_hot_added_vcpu_goes_online(cm_guest):
    hot_add_cpu(cm_guest, 3)
    wait_guest(cm_guest, lambda: cpu_online(cm_guest, 3) == "1", "hot-added cpu3 stayed offline")
    # logged once the worker's batch is back on the main loop, a moment after the write
    wait_guest(cm_guest, lambda: log_has(cm_guest, "brought hot-added vCPU 3 online"), "no log of cpu3")
    h = cm_guest.wait_for_agent()
    assert ok(h, "guest-get-vcpus") == [{"logical-id": i, "online": True, "can-offline": i > 0} for i in range(4)]
    h.close()
