#!/usr/bin/python3
"""Agent CPU per MiB of guest-file-read and guest-file-write: phoenix-ga against Debian's
qemu-ga 7.2, side by side in one run, on identical qemu-ga-dialect requests over a unix
socket (issue 12, item 8: ours must be at most 1/5 of qemu-ga's). Prints a Markdown table
for doc/performance.md.

    /usr/bin/python3 scripts/bench-qga-files.py [--size-mib 64] [--chunks-mib 1,4] [--rounds 3]
        [--agent build/src/phoenix-ga]

CPU is utime+stime from /proc/PID/stat (every thread, the exited ones too) read before and
after each transfer; the client's own work (base64 of what it writes, parsing what it
reads) is not counted, and every request is encoded before the clock starts. Rounds
alternate the agents so that both see the same machine load; the table gives the median
round. Each transfer is checked: what was read equals the file, what was written is the
file."""
import argparse
import base64
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1024 * 1024
TICK = os.sysconf("SC_CLK_TCK")
QEMU_GA = shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"


def cpu_seconds(pid):
    """utime + stime of the whole process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Agent:
    def __init__(self, name, argv, sock_path, log_path):
        self.name = name
        self.sock_path = sock_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(sock_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                assert self.proc.poll() is None, "%s exited: see %s" % (name, log_path)
                assert time.monotonic() < deadline, "%s not listening" % name
                time.sleep(0.01)
            finally:
                s.close()
        # one connection for the whole run (qemu-ga serves one client at a time, as we do)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * MiB)
        self.sock.connect(sock_path)
        self.sock.settimeout(120)
        self.buf = bytearray()
        self.chunk = memoryview(bytearray(8 * MiB))

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """The next reply. The socket is drained as fast as Python can (a newline is looked
        for only in what just came): qemu-ga retries a write that would block in a loop, so a
        slow reader would show up as qemu-ga CPU."""
        scanned = 0
        while True:
            i = self.buf.find(b"\n", scanned)
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                r = json.loads(line)
                assert "error" not in r, "%s: %r" % (self.name, r)
                return r["return"]
            scanned = len(self.buf)
            n = self.sock.recv_into(self.chunk)
            assert n, "%s closed the connection" % self.name
            self.buf += self.chunk[:n]

    def call(self, execute, arguments):
        self.send(json.dumps({"execute": execute, "arguments": arguments}).encode())
        return self.reply()

    def stop(self):
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def read_file(agent, path, chunk, expect_digest):
    """CPU seconds the agent spent serving `path` in reads of `chunk` bytes."""
    h = agent.call("guest-file-open", {"path": path, "mode": "r"})
    req = json.dumps({"execute": "guest-file-read", "arguments": {"handle": h, "count": chunk}}).encode()
    digest = hashlib.sha256()
    before = cpu_seconds(agent.proc.pid)
    while True:
        agent.send(req)
        r = agent.reply()
        digest.update(base64.b64decode(r["buf-b64"]))
        if r["eof"]:
            break
    used = cpu_seconds(agent.proc.pid) - before
    agent.call("guest-file-close", {"handle": h})
    assert digest.hexdigest() == expect_digest, "%s read something else" % agent.name
    return used


def write_file(agent, path, requests, expect_digest):
    """CPU seconds the agent spent writing `path` from the pre-encoded `requests`."""
    h = agent.call("guest-file-open", {"path": path, "mode": "w"})
    lines = [r.replace(b'"handle": 0', b'"handle": %d' % h) for r in requests]
    before = cpu_seconds(agent.proc.pid)
    for line in lines:
        agent.send(line)
        agent.reply()
    used = cpu_seconds(agent.proc.pid) - before
    agent.call("guest-file-close", {"handle": h})
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == expect_digest, "%s wrote something else" % agent.name
    os.unlink(path)
    return used


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%s, %d CPUs, Linux %s" % (model, os.cpu_count(), platform.release())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", default=os.path.join(ROOT, "build/src/phoenix-ga"))
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--chunks-mib", default="1,4")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    chunks = [int(c) * MiB for c in args.chunks_mib.split(",")]

    work = tempfile.mkdtemp(prefix="phx-bench-qga-files-")
    agents = []
    try:
        os.mkdir(os.path.join(work, "qga-state"))
        agents.append(Agent("qemu-ga", [QEMU_GA, "-m", "unix-listen", "-p", os.path.join(work, "qga.sock"),
                                        "-t", os.path.join(work, "qga-state"),
                                        "-f", os.path.join(work, "qga.pid")],
                            os.path.join(work, "qga.sock"), os.path.join(work, "qga.log")))
        agents.append(Agent("phoenix-ga", [args.agent, "-m", "unix-listen", "-p", os.path.join(work, "phx.sock"),
                                           "--no-config", "--no-dbus", "--runtime-dir", os.path.join(work, "run")],
                            os.path.join(work, "phx.sock"), os.path.join(work, "phx.log")))
        data = os.urandom(args.size_mib * MiB)
        digest = hashlib.sha256(data).hexdigest()
        src = os.path.join(work, "src.bin")
        with open(src, "wb") as f:
            f.write(data)
        results = {}  # (direction, chunk, agent) -> [cpu seconds per MiB]
        for chunk in chunks:
            requests = [json.dumps({"execute": "guest-file-write",
                                    "arguments": {"handle": 0,
                                                  "buf-b64": base64.b64encode(data[o:o + chunk]).decode()}}).encode()
                        for o in range(0, len(data), chunk)]
            for rnd in range(args.rounds):
                order = agents if rnd % 2 == 0 else agents[::-1]
                for a in order:
                    used = read_file(a, src, chunk, digest)
                    results.setdefault(("read", chunk, a.name), []).append(used / args.size_mib)
                for a in order:
                    used = write_file(a, os.path.join(work, "dst-%s.bin" % a.name), requests, digest)
                    results.setdefault(("write", chunk, a.name), []).append(used / args.size_mib)
            del requests

        print("Machine: %s; %d MiB file, %d rounds, median round shown (ms of agent CPU per MiB)."
              % (machine(), args.size_mib, args.rounds))
        print()
        print("| transfer | chunk | qemu-ga 7.2 | phoenix-ga | ratio (phoenix/qemu-ga) | target |")
        print("|---|---|---|---|---|---|")
        worst = 0.0
        for direction in ("read", "write"):
            for chunk in chunks:
                q = statistics.median(results[(direction, chunk, "qemu-ga")])
                p = statistics.median(results[(direction, chunk, "phoenix-ga")])
                ratio = p / q if q > 0 else float("inf")
                worst = max(worst, ratio)
                print("| guest-file-%s | %d MiB | %.1f ms/MiB | %.1f ms/MiB | 1/%.1f | %s |"
                      % (direction, chunk // MiB, q * 1000, p * 1000, 1 / ratio if ratio > 0 else float("inf"),
                         "met" if ratio <= 0.2 else "NOT met"))
        print()
        print("all rounds (ms/MiB):", json.dumps({"%s %dMiB %s" % (d, c // MiB, n): [round(v * 1000, 2) for v in vs]
                                                  for (d, c, n), vs in results.items()}))
        return 0 if worst <= 0.2 else 1
    finally:
        for a in agents:
            a.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
