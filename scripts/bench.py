#!/usr/bin/python3
"""Benchmark: phoenix-ga against Debian's qemu-ga in one run, on a unix socket and on a pty
standing in for a character device. Prints a Markdown table (paste into doc/performance.md).

    /usr/bin/python3 scripts/bench.py [--idle-seconds 60] [--agent build/src/phoenix-ga]

Memory comes from /proc/PID/smaps_rollup, CPU from /proc/PID/task/*/schedstat (ns on CPU),
context switches from /proc/PID/task/*/status. qemu-ga runs with a private state dir and
every command that could change this machine blocked with -b; file commands stay allowed
but only ever touch this run's temp dir."""
import argparse
import base64
import glob
import json
import os
import platform
import pty
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tty

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QGA_BLOCK = ",".join([
    "guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
    "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw", "guest-fstrim",
    "guest-set-time", "guest-set-user-password", "guest-set-vcpus", "guest-set-memory-blocks",
    "guest-exec", "guest-exec-status", "guest-ssh-add-authorized-keys",
    "guest-ssh-remove-authorized-keys"])
MiB = 1024 * 1024
BUS_NAME, BUS_PATH = "org.phoenixga.GuestAgent1", "/org/phoenixga/GuestAgent1"
NODBUS = "phoenix-ga --no-dbus"


# ---------------------------------------------------------------- process figures
def tasks(pid):
    return glob.glob("/proc/%d/task/*" % pid)


def cpu_ns(pid):
    total = 0
    for t in tasks(pid):
        try:
            total += int(open(t + "/schedstat").read().split()[0])
        except OSError:
            pass
    return total


def switches(pid):
    total = 0
    for t in tasks(pid):
        try:
            for line in open(t + "/status"):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def anon_kib(pid):
    for line in open("/proc/%d/smaps_rollup" % pid):
        if line.startswith("Anonymous:"):
            return int(line.split()[1])
    return -1


# ---------------------------------------------------------------- transports
class Conn:
    """A byte pipe to one agent: a unix socket or the master side of a pty."""

    def __init__(self, fd, close):
        self.fd, self._close, self.buf = fd, close, b""
        os.set_blocking(fd, False)

    def close(self):
        self._close()

    def send(self, data):
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [], 10)
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                continue
            view = view[n:]

    def line(self, timeout=60):
        # chunks are kept in a list and only new bytes are searched: a 64 MiB reply must
        # not cost the client quadratic copying
        deadline = time.monotonic() + timeout
        i = self.buf.find(b"\n")
        if i >= 0:
            out, self.buf = self.buf[:i], self.buf[i + 1:]
            return out
        parts = [self.buf]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.buf = b"".join(parts)
                raise TimeoutError
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            try:
                chunk = os.read(self.fd, 16 * MiB)
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError
            i = chunk.find(b"\n")
            if i < 0:
                parts.append(chunk)
                continue
            parts.append(chunk[:i])
            self.buf = chunk[i + 1:]
            return b"".join(parts)

    def pipeline(self, data, expect, quiet=3.0, keep=None):
        """Writes data while reading; returns (replies seen, seconds to the last one).
        keep: a list that receives the bytes read, to be checked after the clock stops."""
        view, got, start, last = memoryview(data), 0, time.monotonic(), None
        idle_since = time.monotonic()
        while got < expect:
            w = [self.fd] if view else []
            r, w, _ = select.select([self.fd], w, [], 0.2)
            if w:
                try:
                    view = view[os.write(self.fd, view[:65536]):]
                except BlockingIOError:
                    pass
            if r:
                try:
                    chunk = os.read(self.fd, MiB)
                except (BlockingIOError, OSError):
                    chunk = b""
                if chunk:
                    if keep is not None:
                        keep.append(chunk)
                    got += chunk.count(b"\n")
                    last = time.monotonic()
                    idle_since = last
            if not r and not w and time.monotonic() - idle_since > quiet:
                break
        return got, (last or time.monotonic()) - start


BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*"/>
    <allow receive_type="*"/>
  </policy>
  <include>%s</include>
