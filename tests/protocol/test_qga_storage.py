"""qemu-ga's storage commands (guest-get-fsinfo, guest-get-disks, guest-get-diskstats,
guest-fstrim) side by side with Debian's qemu-ga 7.2 on this machine. Both agents run in one
private mount namespace (`unshare -m`) where the test adds its own mounts (bind mounts of a
directory of the host's disk, one with a blank in its path, and a tmpfs, which both must leave
out), so what they list is the same and nothing of the host changes. Shapes are compared
always, values where both read the same thing. guest-fstrim is never run here (it would trim
the host's disk): only its argument checks, which come first in both agents; it runs in the
VM tests. The freeze faces are tested in tests/unit/test-agent.c and tests/vm."""
import json
import os
import socket
import subprocess

import pytest

from conftest import TIMEOUT, Agent, wait_listening
from qgalib import QEMU_GA, shape

# qemu-ga 7.2 has no total-bytes-privileged (9.1 added it); serial comes from udev's database
# in qemu-ga and this machine runs no udev (see doc/protocol.md, "Storage and freeze").
OURS_ONLY = {"total-bytes-privileged", "serial"}
BIND_MOUNTS = ["b0", "b1", "b2", "with blank"]


class Namespace:
    """A private mount namespace held open by a sleeping process; commands enter it."""

    def __init__(self):
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "3600"])
        # unshare execs sleep once the namespace is made: its mount namespace differs from ours
        for _ in range(2000):
            try:
                if os.readlink("/proc/%d/ns/mnt" % self.proc.pid) != os.readlink("/proc/self/ns/mnt"):
                    break
            except FileNotFoundError:
                pass
            assert self.proc.poll() is None, "unshare failed"
            os.sched_yield()
        self.wrap = ("nsenter", "-t", str(self.proc.pid), "-m", "--")

    def run(self, *cmd):
        subprocess.run(self.wrap + cmd, check=True)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class NsQemuGa:
    """Debian's qemu-ga inside the namespace."""

    def __init__(self, tmp_path, wrap):
        d = tmp_path / "qemu-ga"
        (d / "state").mkdir(parents=True)
        self.sock_path = str(d / "qga.sock")
        self.log_path = d / "log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(list(wrap) + [QEMU_GA, "-m", "unix-listen", "-p", self.sock_path,
                                                   "-t", str(d / "state"), "-f", str(d / "pid")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_listening(self.sock_path, self.proc, self.log_path)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def pair(tmp_path):
    """(phoenix-ga, qemu-ga, mount directory), both agents in one namespace with our mounts."""
    ns = Namespace()
    agents = []
    try:
        base = tmp_path / "m"
        (base / "src").mkdir(parents=True)
        (base / "tmp").mkdir()
        for name in BIND_MOUNTS:
            (base / name).mkdir()
            ns.run("mount", "--bind", str(base / "src"), str(base / name))
        ns.run("mount", "-t", "tmpfs", "phx-test", str(base / "tmp"))
        (tmp_path / "phx").mkdir()
        agents.append(Agent(tmp_path / "phx", wrap=ns.wrap))
        agents.append(NsQemuGa(tmp_path, ns.wrap))
        yield agents[0], agents[1], base
    finally:
        for a in agents:
            a.stop()
        ns.stop()


def ask(path, execute, arguments=None):
    """One request on a connection of its own, its one reply. (Not qgalib.replies: its
    closing guest-sync runs inline and phoenix-ga may answer it before a command that runs
    in a worker, where qemu-ga answers strictly in order; reported to the lead.)"""
    req = {"execute": execute, "id": 1}
    if arguments is not None:
        req["arguments"] = arguments
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    try:
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(1 << 20)
            assert chunk, "connection closed: %r" % buf
            buf += chunk
    finally:
        s.close()
    return json.loads(buf.split(b"\n", 1)[0])


def both_return(agent, qga, execute):
    ours, theirs = ask(agent.sock_path, execute), ask(qga.sock_path, execute)
    assert "return" in ours, ours
    assert "return" in theirs, theirs
    return ours["return"], theirs["return"]


def without(d, keys):
    return {k: v for k, v in d.items() if k not in keys}


