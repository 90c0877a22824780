"""libvirt as a real client of the agent: Debian's libvirt 9.0 runs the tests/vm guest as a
TCG domain with the agent on libvirt's own org.qemu.guest_agent.0 channel, an ext4 disk (qcow2,
virtio) and a virtio NIC on QEMU's user-mode network (no bridge, no tap, no firewall rule: the
host's network stays as it was), and test_virsh.py checks what virsh reports against what the
guest says through its control shell (ttyS1, a unix socket libvirt binds for us).

The harness starts virtlogd and libvirtd (in the foreground, as its own children) only if their
sockets do not answer, gives /dev/kvm Debian's udev mode while it runs (root:kvm 0660; without
it libvirtd re-probes QEMU on every lookup: ../shared/vm-notes.md), and at the end removes the
domain, its files under /var/lib/libvirt/images, stops the daemons it started and puts
/dev/kvm's owner and mode back.

PHX_LIBVIRT_AGENT=qemu-ga puts Debian's /usr/sbin/qemu-ga into the guest instead of phoenix-ga:
the harness itself is checked against the original agent."""
import base64
import grp
import importlib.util
import json
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
AGENT_KIND = os.environ.get("PHX_LIBVIRT_AGENT", "phoenix-ga")
AGENT = "/usr/sbin/qemu-ga" if AGENT_KIND == "qemu-ga" else \
    os.environ.get("PHX_AGENT", str(ROOT / "build" / "src" / "phoenix-ga"))
URI = "qemu:///system"
IMAGES = pathlib.Path("/var/lib/libvirt/images")
LOGD_SOCK = "/run/libvirt/virtlogd-sock"
LIBVIRTD_SOCK = "/run/libvirt/libvirt-sock"
PORT = "org.qemu.guest_agent.0"
DAEMON_TIMEOUT = 60
# How long libvirt waits for any one agent reply (`virsh guest-agent-timeout`; its default is
# for ever): an agent that never answers fails its test, not the whole CI run.
AGENT_TIMEOUT = 15
BOOT_TIMEOUT = 120

# What the guest is made to be, so that the tests know the right answers.
HOSTNAME = "phx-libvirt-guest"
OS_RELEASE = {"ID": "phoenix-test", "NAME": "Phoenix Test Guest", "VERSION_ID": "12",
              "VERSION": "12 (libvirt)", "PRETTY_NAME": "Phoenix Test Guest 12 (libvirt)"}
# No daylight saving time and a half-hour offset: a wrong zone or a sign error shows.
TIMEZONE = ("Asia/Kolkata", "IST", 19800)
MAC = "52:54:00:9e:11:07"
GUEST_ADDR = ("10.0.2.15", 24)  # QEMU's user-mode network's usual guest address
DATA_DEV = "vda"
DATA_MOUNT = "/data"
DATA_SERIAL = "phx-data-disk"
LOGIN = ("root", "ttyS1", 1700000000)  # user, line, login time (s) of the guest's one utmp record

_spec = importlib.util.spec_from_file_location("phx_vm_guest", ROOT / "tests" / "vm" / "conftest.py")
vm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vm)


class VirshError(Exception):
    def __init__(self, args, code, out, err):
        super().__init__("virsh %s: exit %d: %s" % (" ".join(args), code, (err or out).strip()))
        self.code, self.out, self.err = code, out, err


def virsh(*args, timeout=60):
    """virsh's stdout; VirshError (with its stderr) if it fails."""
    r = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise VirshError(args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def answers(path):
    """A unix socket answers: a connect succeeds."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def host_network():
    """What libvirt would change if it set up a network of its own: the host's links and its
    firewall rules (counters left out)."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                           check=True).stdout
    rules = []
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool):
            out = subprocess.run([tool], capture_output=True, text=True).stdout
            rules += [l.split(" [")[0] for l in out.splitlines() if l and not l.startswith("#")]
    return sorted(re.findall(r"^\d+: ([^:@]+)", links, re.M)), rules


