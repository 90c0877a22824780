"""phoenix-ga on QEMU's own guest agent port, org.qemu.guest_agent.0 (the one libvirt and
Proxmox add), started with nothing but its path; the packaged rule and unit's view of that
port; and guest-suspend-ram for real: the guest suspends (no reply, QEMU's SUSPEND event, as
libvirt waits for it) and comes back on system_wakeup. A guest of its own: it is suspended."""
import json
import os
import pathlib
import re
import shlex
import shutil
import socket
import tempfile
import time

import pytest

from conftest import ROOT, Guest

PORT = "org.qemu.guest_agent.0"


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self, deadline=None):
        while b"\n" not in self.buf:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("QMP: nothing within the time")
                self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            assert chunk, "QMP closed"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        self.sock.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        while True:
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)
            else:
                assert "return" in msg, msg
                return msg["return"]

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e["event"] == name:
                    self.events.remove(e)
                    return e
            self.events.append(self.read(deadline))

    def close(self):
        self.sock.close()


class LibvirtPort:
    """The host end of the org.qemu.guest_agent.0 chardev, spoken to as libvirt does: a
    guest-sync with a millisecond timestamp, replies split on LF, other replies skipped."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.buf = b""

    def line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("chardev closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def sync(self, timeout=5):
        sync_id = int(time.time() * 1000)
        self.sock.sendall(b'{"execute":"guest-sync", "arguments":{"id":%d}}\n' % sync_id)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.line(deadline)
            if reply.get("return") == sync_id:
                return

    def command(self, name, timeout=20):
        self.sock.sendall(json.dumps({"execute": name}).encode() + b"\n")
        return self.line(time.monotonic() + timeout)

    def close(self):
        self.sock.close()


def connect_when_served(path, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        port = LibvirtPort(path)
        try:
            port.sync(timeout=2)
            return port
        except (TimeoutError, EOFError, OSError):
            port.close()
            assert time.monotonic() < deadline, "nobody answers guest-sync on " + PORT
            time.sleep(0.3)


@pytest.fixture(scope="module")
def qguest():
    # beside the session guest's directory when there is one (its kernel .deb is reused, not
    # downloaded again); unix socket paths must stay under 108 bytes
    base = os.environ.get("PHX_VM_DIR")
    workdir = pathlib.Path(base) / "qport" if base else pathlib.Path(tempfile.mkdtemp(prefix="phx-vmq-"))
    (workdir / "cache").mkdir(parents=True, exist_ok=True)
    for deb in (pathlib.Path(base) / "cache").glob("*.deb") if base else ():
        if not (workdir / "cache" / deb.name).exists():
            shutil.copy(deb, workdir / "cache" / deb.name)
    lv = workdir / "lv.sock"
    g = Guest(workdir, extra_args=("-chardev", "socket,id=lv,path=%s,server=on,wait=off" % lv,
                                   "-device", "virtserialport,chardev=lv,name=" + PORT))
    g.lv_path = str(lv)
    try:
        # no udev in this guest: the node, as udev would make it
        code, out = g.sh("for p in /sys/class/virtio-ports/*; do [ \"$(cat $p/name)\" = %s ] && "
                         "d=$(cat $p/dev) && mknod /dev/virtio-ports/%s c ${d%%%%:*} ${d##*:}; done; "
                         "ls /dev/virtio-ports" % (PORT, PORT))
        assert PORT in out, out
        yield g
    finally:
        g.stop()
        if not base:
            shutil.rmtree(workdir, ignore_errors=True)


def test_udev_rule_wants_the_qemu_port_unit(qguest):
    code, out = qguest.sh("for p in /sys/class/virtio-ports/*; do "
                          "[ \"$(cat $p/name)\" = %s ] && udevadm test --action=add $p 2>&1; done" % PORT,
                          timeout=60)
    assert "SYSTEMD_WANTS=phoenix-ga-qemu.service" in out, out
    assert "SYSTEMD_WANTS=phoenix-ga.service" not in out, out
    assert re.search(r"^\|?TAGS=.*:systemd:", out, re.M), out


def test_qemu_port_unit_stands_down_when_the_phoenix_port_is_there(qguest):
    unit = (ROOT / "data" / "phoenix-ga-qemu.service.in").read_text()
    cond = re.search(r"^ExecCondition=/bin/sh -c '(.*)'$", unit, re.M).group(1)
    # both ports in this guest: the Phoenix one's agent serves (both dialects), this one does not start
    assert qguest.sh(cond)[0] == 1
    # a guest with libvirt's port alone (the Phoenix port's name hidden from the check)
    assert qguest.sh(cond.replace("org.guest-agent.0", "org.no-such-port.0"))[0] == 0


def test_phoenix_unit_serves_both_ports(qguest):
    """phoenix-ga.service's own command line, in a guest with both ports: one agent answers on
    the Phoenix port and on libvirt's (the packaged default serves whichever exist)."""
    unit = (ROOT / "data" / "phoenix-ga.service.in").read_text()
    cmd = re.search(r"^ExecStart=/bin/sh -c '(.*)'$", unit, re.M).group(1).replace("@sbindir@/", "/bin/")
    qguest.sh("touch /run/stop-agent; kill $(pidof phoenix-ga); while pidof phoenix-ga >/dev/null; do sleep 0.1; done")
    code, out = qguest.sh("setsid sh -c %s >/run/both.log 2>&1 </dev/null & echo started" % shlex.quote(cmd))
    assert code == 0, out
    port = connect_when_served(qguest.lv_path)
    try:
        assert port.command("guest-ping") == {"return": {}}
        h = qguest.wait_for_agent()
        assert h.ok("ping") == "0.1.0"
        h.close()
        assert qguest.sh("pidof phoenix-ga")[1].count(" ") == 0  # one agent for both
    finally:
        port.close()
        qguest.sh("kill $(pidof phoenix-ga); while pidof phoenix-ga >/dev/null; do sleep 0.1; done")