def test_fsinfo_lists_what_qemu_ga_lists(pair):
    agent, qga, base = pair
    ours, theirs = both_return(agent, qga, "guest-get-fsinfo")
    # the same mounts in the same order: latest first, bind mounts each, tmpfs and the
    # other virtual filesystems left out, \040 in mountinfo read back as a blank
    assert [(f["mountpoint"], f["name"], f["type"]) for f in ours] == \
        [(f["mountpoint"], f["name"], f["type"]) for f in theirs]
    mountpoints = [f["mountpoint"] for f in ours]
    assert [str(base / n) for n in reversed(BIND_MOUNTS)] == mountpoints[:len(BIND_MOUNTS)]
    assert str(base / "tmp") not in mountpoints and "/proc" not in mountpoints
    for o, t in zip(ours, theirs):
        assert without(shape(o), OURS_ONLY | {"disk"}) == without(shape(t), {"disk"})
        assert [without(d, OURS_ONLY) for d in o["disk"]] == t["disk"]
        assert t["disk"], "no disk: nothing compared"
        assert o["total-bytes"] == t["total-bytes"]
        # the disk is in use by others meanwhile: used bytes agree within 256 MiB
        assert abs(o["used-bytes"] - t["used-bytes"]) < 256 << 20


def test_fsinfo_bytes_are_statvfs(pair):
    """qemu-ga's units: bytes; total as a user sees it (used + available), and 9.1's
    total-bytes-privileged, every block."""
    agent, _, base = pair
    fs = {f["mountpoint"]: f for f in ask(agent.sock_path, "guest-get-fsinfo")["return"]}
    st = os.statvfs(str(base / "src"))
    mine = fs[str(base / "b0")]
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    assert mine["total-bytes-privileged"] == st.f_blocks * st.f_frsize
    assert abs(mine["used-bytes"] - used) < 256 << 20
    assert abs(mine["total-bytes"] - (used + st.f_bavail * st.f_frsize)) < 256 << 20
    assert mine["total-bytes"] <= mine["total-bytes-privileged"]


def test_fsinfo_disk_address_from_sysfs(pair):
    """The root filesystem's disk as sysfs describes it: dev, and for a PCI device the PCI
    function of its controller."""
    agent, _, _ = pair
    root = [f for f in ask(agent.sock_path, "guest-get-fsinfo")["return"] if f["mountpoint"] == "/"][0]
    st = os.stat("/")
    syspath = os.path.realpath("/sys/dev/block/%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev)))
    assert root["name"] == os.path.basename(syspath)
    if "/devices/virtual/" in syspath:
        return  # dm or loop: its disks are its slaves', checked in the VM
    (disk,) = root["disk"]
    assert disk["dev"] == "/dev/" + os.path.basename(syspath)
    if "/devices/pci" in syspath and disk["bus-type"] != "unknown":
        # the controller is one of the PCI functions on the device's path
        functions = []
        for part in syspath.split("/"):
            fields = part.replace(".", ":").split(":")
            if len(fields) == 4 and all(f and all(c in "0123456789abcdef" for c in f) for f in fields):
                functions.append({k: int(f, 16) for k, f in zip(("domain", "bus", "slot", "function"), fields)})
        assert disk["pci-controller"] in functions, (disk, syspath)


def test_get_disks_matches_qemu_ga(pair):
    agent, qga, _ = pair
    ours, theirs = both_return(agent, qga, "guest-get-disks")
    assert [d["name"] for d in ours] == [d["name"] for d in theirs]
    for o, t in zip(ours, theirs):
        o = dict(o)
        if "address" in o:
            o["address"] = without(o["address"], OURS_ONLY)
        assert o == t
    # every block device with a size is listed (empty loop and zram devices are not)
    sized = {n for n in os.listdir("/sys/block") if open("/sys/block/%s/size" % n).read().strip() != "0"}
    assert {d["name"] for d in ours if not d["partition"]} == {"/dev/" + n for n in sized}


def test_diskstats_matches_qemu_ga(pair):
    agent, qga, _ = pair
    theirs = ask(qga.sock_path, "guest-get-diskstats")["return"]
    ours = ask(agent.sock_path, "guest-get-diskstats")["return"]
    assert [(d["name"], d["major"], d["minor"]) for d in ours] == \
        [(d["name"], d["major"], d["minor"]) for d in theirs]
    for o, t in zip(ours, theirs):
        assert shape(o) == shape(t)
        for k, v in t["stats"].items():
            if k != "ios-pgr":  # in flight: goes down as well as up
                assert o["stats"][k] >= v, (o["name"], k)


@pytest.mark.parametrize("execute,arguments", [
    ("guest-fstrim", {"minimum": "a"}),
    ("guest-fstrim", {"minimum": 1.5}),
    ("guest-fstrim", {"min": 1}),
    ("guest-get-fsinfo", {"x": 1}),
    ("guest-get-disks", {"x": 1}),
    ("guest-get-diskstats", {"x": None}),
])
def test_argument_errors_as_qemu_ga(pair, execute, arguments):
    """Refused before anything runs, in qemu-ga's words (so fstrim never trims here)."""
    agent, qga, _ = pair
    ours, theirs = ask(agent.sock_path, execute, arguments), ask(qga.sock_path, execute, arguments)
    assert "error" in theirs, theirs
    assert ours == theirs
