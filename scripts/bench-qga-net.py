#!/usr/bin/python3
"""guest-network-get-interfaces (and guest-network-get-route) with many interfaces, phoenix-ga
and Debian's qemu-ga side by side in one run (issue 12, item 8: under 50 ms with 200).

Both agents run inside one private network namespace holding N veth interfaces (N/2 pairs),
each up with an IPv4 address and its IPv6 link-local one; the host's own network is never
touched. Each agent gets the same qemu-ga-dialect request on its own connection: one untimed
call, then --calls timed ones; a call is timed from its write to its whole reply line, and the
agent's CPU time (all threads, kernel included, from /proc/PID/stat) is divided over them:
on a loaded machine the wall time is mostly waiting for a CPU, the CPU time is not.

    sudo scripts/bench-qga-net.py [--interfaces 200] [--calls 15] [--agent build/src/phoenix-ga]

Prints one markdown row per agent and command (doc/performance.md keeps them)."""
import argparse
import json
import os
import pathlib
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
QEMU_GA = shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"


def make_namespace(name, interfaces):
    """A namespace with `interfaces` veth interfaces (pairs b<i>a/b<i>b), all up, each with an
    IPv4 address; one `ip -batch` so that building 200 takes a moment, not a minute."""
    subprocess.run(["ip", "netns", "add", name], check=True)
    lines = ["link set lo up"]
    for i in range(interfaces // 2):
        a, b = "b%da" % i, "b%db" % i
        lines.append("link add %s type veth peer name %s" % (a, b))
        lines.append("addr add 10.%d.%d.1/30 dev %s" % (100 + i // 250, i % 250, a))
        lines.append("addr add 10.%d.%d.2/30 dev %s" % (100 + i // 250, i % 250, b))
        lines.append("link set %s up" % a)
        lines.append("link set %s up" % b)
    subprocess.run(["ip", "-n", name, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def wait_listening(path, proc, deadline=30.0):
    end = time.monotonic() + deadline
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %r" % (proc.args[3], proc.returncode))
        if time.monotonic() > end:
            raise RuntimeError("%s not listening" % path)
        time.sleep(0.005)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(60)
        self.buf = b""

    def call(self, command):
        """(seconds, reply bytes, parsed reply) of one request."""
        t0 = time.perf_counter()
        self.sock.sendall(b'{"execute":"%s"}\n' % command.encode())
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("agent closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return time.perf_counter() - t0, len(line), json.loads(line)


def start(ns, argv, log):
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=log, stderr=subprocess.STDOUT)


def cpu_seconds(pid):
    """utime + stime of every thread the process has had (`ip netns exec` execs the agent,
    so the pid started is the agent's)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(conn, pid, command, calls):
    """(wall ms of each call, agent CPU ms per call, reply bytes, result)"""
    _, size, reply = conn.call(command)  # untimed: first-call costs are not what is measured
    if "return" not in reply:
        return None, None, size, reply["error"]["desc"]  # qemu-ga 7.2 has no guest-network-get-route
    times = []
    cpu0 = cpu_seconds(pid)
    for _ in range(calls):
        t, size, reply = conn.call(command)
        assert "return" in reply, reply
        times.append(t * 1000)
    return times, (cpu_seconds(pid) - cpu0) * 1000 / calls, size, reply["return"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interfaces", type=int, default=200)
    p.add_argument("--calls", type=int, default=15)
    p.add_argument("--agent", default=os.environ.get("PHX_AGENT", str(ROOT / "build" / "src" / "phoenix-ga")))
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: creates a network namespace")

    ns = "phx-bench-" + uuid.uuid4().hex[:8]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-qga-net-"))
    procs = []
    try:
        t0 = time.monotonic()
        make_namespace(ns, args.interfaces)
        built = time.monotonic() - t0
        (tmp / "state").mkdir()
        log = open(tmp / "log", "wb")
        agents = [
            ("phoenix-ga", [args.agent, "-m", "unix-listen", "-p", str(tmp / "phx.sock"), "--no-config",
                            "--runtime-dir", str(tmp / "run")], tmp / "phx.sock"),
            ("qemu-ga 7.2", [QEMU_GA, "-m", "unix-listen", "-p", str(tmp / "qga.sock"), "-t", str(tmp / "state")],
             tmp / "qga.sock"),
        ]
        conns = []
        for name, argv, path in agents:
            proc = start(ns, argv, log)
            procs.append(proc)
            conns.append((name, proc.pid, Conn(wait_listening(str(path), proc))))

        print("# %s, kernel %s, %d CPUs; namespace with %d veth interfaces + lo (built in %.1f s); "
              "%d timed calls each" % (platform.node(), platform.release(), os.cpu_count(), args.interfaces,
                                       built, args.calls))
        print("| command | agent | entries | reply bytes | median ms | min ms | max ms | agent CPU ms/call |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        names = {}
        for command in ("guest-network-get-interfaces", "guest-network-get-route"):
            for name, pid, conn in conns:
                times, cpu, size, ret = measure(conn, pid, command, args.calls)
                if command == "guest-network-get-interfaces":
                    names[name] = [e["name"] for e in ret]
                if times is None:
                    print("| %s | %s | — | — | %s | | | |" % (command, name, ret))
                    continue
                print("| %s | %s | %d | %d | %.1f | %.1f | %.1f | %.1f |"
                      % (command, name, len(ret), size, statistics.median(times), min(times), max(times), cpu))
        # the same listing, or the race is not a fair one
        assert len(set(map(tuple, names.values()))) == 1, "the agents list different interfaces"
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