class Daemons:
    """virtlogd and libvirtd: the ones already running, or our own children."""

    def __init__(self, logdir):
        self.started = []
        self.kvm = None
        self.network = host_network()
        # libvirt's runtime directory goes again with the daemons, if they made it
        self.run_dir_was = os.path.exists("/run/libvirt")
        self._fix_kvm()
        try:
            self._ensure("virtlogd", LOGD_SOCK, logdir)
            self._ensure("libvirtd", LIBVIRTD_SOCK, logdir)
        except BaseException:
            self.stop()
            raise

    def _fix_kvm(self):
        try:
            st = os.stat("/dev/kvm")
        except FileNotFoundError:
            return
        try:
            kvm_gid = grp.getgrnam("kvm").gr_gid
        except KeyError:
            return
        if st.st_gid != kvm_gid or st.st_mode & 0o777 != 0o660:
            self.kvm = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
            os.chown("/dev/kvm", st.st_uid, kvm_gid)
            os.chmod("/dev/kvm", 0o660)

    def _ensure(self, name, sock, logdir):
        if answers(sock):
            return
        if name == "libvirtd":
            # A network marked autostart would come up with our daemon and add a bridge and
            # firewall rules to the host: refuse rather than change the host.
            auto = [p.name for p in pathlib.Path("/etc/libvirt/qemu/networks/autostart").glob("*")]
            if auto:
                raise RuntimeError("libvirt networks marked autostart (%s): starting libvirtd would "
                                   "change the host's network" % ", ".join(auto))
        log = open(os.path.join(logdir, name + ".log"), "ab")
        proc = subprocess.Popen([name], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.started.append((name, proc))
        deadline = time.monotonic() + DAEMON_TIMEOUT
        while not answers(sock):
            if proc.poll() is not None:
                raise RuntimeError("%s exited (%d): %s" % (name, proc.returncode, tail(logdir, name)))
            if time.monotonic() > deadline:
                raise RuntimeError("%s: no answer on %s: %s" % (name, sock, tail(logdir, name)))
            time.sleep(0.05)

    def stop(self):
        for name, proc in reversed(self.started):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.started and not self.run_dir_was and not answers(LIBVIRTD_SOCK) \
                and not answers(LOGD_SOCK):
            shutil.rmtree("/run/libvirt", ignore_errors=True)
        self.started = []
        if self.kvm is not None:
            uid, gid, mode = self.kvm
            os.chown("/dev/kvm", uid, gid)
            os.chmod("/dev/kvm", mode)
            self.kvm = None


def tail(logdir, name):
    try:
        return pathlib.Path(logdir, name + ".log").read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def utmp_record(user, line, when):
    """One USER_PROCESS record of glibc's x86-64 struct utmp (384 bytes)."""
    return struct.pack("<hxxi32s4s32s256shhiii16s20x", 7, 1, line.encode(), line[-2:].encode(),
                       user.encode(), b"", 0, 0, 0, when, 0, b"")


def overlay(path):
    """The guest's /etc as the tests expect it (build-guest.sh copies it into the initramfs)."""
    etc = path / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hostname").write_text(HOSTNAME + "\n")
    (etc / "os-release").write_text("".join('%s="%s"\n' % kv for kv in OS_RELEASE.items()))
    # as Debian has it: /etc/localtime a link into the zone files, the zone's name in
    # /etc/timezone (GLib, qemu-ga's source of the zone, goes by the link's target)
    zone = path / "usr" / "share" / "zoneinfo" / TIMEZONE[0]
    zone.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile("/usr/share/zoneinfo/" + TIMEZONE[0], zone)
    (etc / "localtime").symlink_to("/usr/share/zoneinfo/" + TIMEZONE[0])
    (etc / "timezone").write_text(TIMEZONE[0] + "\n")
    # The RTC keeps UTC (QEMU's base=utc); busybox's hwclock reads local time unless told.
    (etc / "adjtime").write_text("0.0 0 0.0\n0\nUTC\n")


def domain_xml(name, d, append):
    return """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{d}/vmlinuz</kernel>
    <initrd>{d}/initramfs.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 {append}</cmdline>
  </os>
  <cpu mode='maximum' check='none'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='{d}/data.qcow2'/>
      <target dev='{dev}' bus='virtio'/>
      <serial>{serial}</serial>
    </disk>
    <controller type='usb' model='none'/>
    <interface type='user'>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='{d}/console.log'/>
      <target type='isa-serial' port='0'/>
    </serial>
    <serial type='unix'>
      <source mode='bind' path='{d}/ctl.sock'/>
      <target type='isa-serial' port='1'/>
    </serial>
    <channel type='unix'>
      <target type='virtio' name='{port}'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
""".format(name=name, d=d, append=append, dev=DATA_DEV, serial=DATA_SERIAL, mac=MAC, port=PORT)


class Domain(vm.Guest):
    """The guest as a libvirt domain. sh() is tests/vm's control shell (the same guest-init.sh
    serves it on ttyS1); agent() is `virsh qemu-agent-command`."""

    def __init__(self, workdir, daemons):
        self.name = "phx-libvirt-%d" % os.getpid()
        self.dir = IMAGES / self.name
        self.ctl = None
        self.defined = False
        ov = workdir / "overlay"
        shutil.rmtree(ov, ignore_errors=True)
        overlay(ov)
        env = dict(os.environ, PHX_GUEST_OVERLAY=str(ov))
        t0 = time.monotonic()
        r = subprocess.run(["sh", str(ROOT / "tests" / "vm" / "build-guest.sh"), str(workdir), AGENT],
                           capture_output=True, text=True, env=env)
        self.build_seconds = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError("build-guest.sh: " + r.stderr[-3000:])
        kernel, initrd, disk = r.stdout.split()[-3:]
        self.dir.mkdir(mode=0o755)
        try:
            shutil.copyfile(kernel, self.dir / "vmlinuz")
            shutil.copyfile(initrd, self.dir / "initramfs.gz")
            subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", disk,
                            str(self.dir / "data.qcow2")], check=True)
            for f in self.dir.iterdir():
                f.chmod(0o644)
            self.console = self.dir / "console.log"
            self.ctl_path = str(self.dir / "ctl.sock")
            append = "phx.port=%s phx.modules=failover,net_failover,virtio_net" % PORT
            if AGENT_KIND == "qemu-ga":
                append += " phx.agent=qemu-ga"
            xml = self.dir / "domain.xml"
            xml.write_text(domain_xml(self.name, self.dir, append))
            # Defined (not transient): a quiesced disk-only snapshot wants a persistent domain.
            t0 = time.monotonic()
            virsh("define", str(xml))
            self.defined = True
            self.define_seconds = time.monotonic() - t0
            t0 = time.monotonic()
            virsh("start", self.name)
            virsh("guest-agent-timeout", self.name, "--timeout", str(AGENT_TIMEOUT))
            self._boot(time.monotonic() + BOOT_TIMEOUT)
            self.boot_seconds = time.monotonic() - t0
            self.agent_seconds = self.wait_for_agent(time.monotonic() + 60) - t0
        except BaseException:
            self.stop()
            raise

    def _check_alive(self, deadline):
        state = virsh("domstate", self.name).strip()
        if state != "running":
            raise RuntimeError("domain is %s: %s" % (state, self.console_tail()))
        if time.monotonic() > deadline:
            raise RuntimeError("guest did not boot: " + self.console_tail())

    def _boot(self, deadline):
        # libvirt binds the control socket before QEMU runs: a connect succeeds at once, and the
        # guest's shell says CTL-READY once it holds ttyS1 (tests/vm/conftest.py).
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.connect(self.ctl_path)
        self.ctl_buf = b""
        while b"CTL-READY" not in self.ctl_buf:
            self._check_alive(deadline)
            self.ctl.settimeout(1)
            try:
                self.ctl_buf += self.ctl.recv(65536)
            except socket.timeout:
                pass
        self.ctl_buf = self.ctl_buf.split(b"CTL-READY", 1)[1]
        self.sh("true")

    def wait_for_agent(self, deadline):
        """Ready when an agent call succeeds. Until the guest opens the port libvirt fails every
        call at once ("not connected"); a call that times out inside libvirt is not retried."""
        while True:
            try:
                self.agent("guest-ping")
                return time.monotonic()
            except VirshError as e:
                if "not connected" not in e.err or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def agent(self, execute, arguments=None, timeout=AGENT_TIMEOUT):
        """`virsh qemu-agent-command`: the agent's "return" member."""
        msg = {"execute": execute}
        if arguments is not None:
            msg["arguments"] = arguments
        out = virsh("qemu-agent-command", self.name, "--timeout", str(timeout), json.dumps(msg),
                    timeout=timeout + 30)
        return json.loads(out)["return"]

    def must(self, command):
        code, out = self.sh(command)
        assert code == 0, "guest: %s: exit %d: %s" % (command, code, out)
        return out

    def console_tail(self):
        try:
            return self.console.read_text(errors="replace")[-3000:]
        except OSError as e:
            return "(no console log: %s)" % e

    def stop(self):
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.defined:
            try:
                virsh("destroy", self.name)
            except VirshError:
                pass  # not running
            virsh("undefine", self.name, "--snapshots-metadata")
            self.defined = False
        shutil.rmtree(self.dir, ignore_errors=True)


