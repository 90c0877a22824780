#!/usr/bin/python3
"""The login terminal's costs (doc/performance.md, "Login terminal"): a keystroke's round trip
(a byte typed, its echo back through the terminal), and the terminal's output streamed to a
host that reads it all: MiB/s and the agent's CPU per MiB. qemu-ga has no terminal to compare
with; the reference is the same output read straight from a local pseudo-terminal in this
process (what the agent adds is the ratio).

    sudo /usr/bin/python3 scripts/bench-login.py [--agent build/src/phoenix-ga] [--mib 256]
"""
import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def frame(kind, payload=b""):
    return kind + struct.pack(">I", len(payload)) + payload


class Stream:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def frame(self):
        while True:
            if len(self.buf) >= 5:
                n = struct.unpack(">I", self.buf[1:5])[0]
                if len(self.buf) >= 5 + n:
                    kind, payload, self.buf = self.buf[:1], self.buf[5:5 + n], self.buf[5 + n:]
                    return kind, payload
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def output_until(self, marker):
        out = b""
        while marker not in out:
            kind, payload = self.frame()
            assert kind == b"o", (kind, payload)
            out = (out + payload)[-4096:]


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def local_pty_mib_per_s(mib):
    """The same command's output read straight from a pseudo-terminal here."""
    master, slave = os.openpty()
    proc = subprocess.Popen(["sh", "-c", "head -c %d /dev/zero | tr '\\0' x" % (mib << 20)],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    got, t0 = 0, time.perf_counter()
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the writer is gone
            break
        if not chunk:
            break
        got += len(chunk)
    elapsed = time.perf_counter() - t0
    proc.wait()
    os.close(master)
    assert got >= mib << 20, got
    return mib / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "src", "phoenix-ga"))
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--keys", type=int, default=500)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="phx-bench-login-")
    sock = os.path.join(tmp, "agent.sock")
    agent = subprocess.Popen([args.agent, "--no-config", "-m", "unix-listen", "-p", sock, "--no-dbus",
                              "--runtime-dir", os.path.join(tmp, "run")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                s = Stream(sock)
                break
            except OSError:
                assert time.monotonic() < deadline, "the agent did not come up"
                time.sleep(0.02)
        s.sock.sendall(json.dumps({"execute": "login", "arguments": {"user": "root"}, "tag": "b"}).encode() + b"\n")
        assert "return" in s.line()
        # a plain shell with the terminal echoing: `cat` reads a line at a time, the terminal
        # echoes every byte as it is typed
        s.sock.sendall(frame(b"i", b"exec /bin/sh\n"))
        s.sock.sendall(frame(b"i", b"PS1=; echo rea''dy\n"))
        s.output_until(b"ready")
        s.sock.sendall(frame(b"i", b"cat > /dev/null\n"))
        time.sleep(0.5)
        s.buf = b""
        # drain whatever is still coming (the prompt, the echo of the command)
        s.sock.settimeout(0.3)
        try:
            while s.sock.recv(65536):
                pass
        except socket.timeout:
            pass
        s.sock.settimeout(60)
        rtts = []
        for i in range(args.keys):
            key = b"abcdefghijklmnopqrstuvwxyz"[i % 26:i % 26 + 1]
            t0 = time.perf_counter()
            s.sock.sendall(frame(b"i", key))
            got = b""
            while key not in got:
                kind, payload = s.frame()
                got += payload
            rtts.append((time.perf_counter() - t0) * 1e6)
        s.sock.sendall(frame(b"i", b"\n\x04"))
        # output: the shell writes N MiB, the host reads it all
        s.sock.sendall(frame(b"i", b"echo sta''rt; head -c %d /dev/zero | tr '\\0' x; echo; echo do''ne\n" % (args.mib << 20)))
        s.output_until(b"start")
        t0, c0 = time.perf_counter(), cpu_ticks(agent.pid)
        s.output_until(b"done")
        elapsed, ticks = time.perf_counter() - t0, cpu_ticks(agent.pid) - c0
        hz = os.sysconf("SC_CLK_TCK")
        rtts.sort()
        print("login terminal, %s, %d cores" % (os.uname().release, os.cpu_count()))
        print("  keystroke echo round trip: median %.0f us, p99 %.0f us (%d keys)" %
              (statistics.median(rtts), rtts[int(len(rtts) * 0.99) - 1], len(rtts)))
        local = local_pty_mib_per_s(args.mib)
        print("  output: %d MiB in %.2f s = %.0f MiB/s (a local pty read directly: %.0f MiB/s, ratio %.2f); "
              "agent CPU %.2f ms per MiB" % (args.mib, elapsed, args.mib / elapsed, local,
                                             (args.mib / elapsed) / local, ticks * 1000 / hz / args.mib))
        with open("/proc/%d/status" % agent.pid) as f:
            hwm = [l for l in f if l.startswith("VmHWM")][0].split()[1]
        print("  agent peak memory (VmHWM): %.1f MiB" % (int(hwm) / 1024))
        s.sock.sendall(frame(b"i", b"exit\n"))
    finally:
        agent.terminate()
        agent.wait()


if __name__ == "__main__":
    main()
