#!/usr/bin/python3
"""guest-get-fsinfo with many mounts, phoenix-ga and Debian's qemu-ga side by side.

Both agents run in one private mount namespace (unshare -m, so the machine's mounts are not
touched) in which N directories of a block-backed filesystem are bind-mounted (default 100:
each is a real mount that both agents list, with its statvfs and its disk's sysfs address).
The same request goes to each agent over its unix socket, R times in turn, after a warm-up;
the client's wall time per reply is reported (median, 90th percentile, max), with the number of
filesystems each listed. Needs root.

With --loop-devices N the mounts are N distinct small ext4 filesystems instead, each on a loop
device of its own (so every mount has its own device to describe); the loop devices are
detached again at the end, whatever happens.

    scripts/bench-qga-fsinfo.py [--agent build/src/phoenix-ga] [--mounts 100] [--runs 30]
    scripts/bench-qga-fsinfo.py --loop-devices 100
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_listening(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        finally:
            s.close()
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("agent did not start listening on %s" % path)
        time.sleep(0.005)


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(path)
        self.buf = b""

    def ask(self, req):
        self.s.sendall(json.dumps(req).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                sys.exit("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.lstrip(b"\xff"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "src", "phoenix-ga"))
    ap.add_argument("--qemu-ga", default=shutil.which("qemu-ga") or "/usr/sbin/qemu-ga")
    ap.add_argument("--mounts", type=int, default=100)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--loop-devices", type=int, default=0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (a private mount namespace)")

    work = tempfile.mkdtemp(prefix="phx-bench-fsinfo-")
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "3600"])
    procs = []
    loops = []
    try:
        while os.readlink("/proc/%d/ns/mnt" % holder.pid) == os.readlink("/proc/self/ns/mnt"):
            if holder.poll() is not None:
                sys.exit("unshare failed")
            time.sleep(0.001)
        wrap = ["nsenter", "-t", str(holder.pid), "-m", "--"]
        src = os.path.join(work, "src")
        os.mkdir(src)
        script = []
        if args.loop_devices:
            for i in range(args.loop_devices):
                img = os.path.join(work, "img%03d" % i)
                with open(img, "wb") as f:
                    f.truncate(2 << 20)
                subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
                loops.append(subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True,
                                            text=True).stdout.strip())
                d = os.path.join(work, "m%03d" % i)
                os.mkdir(d)
                script.append("mount -t ext4 %s %s" % (loops[-1], d))
        else:
            for i in range(args.mounts):
                d = os.path.join(work, "m%03d" % i)
                os.mkdir(d)
                script.append("mount --bind %s %s" % (src, d))
        subprocess.run(wrap + ["sh", "-e", "-c", "\n".join(script)], check=True)

        agents = {}
        os.mkdir(os.path.join(work, "phx"))
        p = os.path.join(work, "phx", "sock")
        procs.append(subprocess.Popen(wrap + [args.agent, "--no-config", "--no-dbus", "-m", "unix-listen", "-p", p,
                                              "--runtime-dir", os.path.join(work, "phx", "run")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_listening(p, procs[-1])
        agents["phoenix-ga"] = p
        os.makedirs(os.path.join(work, "qga", "state"))
        q = os.path.join(work, "qga", "sock")
        procs.append(subprocess.Popen(wrap + [args.qemu_ga, "-m", "unix-listen", "-p", q,
                                              "-t", os.path.join(work, "qga", "state"),
                                              "-f", os.path.join(work, "qga", "pid")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_listening(q, procs[-1])
        agents["qemu-ga"] = q

        conns = {name: Conn(path) for name, path in agents.items()}
        counts = {}
        for name, c in conns.items():
            assert c.ask({"execute": "guest-sync", "arguments": {"id": 1}})["return"] == 1
            r = c.ask({"execute": "guest-get-fsinfo"})
            counts[name] = len(r["return"])
        times = {name: [] for name in conns}
        for _ in range(args.runs):
            for name, c in conns.items():  # in turn, so both see the same machine load
                t0 = time.perf_counter()
                r = c.ask({"execute": "guest-get-fsinfo"})
                times[name].append((time.perf_counter() - t0) * 1000)
                assert "return" in r, r
        what = ("%d loop devices mounted" % args.loop_devices) if args.loop_devices else \
            ("%d bind mounts" % args.mounts)
        print("guest-get-fsinfo, %s in a private namespace, %d runs each" % (what, args.runs))
        print("%-11s %6s %9s %9s %9s" % ("agent", "listed", "median", "p90", "max"))
        for name, t in times.items():
            t.sort()
            print("%-11s %6d %7.2f ms %6.2f ms %6.2f ms" % (name, counts[name], statistics.median(t),
                                                           t[int(0.9 * (len(t) - 1))], t[-1]))
        ratio = statistics.median(times["qemu-ga"]) / statistics.median(times["phoenix-ga"])
        print("qemu-ga / phoenix-ga (median): %.1fx" % ratio)
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        holder.kill()
        holder.wait()
        # the mounts went with the namespace: the loop devices are free to go
        for dev in loops:
            subprocess.run(["losetup", "-d", dev])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