def harness_alive(pid):
    """A pytest process with this PID runs (not a zombie: PID 1 here reaps late)."""
    try:
        cmdline = pathlib.Path("/proc/%d/cmdline" % pid).read_bytes()
    except OSError:
        return False
    return b"pytest" in cmdline


def remove_stale_domains():
    """Domains this harness left behind when it was killed (a CI timeout): named after a pytest
    process that is gone. Concurrent runs (a live PID) are left alone."""
    for name in virsh("list", "--all", "--name").split():
        m = re.match(r"^phx-libvirt-(\d+)$", name)
        if not m or harness_alive(int(m.group(1))):
            continue
        try:
            virsh("destroy", name)
        except VirshError:
            pass  # not running
        virsh("undefine", name, "--snapshots-metadata")
        shutil.rmtree(IMAGES / name, ignore_errors=True)


def setup_guest(dom):
    """What the guest's own tools would have done at boot: the utmp record of a login, the
    loopback and the NIC up with an address."""
    rec = base64.b64encode(utmp_record(*LOGIN)).decode()
    dom.must("mkdir -p /var && ln -sfn /run /var/run && echo %s | base64 -d >/run/utmp" % rec)
    # No IPv6 autoconfiguration from the router advertisements of QEMU's user network (they
    # would add an address at a time of their choosing); the kernel still adds eth0's IPv6
    # link-local address by itself once the link has carrier: the list is stable after that.
    dom.must("echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_ra && echo 0 >/proc/sys/net/ipv6/conf/eth0/autoconf")
    dom.must("ip link set lo up && ip link set eth0 up && ip addr add %s/%d dev eth0" % GUEST_ADDR)
    deadline = time.monotonic() + 30
    while True:
        out = dom.must("ip -6 -o addr show dev eth0 scope link")
        if "fe80::" in out and "tentative" not in out:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("eth0 got no IPv6 link-local address: %r" % out)
        time.sleep(0.1)