def test_agent_with_only_the_path_serves_libvirt(qguest):
    """`phoenix-ga -p /dev/virtio-ports/org.qemu.guest_agent.0` and nothing else."""
    # the guest's own agent (on the Phoenix port) goes away first: one agent per guest
    qguest.sh("touch /run/stop-agent; kill $(pidof phoenix-ga); while pidof phoenix-ga >/dev/null; do sleep 0.1; done")
    code, out = qguest.sh("setsid phoenix-ga -p /dev/virtio-ports/%s >/run/qport.log 2>&1 </dev/null & echo started"
                          % PORT)
    assert code == 0, out
    port = connect_when_served(qguest.lv_path)
    try:
        assert port.command("guest-ping") == {"return": {}}
        info = port.command("guest-info")["return"]
        names = {c["name"] for c in info["supported_commands"] if c["enabled"]}
        assert {"guest-sync", "guest-ping", "guest-info", "guest-suspend-ram"} <= names
        # a Phoenix request on the same port, answered in its dialect
        port.sock.sendall(b'{"execute":"ping","tag":"p"}\n')
        assert port.line(time.monotonic() + 10) == {"return": "0.1.0", "tag": "p"}
    finally:
        port.close()


def test_suspend_ram_for_real_and_back(qguest):
    """libvirt's flow: guest-suspend-ram gets no reply; QEMU reports SUSPEND; system_wakeup
    brings the guest back and the agent answers again."""
    code, state = qguest.sh("cat /sys/power/state")
    assert "mem" in state.split(), state
    qmp = Qmp(qguest.qmp_path)
    port = connect_when_served(qguest.lv_path)
    try:
        t0 = time.monotonic()
        port.sock.sendall(b'{"execute":"guest-suspend-ram"}\n')
        qmp.wait_event("SUSPEND", 60)
        suspended_after = time.monotonic() - t0
        assert qmp.cmd("query-status")["status"] == "suspended"
        qmp.cmd("system_wakeup")
        qmp.wait_event("WAKEUP", 60)
        # nothing was sent for the suspend: the first line after it is the sync's reply
        port.sock.sendall(b'{"execute":"guest-sync","arguments":{"id":99}}\n')
        assert port.line(time.monotonic() + 30) == {"return": 99}
        back_after = time.monotonic() - t0
        assert port.command("guest-ping") == {"return": {}}
        print("suspend-ram: SUSPEND after %.2fs, answering again %.2fs after the request"
              % (suspended_after, back_after))
    finally:
        port.close()
        qmp.close()
