"""A real guest for end-to-end tests: Debian's 6.1 kernel, a busybox initramfs with the
built agent, an ext4 data disk, QEMU (TCG) with the agent on a virtio-serial port behind a
host unix socket, and a control shell on the guest's second serial port."""
import base64
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time

import pytest

# tests/lib: helpers more than one suite uses (e.g. the client on a pty, clientterm.py)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))

ROOT = pathlib.Path(__file__).resolve().parents[2]
AGENT = os.environ.get("PHX_AGENT", str(ROOT / "build" / "src" / "phoenix-ga"))
BOOT_TIMEOUT = 120


class Host:
    """The host side of the agent's port (the QEMU chardev socket)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # QEMU accepts the next client only once it has noticed the last one leave; a
        # connect must not wait for that for ever.
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.buf = b""
        self.seq = 0

    def close(self):
        self.sock.close()

    def request(self, execute, arguments=None, timeout=20):
        self.seq += 1
        tag = "vm%d" % self.seq
        msg = {"execute": execute, "tag": tag}
        if arguments is not None:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read_reply(deadline, "%s: no reply" % execute)
            if reply.get("tag") == tag:
                return reply

    def qga(self, execute, arguments=None, timeout=20):
        """A request in qemu-ga's dialect on the same port; returns the whole reply (with
        `return` or `error`), matched by a fresh `id`."""
        self.seq += 1
        msg = {"execute": execute, "id": "vm%d" % self.seq}
        if arguments is not None:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read_reply(deadline, "%s: no reply" % execute)
            if reply.get("id") == msg["id"]:
                return reply

    def qga_ok(self, execute, arguments=None, timeout=20):
        reply = self.qga(execute, arguments, timeout)
        assert "return" in reply, reply
        return reply["return"]

    def qga_err(self, execute, arguments=None, timeout=20):
        """(class, desc) of a qemu-ga error reply."""
        reply = self.qga(execute, arguments, timeout)
        assert "error" in reply, reply
        return reply["error"]["class"], reply["error"]["desc"]

    def read_reply(self, deadline, what="no reply"):
        """The next reply line, parsed; TimeoutError(what) past the monotonic deadline."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(what)
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("chardev closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def ok(self, execute, arguments=None, timeout=20):
        reply = self.request(execute, arguments, timeout)
        assert "return" in reply, error_text(reply)
        return reply["return"]

    def err(self, execute, arguments=None):
        reply = self.request(execute, arguments)
        assert "error" in reply, reply
        return reply["error"]["code"], error_text(reply)


def error_text(reply):
    if "error" not in reply:
        return repr(reply)
    return base64.b64decode(reply["error"]["bufb64"]).decode()


class Guest:
    """extra_args: more QEMU arguments (e.g. -smp); append: more kernel command line. A QMP
    monitor listens on qmp_path for tests that change the machine (hot-add)."""

    def __init__(self, workdir, extra_args=(), append=""):
        self.dir = workdir
        out = subprocess.run(["sh", str(ROOT / "tests" / "vm" / "build-guest.sh"), str(workdir), AGENT],
                             check=True, capture_output=True, text=True).stdout.split()
        kernel, initrd, disk = out[-3:]
        self.disk = disk
        self.ga_path = str(workdir / "ga.sock")
        self.ctl_path = str(workdir / "ctl.sock")
        self.qmp_path = str(workdir / "qmp.sock")
        self.console = workdir / "console.log"
        for stale in (self.ga_path, self.ctl_path, self.qmp_path, self.console):
            if os.path.exists(stale):
                os.unlink(stale)
        cmd = ["qemu-system-x86_64", "-nodefaults", "-nographic", "-no-reboot", "-m", "160",
               "-kernel", kernel, "-initrd", initrd, "-append", ("console=ttyS0 quiet panic=-1 " + append).strip(),
               "-serial", "file:%s" % self.console,
               "-chardev", "socket,id=ctl,path=%s,server=on,wait=off" % self.ctl_path,
               "-device", "isa-serial,chardev=ctl",
               "-chardev", "socket,id=ga0,path=%s,server=on,wait=off" % self.ga_path,
               "-device", "virtio-serial-pci",
               "-device", "virtserialport,chardev=ga0,name=org.guest-agent.0",
               "-drive", "file=%s,if=virtio,format=raw" % disk,
               "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path, *extra_args]
        # KVM on these machines comes from a nested host that aborts on real CPU models
        # (../shared/vm-notes.md), so TCG unless a working KVM is asked for explicitly.
        cmd += ["-accel", "kvm", "-cpu", "host"] if os.environ.get("PHX_VM_KVM") else ["-accel", "tcg", "-cpu", "max"]
        # QEMU's own record of the port (hosts coming and going, bytes passed each way, with
        # times), for a failure report: whether a request the agent never saw reached QEMU.
        self.trace = workdir / "qemu-trace.log"
        cmd += ["-msg", "timestamp=on", "-trace", "virtio_serial_*", "-trace", "virtio_console_*",
                "-D", str(self.trace)]
        self.cmd = cmd
        self._start()

    def _start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BOOT_TIMEOUT
        try:
            self._boot(deadline)
        except BaseException:
            # No teardown follows a failed session fixture: never leave qemu running.
            self.stop()
            raise

    def _boot(self, deadline):
        # Ready when a connect succeeds: QEMU's socket file exists from bind(), before
        # listen(). QEMU makes every -chardev before it runs the guest, so once the control
        # socket listens the agent's does too (and no test connects to it before the guest
        # has said it is up).
        while True:
            self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.ctl.connect(self.ctl_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.ctl.close()
            self._check_alive(deadline)
            time.sleep(0.01)
        self.ctl_buf = b""
        # The guest's shell says CTL-READY on the control port once it holds the port open
        # (guest-init.sh); before that, input would be lost.
        while b"CTL-READY" not in self.ctl_buf:
            self._check_alive(deadline)
            self.ctl.settimeout(1)
            try:
                self.ctl_buf += self.ctl.recv(65536)
            except socket.timeout:
                pass
        self.ctl_buf = self.ctl_buf.split(b"CTL-READY", 1)[1]
        self.boot_seconds = BOOT_TIMEOUT - (deadline - time.monotonic())
        self.sh("true")  # swallows the shell's banner

    def _check_alive(self, deadline):
        if self.proc.poll() is not None:
            raise RuntimeError("qemu exited: " + self.console.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            raise RuntimeError("guest did not boot: " + self.console.read_text(errors="replace")[-3000:])

    def sh(self, command, timeout=30):
        """Runs a shell command in the guest; returns (status, output).

        Every line the command prints is prefixed with '|' on its way out, so that what the
        interactive shell says by itself (the echo of the command line, job notices such as
        "[1]+ Terminated") can never be taken for output."""
        self.ctl.sendall(b"{ " + command.encode() + b"\n echo __RC__$?; } 2>&1 | sed 's/^/|/'; echo __END__\n")
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rb"\|__RC__(\d+)\r?\n(?:.*\r?\n)*?__END__\r?\n", self.ctl_buf)
            if m:
                out, self.ctl_buf = self.ctl_buf[:m.start()], self.ctl_buf[m.end():]
                lines = out.decode(errors="replace").replace("\r", "").split("\n")
                lines = [l[1:] for l in lines if l.startswith("|")]
                return int(m.group(1)), "\n".join(lines).strip()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("guest shell: %s" % command)
            self.ctl.settimeout(left)
            self.ctl_buf += self.ctl.recv(65536)

    def host(self):
        return Host(self.ga_path)

    def wait_for_agent(self, timeout=30):
        """A fresh host connection once the agent answers (after a restart, say)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                h = self.host()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
                continue
            try:
                h.ok("ping", timeout=2)
                return h
            except (TimeoutError, EOFError, OSError):
                h.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        if getattr(self, "ctl", None) is not None:
            self.ctl.close()
            self.ctl = None

    def healthy(self):
        """Whether the guest is as a test expects to find it: its shell answers, the agent
        answers, nothing is frozen."""
        try:
            if self.sh("true", timeout=10)[0] != 0:
                return False
            h = self.wait_for_agent(timeout=15)
            try:
                return h.ok("get-freeze-status", timeout=5) is False
            finally:
                h.close()
        except Exception:
            return False

    def reboot(self):
        """A fresh boot of the same machine, on the same data disk. What module fixtures set up
        in the guest (mounts, accounts) is gone: the tests of that module after the failure may
        fail for it too, those of later modules set it up afresh. QEMU starts its trace anew."""
        self.stop()
        for stale in (self.ga_path, self.ctl_path, self.qmp_path):
            if os.path.exists(stale):
                os.unlink(stale)
        self._start()


_guest = None
_guest_suspect = False  # a test failed: the session guest may be left in a state others trip on


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    global _guest_suspect
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    # the guests the test used (a module may boot its own), else the session guest
    guests = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Guest)]
    if _guest is not None and (not guests or _guest in guests):
        _guest_suspect = True
    for g in dict.fromkeys(guests or ([_guest] if _guest is not None else [])):
        where = "" if g is _guest else " (%s)" % g.dir.name
        try:
            rep.sections.append(("guest agent log" + where, g.sh("tail -n 40 /run/agent.log", timeout=10)[1]))
        except Exception as e:  # the guest may be the thing that broke
            rep.sections.append(("guest agent log" + where, "unavailable: %r" % e))
        rep.sections.append(("guest console" + where, g.console.read_text(errors="replace")[-3000:]))
        try:
            rep.sections.append(("QEMU port trace" + where,
                                 "\n".join(g.trace.read_text(errors="replace").splitlines()[-40:])))
        except OSError as e:
            rep.sections.append(("QEMU port trace" + where, "unavailable: %r" % e))


@pytest.fixture(autouse=True)
def _guest_fit_after_a_failure():
    """After a failed test the session guest is checked before the next test, and booted
    afresh if it is not as tests expect it (agent gone, frozen, shell stuck): one failure
    stays one failure instead of failing every test after it on the same boot (and running
    the stage past its time limit, which loses the report of the first)."""
    global _guest_suspect
    if _guest_suspect and _guest is not None:
        _guest_suspect = False
        if not _guest.healthy():
            _guest.reboot()
    yield


@pytest.fixture(scope="session")
def guest():
    global _guest
    workdir = pathlib.Path(os.environ.get("PHX_VM_DIR") or tempfile.mkdtemp(prefix="phx-vm-"))
    workdir.mkdir(parents=True, exist_ok=True)
    g = _guest = Guest(workdir)
    yield g
    g.stop()