_domain = None
FIGURES = []


def pytest_terminal_summary(terminalreporter):
    """The harness's timings, in meson's log of the run."""
    for line in FIGURES:
        terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _domain is not None and _domain.ctl is not None:
        try:
            rep.sections.append(("guest agent log", _domain.sh("tail -n 30 /run/agent.log", timeout=10)[1]))
        except Exception as e:  # the guest may be the thing that broke
            rep.sections.append(("guest agent log", "unavailable: %r" % e))


@pytest.fixture(scope="session")
def daemons():
    logdir = tempfile.mkdtemp(prefix="phx-libvirtd-")
    t0 = time.monotonic()
    d = Daemons(logdir)
    FIGURES.append("libvirt daemons: %s in %.1f s" % (
        "started " + ", ".join(n for n, _ in d.started) if d.started else "already running",
        time.monotonic() - t0))
    yield d
    d.stop()
    shutil.rmtree(logdir, ignore_errors=True)


@pytest.fixture(scope="session")
def dom(daemons):
    global _domain
    workdir = pathlib.Path(os.environ.get("PHX_LIBVIRT_DIR") or tempfile.mkdtemp(prefix="phx-libvirt-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # one download of the kernel per build tree: the vm suite's cache if there is one
    vm_cache = os.environ.get("PHX_VM_DIR") and pathlib.Path(os.environ["PHX_VM_DIR"]) / "cache"
    if vm_cache and vm_cache.is_dir() and not (workdir / "cache").exists():
        (workdir / "cache").symlink_to(vm_cache)
    remove_stale_domains()
    t0 = time.monotonic()
    d = _domain = Domain(workdir, daemons)
    try:
        setup_guest(d)
        # figures for the log (pytest -s, or meson's test log)
        FIGURES.append("libvirt guest (%s): built in %.1f s, defined in %.1f s; after `virsh start` "
                       "its shell at %.1f s, the agent's first answer at %.1f s; ready for the tests "
                       "%.1f s after the build began" % (AGENT_KIND, d.build_seconds, d.define_seconds,
                                                        d.boot_seconds, d.agent_seconds,
                                                        time.monotonic() - t0))
        yield d
    finally:
        _domain = None
        d.stop()