</busconfig>
"""


def start_bus(workdir):
    """A private system-like bus, so phoenix-ga runs with its D-Bus state published."""
    conf = os.path.join(workdir, "bus.conf")
    with open(conf, "w") as f:
        f.write(BUS_CONF % (os.path.join(workdir, "bus"),
                            os.path.join(ROOT, "data", "org.phoenixga.GuestAgent1.conf")))
    proc = subprocess.Popen(["dbus-daemon", "--config-file", conf, "--nofork", "--nopidfile", "--print-address"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().strip()


class Agent:
    bus_address = None

    def __init__(self, kind, exe, transport, workdir, extra=(), method="virtio-serial"):
        """transport "pty": the agent serves the slave of a pty through `method` (virtio-serial or
        isa-serial), the benchmark is the host on the master."""
        self.kind, self.transport = kind, transport
        self.dir = tempfile.mkdtemp(dir=workdir, prefix="%s-%s-" % (kind, transport))
        self.master = None
        if transport == "unix":
            self.path = os.path.join(self.dir, "s")
            method = "unix-listen"
        else:
            self.master, slave = pty.openpty()
            tty.setraw(slave)
            self.path = os.ttyname(slave)
            self._slave = slave
        if kind == "phoenix-ga":
            cmd = [exe, "-m", method, "-p", self.path] + list(extra) + os.environ.get("PHX_BENCH_ARGS", "").split()
        else:
            state = os.path.join(self.dir, "state")
            os.mkdir(state)
            cmd = ["qemu-ga", "-m", method, "-p", self.path, "-t", state, "-b", QGA_BLOCK,
                   "-f", os.path.join(self.dir, "pid")]
        env = dict(os.environ)
        if Agent.bus_address:
            env["DBUS_SYSTEM_BUS_ADDRESS"] = Agent.bus_address
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid
        if transport == "unix":
            for _ in range(500):
                if os.path.exists(self.path):
                    break
                time.sleep(0.01)
        else:
            time.sleep(0.3)
            os.close(self._slave)
        self.conn = None

    def connect(self):
        if self.transport == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.path)
            self._sock = s
            self.conn = Conn(s.fileno(), s.close)
        else:
            self.conn = Conn(self.master, lambda: None)
        return self.conn

    def hang_up(self):
        if self.transport == "unix":
            self.conn.close()
        else:
            os.close(self.master)
            self.master = None
        self.conn = None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.master is not None:
            os.close(self.master)

    # protocol dialects -------------------------------------------------------
    def ping_msg(self, i=0):
        if self.kind == "phoenix-ga":
            return b'{"execute":"ping","tag":"%d"}\n' % i
        return b'{"execute":"guest-ping"}\n'

    def call(self, name, args):
        if self.kind == "qemu-ga":
            name = {"file-open": "guest-file-open", "file-read": "guest-file-read",
                    "file-write": "guest-file-write", "file-close": "guest-file-close"}[name]
            args = {{"handle_id": "handle", "bufb64": "buf-b64"}.get(k, k): v for k, v in args.items()}
        self.conn.send(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        reply = self.conn.line()
        if b'"error"' in reply[:20]:
            raise RuntimeError("%s %s: %s" % (self.kind, name, reply[:300]))
        return reply

    def open(self, path, mode):
        return json.loads(self.call("file-open", {"path": path, "mode": mode}))["return"]

    def read_file(self, path, chunk):
        h = self.open(path, "r")
        key = b'"bufb64":"' if self.kind == "phoenix-ga" else b'"buf-b64": "'
        total = 0
        while True:
            reply = self.call("file-read", {"handle_id": h, "count": chunk})
            # lean parsing: the payload is measured, not decoded, so the client costs the
            # same for both agents and stays well below their cost (tests check content)
            i = reply.index(key) + len(key)
            j = reply.index(b'"', i)
            total += (j - i) // 4 * 3 - reply.count(b"=", j - 2, j)
            if b'"eof":true' in reply or b'"eof": true' in reply:
                break
        if self.kind == "qemu-ga":
            self.call("file-close", {"handle_id": h})
        assert total == os.path.getsize(path), (self.kind, total)
        return total

    def write_requests(self, path, data, chunk):
        """Opens the file and encodes every request up front, outside the timed part."""
        h = self.open(path, "w")
        ours = self.kind == "phoenix-ga"
        msgs = [json.dumps({"execute": "file-write" if ours else "guest-file-write",
                            "arguments": {"handle_id" if ours else "handle": h,
                                          "bufb64" if ours else "buf-b64":
                                          base64.b64encode(data[off:off + chunk]).decode()}}).encode() + b"\n"
                for off in range(0, len(data), chunk)]
        return h, msgs

    def send_writes(self, msgs):
        for m in msgs:
            self.conn.send(m)
            reply = self.conn.line()
            if b'"error"' in reply[:20]:
                raise RuntimeError("%s write: %s" % (self.kind, reply[:300]))


# ---------------------------------------------------------------- benchmark
def best_rate(fn, size, chunks):
    best = (0.0, None)
    for c in chunks:
        secs = fn(c)
        rate = size / MiB / secs
        if rate > best[0]:
            best = (rate, c)
    return best


def timed(fn, *args):
    t0 = time.monotonic()
    fn(*args)
    return time.monotonic() - t0


def bus_owner_path():
    """The Path property of whoever owns the agent's name on the private bus, or None."""
    out = subprocess.run(["busctl", "--address=" + Agent.bus_address, "get-property", BUS_NAME, BUS_PATH,
                          BUS_NAME, "Path"], capture_output=True, text=True)
    return json.loads(out.stdout.split(None, 1)[1]) if out.returncode == 0 else None


def start_dbus_agent(exe, transport, workdir, **kw):
    """A phoenix-ga that owns the bus name before any other phoenix-ga starts, so the
    figures labelled "D-Bus on" are those of the agent that really publishes."""
    a = Agent("phoenix-ga", exe, transport, workdir, **kw)
    deadline = time.monotonic() + 10
    while bus_owner_path() != a.path:
        if time.monotonic() > deadline:
            sys.exit("phoenix-ga never owned %s on the benchmark's bus" % BUS_NAME)
        time.sleep(0.05)
    return a


def ping_cpu(agents, pings, rounds):
    """Agent CPU (us) and round trip (us) per sequential ping, one request in flight.
    The agents take turns, `rounds` times, and each keeps its median: the two cores are
    shared, and turns spread any disturbance over all agents instead of one."""
    cpu = {key: [] for key in agents}
    rtt = {key: [] for key in agents}
    sw = {key: [] for key in agents}
    for _ in range(rounds):
        for key, a in agents.items():
            c0, s0 = cpu_ns(a.pid), switches(a.pid)
            t0 = time.monotonic()
            for i in range(pings):
                a.conn.send(a.ping_msg(i))
                a.conn.line()
            rtt[key].append((time.monotonic() - t0) * 1e6 / pings)
            cpu[key].append((cpu_ns(a.pid) - c0) / 1e3 / pings)
            sw[key].append((switches(a.pid) - s0) / pings)
    med = lambda v: sorted(v)[len(v) // 2]
    return {key: (med(cpu[key]), med(rtt[key]), min(cpu[key]), max(cpu[key]), med(sw[key])) for key in agents}


# ---------------------------------------------------------------- qemu-ga's dialect, pipelined
def qga_requests(n):
    """n requests in qemu-ga's dialect, guest-sync and guest-ping in turn, ids 0..n-1; a
    guest-sync also carries its id as the argument it must return."""
    return b"".join(b'{"execute":"guest-sync","arguments":{"id":%d},"id":%d}\n' % (i, i) if i % 2 == 0
                    else b'{"execute":"guest-ping","id":%d}\n' % i for i in range(n))


def check_qga_replies(data, n):
    """Every id must come back once, in the order sent, as a success (a guest-sync's return
    value its own id). Returns (good replies, lost ids, problems)."""
    ids, problems = [], []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            i, ret = r["id"], r["return"]
        except (ValueError, KeyError, TypeError):
            problems.append("not a success reply with an id: %r" % line[:100])
            continue
        if i % 2 == 0 and ret != i:
            problems.append("guest-sync %d returned %r" % (i, ret))
            continue
        ids.append(i)
    if len(set(ids)) != len(ids):
        problems.append("%d ids answered twice" % (len(ids) - len(set(ids))))
    if any(a >= b for a, b in zip(ids, ids[1:])):
        problems.append("replies out of order")
    return len(ids), n - len(set(ids) & set(range(n))), problems


def qga_pipelined(opts, work):
    """Both agents on a pty (the same method, the benchmark on the master), each sent the
    same opts.qga_pipeline qemu-ga-dialect requests back to back while replies are read;
    fresh agents for each of opts.qga_rounds turns, median rate kept. phoenix-ga runs with
    D-Bus on and owns the name (its per-request cost included)."""
    n, data = opts.qga_pipeline, qga_requests(opts.qga_pipeline)
    runs = {"phoenix-ga": [], "qemu-ga": []}
    for _ in range(opts.qga_rounds):
        for kind in runs:
            if kind == "phoenix-ga":
                a = start_dbus_agent(opts.agent, "pty", work, method=opts.qga_method)
            else:
                a = Agent(kind, opts.agent, "pty", work, method=opts.qga_method)
            try:
                conn = a.connect()
                keep = []
                c0 = cpu_ns(a.pid)
                _, secs = conn.pipeline(data, n, keep=keep)
                cpu = (cpu_ns(a.pid) - c0) / 1e3 / n
            finally:
                a.stop()
            good, lost, problems = check_qga_replies(b"".join(keep), n)
            # requests/s counts every request as served by the time of the last reply: the
            # figure that does not reward an agent for losing replies
            runs[kind].append((good / secs if secs > 0 else 0, lost, problems, cpu, n / secs if secs > 0 else 0))
    res = {}
    for kind, v in runs.items():
        v.sort(key=lambda r: r[0])
        rate, lost, problems, cpu, reqs = v[len(v) // 2]
        res[kind, "qga_pipe"] = (rate, lost, problems, cpu, min(r[0] for r in v), max(r[0] for r in v),
                                 sum(r[1] for r in v), sorted(r[4] for r in v)[len(v) // 2])
    return res


def report_qga_pipelined(res, opts):
    P, Q = res["phoenix-ga", "qga_pipe"], res["qemu-ga", "qga_pipe"]
    print("qemu-ga's dialect, %d guest-sync/guest-ping requests written back to back, phoenix-ga with D-Bus on, both on "
          "a pty (-m %s), %d turns with fresh agents, median turn (min-max):" % (opts.qga_pipeline, opts.qga_method,
                                                                              opts.qga_rounds))
    print()
    print("| figure | transport | qemu-ga | phoenix-ga | ratio / target |")
    print("|---|---|---|---|---|")
    cell = lambda r: "%.0f/s (%.0f-%.0f), %d lost%s" % (r[0], r[4], r[5], r[1],
                                                       "" if r[6] == r[1] else ", %d lost over all turns" % r[6])
    print("| pipelined guest-sync/guest-ping, replies per second | pty | %s | %s | %.1fx (target >= 3x, none lost) |"
          % (cell(Q), cell(P), P[0] / Q[0] if Q[0] else float("inf")))
    print("| pipelined, requests per second to the last reply | pty | %.0f/s | %.0f/s | %.1fx |"
          % (Q[7], P[7], P[7] / Q[7] if Q[7] else float("inf")))
    print("| agent CPU per pipelined request | pty | %.1f us | %.1f us | %.2f |" % (Q[3], P[3], P[3] / Q[3]))
    for kind, r in (("qemu-ga", Q), ("phoenix-ga", P)):
        for p in r[2][:3]:
            print("  %s (median turn): %s" % (kind, p))


# ---------------------------------------------------------------- channels and clients (issue 14)
def channels_idle(opts, work):
    """One agent, three channels (two ptys, isa-serial, and a unix socket): its context
    switches over an idle window with a host on every channel, silent, then with none (the
    ptys hung up, the socket's client gone)."""
    d = tempfile.mkdtemp(dir=work, prefix="channels-")
    ptys = []
    for _ in range(2):
        master, slave = pty.openpty()
        tty.setraw(slave)
        ptys.append((master, slave, os.ttyname(slave)))
    sock = os.path.join(d, "s")
    env = dict(os.environ)
    if Agent.bus_address:
        env["DBUS_SYSTEM_BUS_ADDRESS"] = Agent.bus_address
    proc = subprocess.Popen([opts.agent, "--no-config", "--runtime-dir", os.path.join(d, "run"),
                             "-p", "isa-serial:" + ptys[0][2], "-p", "isa-serial:" + ptys[1][2],
                             "-p", "unix-listen:" + sock], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    res = {}
    try:
        client = None
        for _ in range(1000):
            try:
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.connect(sock)
                break
            except OSError:
                client.close()
                client = None
                time.sleep(0.01)
        assert client is not None, "the three-channel agent did not listen"
        for _, slave, _ in ptys:
            os.close(slave)
        # every channel answers once: a host is attached on each
        for master, _, _ in ptys:
            c = Conn(master, lambda: None)
            c.send(b'{"execute":"ping","tag":"c"}\n')
            c.line(10)
        cc = Conn(client.fileno(), client.close)
        cc.send(b'{"execute":"ping","tag":"c"}\n')
        cc.line(10)
        for phase in ("attached", "detached"):
            if phase == "detached":
                client.close()
                for master, _, _ in ptys:
                    os.close(master)
            time.sleep(opts.settle_seconds)
            s0, c0 = switches(proc.pid), cpu_ns(proc.pid)
            time.sleep(opts.idle_seconds)
            res["channels", "idle_" + phase] = switches(proc.pid) - s0
            res["channels", "idlecpu_" + phase] = (cpu_ns(proc.pid) - c0) / 1e9
    finally:
        proc.terminate()
        proc.wait(10)
    return res


def clients_pipelined(opts, work):
    """N clients of one unix-listen agent at once, each pipelining its own tagged pings; the
    total rate up to the last reply, and every client's replies counted and checked its own."""
    res = {}
    for n in opts.clients:
        d = tempfile.mkdtemp(dir=work, prefix="clients-")
        sock = os.path.join(d, "s")
        proc = subprocess.Popen([opts.agent, "--no-config", "--no-dbus", "--runtime-dir", os.path.join(d, "run"),
                                 "-m", "unix-listen", "-p", sock, "--clients-max", str(max(n, 1))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            conns = []
            for i in range(n):
                for _ in range(1000):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    try:
                        s.connect(sock)
                        break
                    except OSError:
                        s.close()
                        time.sleep(0.01)
                s.setblocking(False)
                conns.append(s)
            per = opts.client_pings
            out = {s: memoryview(b"".join(b'{"execute":"ping","tag":"c%d-%d"}\n' % (i, k) for k in range(per)))
                   for i, s in enumerate(conns)}
            got = {s: bytearray() for s in conns}
            lines = {s: 0 for s in conns}
            start = time.monotonic()
            last = start
            while any(lines[s] < per for s in conns):
                w = [s for s in conns if out[s]]
                r, w, _ = select.select([s for s in conns if lines[s] < per], w, [], 5)
                if not r and not w:
                    break  # nothing moves for 5 s: what is missing is lost
                for s in w:
                    try:
                        out[s] = out[s][s.send(out[s][:65536]):]
                    except BlockingIOError:
                        pass
                for s in r:
                    chunk = s.recv(1 << 20)
                    if chunk:
                        got[s] += chunk
                        lines[s] += chunk.count(b"\n")
                        last = time.monotonic()
            total = sum(lines.values())
            crossed = 0
            for i, s in enumerate(conns):
                for line in bytes(got[s]).split(b"\n"):
                    if line and b'"tag":"c%d-' % i not in line:
                        crossed += 1
                s.close()
            res["clients", n, "rate"] = total / (last - start) if last > start else 0
            res["clients", n, "lost"] = n * per - total
            res["clients", n, "crossed"] = crossed
        finally:
            proc.terminate()
            proc.wait(10)
    return res


def report_channels(res, opts):
    print("### Several channels and clients (issue 14)")
    print()
    print("| one agent, three channels (2 ptys, 1 unix socket) | context switches in %.0f s | CPU s |"
          % opts.idle_seconds)
    print("|---|---|---|")
    for phase, what in (("attached", "a silent host on every channel"), ("detached", "no host on any")):
        print("| %s | %d | %.3f |" % (what, res["channels", "idle_" + phase], res["channels", "idlecpu_" + phase]))
    print()
    print("| clients pipelining pings at once | pings each | total replies/s | lost | crossed |")
    print("|---|---|---|---|---|")
    for n in opts.clients:
        print("| %d | %d | %.0f | %d | %d |" % (n, opts.client_pings, res["clients", n, "rate"],
                                            res["clients", n, "lost"], res["clients", n, "crossed"]))


def memory_floor(exe):
    """Anonymous KiB of tests/bench/memory-floor: the mandated libraries set up, nothing else.
    G_SLICE as the agent itself chooses it on GLib < 2.76 (see main.c)."""
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=Agent.bus_address, G_SLICE="always-malloc")
    proc = subprocess.Popen([exe], env=env, stdout=subprocess.PIPE, text=True)
    try:
        state = proc.stdout.readline().strip()
        assert state == "ready", "memory-floor did not own its name: %r" % state
        time.sleep(1)
        return anon_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "src", "phoenix-ga"))
    ap.add_argument("--floor", default=os.path.join(ROOT, "build", "tests", "memory-floor"))
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--pings", type=int, default=20000,
                    help="sequential pings per agent, split into --ping-rounds turns")
    ap.add_argument("--ping-rounds", type=int, default=5)
    ap.add_argument("--pin", default="none", choices=["none", "same", "split"],
                    help="sequential pings with host and agents on one core (same), on two (split), "
                         "or where the scheduler puts them (none)")
    ap.add_argument("--only-ping", action="store_true",
                    help="only the sequential-ping figures (D-Bus on, --no-dbus, qemu-ga), in ~a minute")
    ap.add_argument("--settle-seconds", type=float, default=20,
                    help="quiet time before each idle window, so threads that served the start-up "
                         "(GLib's worker pool retires idle threads after 15 s) are gone")
    ap.add_argument("--qga-pipeline", type=int, default=10000,
                    help="qemu-ga-dialect requests written back to back in the pipelined section")
    ap.add_argument("--qga-rounds", type=int, default=3)
    ap.add_argument("--qga-method", default="isa-serial", choices=["isa-serial", "virtio-serial"],
                    help="how both agents serve their pty in the pipelined qemu-ga-dialect section")
    ap.add_argument("--only-channels", action="store_true",
                    help="only the three-channel idle rows and the concurrent clients")
    ap.add_argument("--clients", default="1,4,8",
                    help="numbers of clients pipelining pings at once (comma-separated)")
    ap.add_argument("--client-pings", type=int, default=10000)
    ap.add_argument("--only-qga-pipeline", action="store_true",
                    help="only the pipelined qemu-ga-dialect section")
    opts = ap.parse_args()
    if shutil.which("qemu-ga") is None:
        # Debian's own package, the reference every figure is compared with
        subprocess.run(["sh", "-c", ". '%s/scripts/deps.sh'; phx_install_deps qemu-guest-agent" % ROOT])
    if shutil.which("qemu-ga") is None:
        sys.exit("qemu-ga not found: apt-get install qemu-guest-agent")
    work = tempfile.mkdtemp(prefix="phx-bench-")
    bus, Agent.bus_address = start_bus(work)
    opts.clients = [int(x) for x in opts.clients.split(",")]
    if opts.only_channels:
        try:
            res = channels_idle(opts, work)
            res.update(clients_pipelined(opts, work))
        finally:
            bus.kill()
            shutil.rmtree(work, ignore_errors=True)
        print_machine()
        report_channels(res, opts)
        return
    if opts.only_qga_pipeline:
        try:
            res = qga_pipelined(opts, work)
        finally:
            bus.kill()
            shutil.rmtree(work, ignore_errors=True)
        print_machine()
        report_qga_pipelined(res, opts)
        return
    if opts.only_ping:
        try:
            res = sequential_pings(opts, work, None)
        finally:
            bus.kill()
            shutil.rmtree(work, ignore_errors=True)
        report_pings(res, opts)
        return
    res = {"floor": memory_floor(opts.floor)}
    agents = start_agents(opts.agent, work)
    try:
        for (k, t), a in agents.items():
            a.connect()
            a.conn.send(a.ping_msg())
            a.conn.line(10)
            res[k, t, "anon_start"] = anon_kib(a.pid)

        # idle, host attached and silent, then no host (socket closed / pty hung up)
        for phase in ("attached", "detached"):
            if phase == "detached":
                for a in agents.values():
                    a.hang_up()
            time.sleep(opts.settle_seconds)
            before = {key: (switches(a.pid), cpu_ns(a.pid)) for key, a in agents.items()}
            time.sleep(opts.idle_seconds)
            for key, a in agents.items():
                s0, c0 = before[key]
                res[key + ("idle_" + phase,)] = switches(a.pid) - s0
                res[key + ("idlecpu_" + phase,)] = (cpu_ns(a.pid) - c0) / 1e9

        for a in agents.values():
            a.stop()
        # fresh agents for the active figures (a hung-up pty cannot be reattached)
        agents = start_agents(opts.agent, work)
        for a in agents.values():
            a.connect()
            a.conn.send(a.ping_msg())
            a.conn.line(10)
        res.update(sequential_pings(opts, work, agents))
        for (k, t), a in agents.items():
            # pipelined pings
            n = 10000
            got, secs = a.conn.pipeline(b"".join(a.ping_msg(i) for i in range(n)), n)
            res[k, t, "pipe_lost"] = n - got
            res[k, t, "pipe_rate"] = got / secs if secs > 0 else 0

        src = os.path.join(work, "src.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(256 * MiB))
        wdata = os.urandom(64 * MiB)
        for k in ("phoenix-ga", "qemu-ga"):
            a = agents[k, "unix"]
            rate, chunk = best_rate(lambda c: timed(a.read_file, src, c), 256 * MiB,
                                    [MiB, 4 * MiB, 16 * MiB, 48 * MiB])
            res[k, "unix", "read"] = (rate, chunk)
            dst = os.path.join(work, "dst-" + k)

            def write(c):
                h, msgs = a.write_requests(dst, wdata, c)
                secs = timed(a.send_writes, msgs)
                a.call("file-close", {"handle_id": h})
                return secs
            rate, chunk = best_rate(write, 64 * MiB, [MiB, 4 * MiB, 16 * MiB, 32 * MiB])
            res[k, "unix", "write"] = (rate, chunk)
            with open(dst, "rb") as f:
                assert f.read() == wdata, "%s wrote a corrupt file" % k
            # pings above + transfers: what does the agent keep?
            for i in range(10000):
                a.conn.send(a.ping_msg(i))
                a.conn.line()
            time.sleep(1)
            res[k, "unix", "anon_after"] = anon_kib(a.pid)
        for a in agents.values():
            a.stop()
        agents = {}
        res.update(qga_pipelined(opts, work))
        res.update(channels_idle(opts, work))
        res.update(clients_pipelined(opts, work))
    finally:
        for a in agents.values():
            a.stop()
        bus.kill()
        shutil.rmtree(work, ignore_errors=True)
    report(res, opts)
    print()
    report_qga_pipelined(res, opts)
    print()
    report_channels(res, opts)


def start_agents(exe, work):
    agents = {("phoenix-ga", "unix"): start_dbus_agent(exe, "unix", work)}
    for k, t in (("phoenix-ga", "pty"), ("qemu-ga", "unix"), ("qemu-ga", "pty")):
        agents[k, t] = Agent(k, exe, t, work)
    return agents


def pin(how, agents):
    """Where the benchmark (the host) and the agents run. A request-reply exchange costs the
    agent about twice as much when it sleeps on the other core than the host's (the wake-up
    is an inter-processor interrupt, a VM exit here), and the scheduler picks anew for each
    turn: "same" (all on CPU 0) and "split" (host on 0, agents on 1) take that choice away."""
    cpus = set(range(os.cpu_count()))
    host, agent = {"none": (cpus, cpus), "same": ({0}, {0}), "split": ({0}, {1})}[how]
    os.sched_setaffinity(0, host)
    for a in agents:
        for t in tasks(a.pid):
            try:
                os.sched_setaffinity(int(t.rsplit("/", 1)[1]), agent)
            except OSError:
                pass  # a thread that has just ended


def sequential_pings(opts, work, agents):
    """The unix-socket agents of `agents` (or fresh ones) and a phoenix-ga started with
    --no-dbus take turns at sequential pings."""
    own = agents is None
    if own:
        agents = {("phoenix-ga", "unix"): start_dbus_agent(opts.agent, "unix", work),
                  ("qemu-ga", "unix"): Agent("qemu-ga", opts.agent, "unix", work)}
    nodbus = Agent("phoenix-ga", opts.agent, "unix", work, extra=["--no-dbus"])
    turn = {"phoenix-ga": agents["phoenix-ga", "unix"], NODBUS: nodbus, "qemu-ga": agents["qemu-ga", "unix"]}
    try:
        for a in turn.values():
            if a.conn is None:
                a.connect()
                a.conn.send(a.ping_msg())
                a.conn.line(10)
        assert bus_owner_path() == turn["phoenix-ga"].path, "the D-Bus agent lost its name"
        pin(opts.pin, turn.values())
        per = max(1, opts.pings // opts.ping_rounds)
        res = {}
        for k, (c, r, lo, hi, sw) in ping_cpu(turn, per, opts.ping_rounds).items():
            res[k, "unix", "ping_us"], res[k, "unix", "ping_rtt_us"] = c, r
            res[k, "unix", "ping_range"] = (lo, hi)
            res[k, "unix", "ping_switches"] = sw
        return res
    finally:
        pin("none", turn.values())
        nodbus.stop()
        if own:
            for a in agents.values():
                a.stop()


def print_machine():
    cpu = [l for l in open("/proc/cpuinfo") if l.startswith("model name")]
    print("Machine: %s, %d cores, %s; kernel %s; %s; qemu-ga %s" % (
        cpu[0].split(":", 1)[1].strip() if cpu else platform.processor(), os.cpu_count(),
        "%.0f GiB RAM" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        platform.release(), time.strftime("%Y-%m-%d"),
        subprocess.run(["qemu-ga", "--version"], capture_output=True, text=True).stdout.split()[-1]))
    print()


def report_pings(res, opts, header=True):
    P, Q = "phoenix-ga", "qemu-ga"
    if header:
        print_machine()
        print("Sequential pings on the unix socket: %d per agent in %d turns, median turn (min-max); "
              "cores: %s." % (opts.pings, opts.ping_rounds,
                              {"none": "as scheduled", "same": "host and agents on CPU 0",
                               "split": "host on CPU 0, agents on CPU 1"}[opts.pin]))
        print()
        print("| figure | transport | qemu-ga | phoenix-ga | ratio / target |")
        print("|---|---|---|---|---|")
    q = res[Q, "unix", "ping_us"]
    for k, name in ((P, "D-Bus on"), (NODBUS, "--no-dbus")):
        p = res[k, "unix", "ping_us"]
        print("| agent CPU per sequential ping, %s | unix | %.1f us (%.1f-%.1f) | %.1f us (%.1f-%.1f) | "
              "%.2f (target <= 0.67) |" % (name, q, *res[Q, "unix", "ping_range"], p, *res[k, "unix", "ping_range"],
                                         p / q))
    # a figure the machine's load does not move: each extra sleep is a wake-up paid per request
    print("| context switches per sequential ping, D-Bus on / --no-dbus | unix | %.2f | %.2f / %.2f |  |" % (
        res[Q, "unix", "ping_switches"], res[P, "unix", "ping_switches"], res[NODBUS, "unix", "ping_switches"]))
    print("| sequential ping round trip, D-Bus on | unix | %.1f us | %.1f us |  |" % (
        res[Q, "unix", "ping_rtt_us"], res[P, "unix", "ping_rtt_us"]))


def report(res, opts):
    P, Q = "phoenix-ga", "qemu-ga"
    day = 86400 / opts.idle_seconds
    print("phoenix-ga ran with its D-Bus state published on a private system-like bus.")
    print_machine()
    print("| figure | transport | qemu-ga | phoenix-ga | ratio / target |")
    print("|---|---|---|---|---|")

    def row(name, t, q, p, note):
        print("| %s | %s | %s | %s | %s |" % (name, t, q, p, note))

    for t in ("unix", "pty"):
        row("context switches in %ds idle, host attached" % opts.idle_seconds, t,
            res[Q, t, "idle_attached"], res[P, t, "idle_attached"], "target 0")
        row("context switches in %ds idle, no host / hung up" % opts.idle_seconds, t,
            res[Q, t, "idle_detached"], res[P, t, "idle_detached"], "target 0")
    row("wake-ups per day, pty hung up", "pty", "%.0f" % (res[Q, "pty", "idle_detached"] * day),
        "%.0f" % (res[P, "pty", "idle_detached"] * day), "target 0")
    row("CPU-seconds per day, pty hung up", "pty", "%.1f" % (res[Q, "pty", "idlecpu_detached"] * day),
        "%.1f" % (res[P, "pty", "idlecpu_detached"] * day), "")
    row("anonymous memory after start", "unix", "%.2f MiB" % (res[Q, "unix", "anon_start"] / 1024),
        "%.2f MiB" % (res[P, "unix", "anon_start"] / 1024), "target <= 0.5 MiB")
    row("anonymous memory, mandated libraries alone (memory-floor)", "-", "-",
        "%.2f MiB" % (res["floor"] / 1024), "floor under the figure above")
    row("anonymous memory after pings + transfers", "unix", "%.2f MiB" % (res[Q, "unix", "anon_after"] / 1024),
        "%.2f MiB" % (res[P, "unix", "anon_after"] / 1024), "target <= 2 MiB")
    report_pings(res, opts, header=False)
    for t in ("unix", "pty"):
        q, p = res[Q, t, "pipe_rate"], res[P, t, "pipe_rate"]
        row("pipelined pings (10,000 at once)", t, "%.0f/s, %d lost" % (q, res[Q, t, "pipe_lost"]),
            "%.0f/s, %d lost" % (p, res[P, t, "pipe_lost"]), "%.1fx (target >= 2x, none lost)" % (p / q if q else float("inf")))
    for what, size in (("read", 256), ("write", 64)):
        (q, qc), (p, pc) = res[Q, "unix", what], res[P, "unix", what]
        row("%d MiB file %s, best chunk" % (size, what), "unix", "%.0f MiB/s (%d MiB)" % (q, qc // MiB),
            "%.0f MiB/s (%d MiB)" % (p, pc // MiB), "%.1fx (target >= 5x)" % (p / q))


if __name__ == "__main__":
    main()
