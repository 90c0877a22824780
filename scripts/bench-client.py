#!/usr/bin/python3
"""Client benchmark: phoenix-ga-client get/put against the raw agent throughput, in one run.

    /usr/bin/python3 scripts/bench-client.py [--size-mib 256] [--runs 3]

"raw" is scripts/bench.py's lean client (requests prepared up front, replies measured but
not decoded), at its best chunk size; the client figures are whole commands, timed from exec
to exit, split into the transfer (what the progress line shows: first request to last
reply) and the sha256 verification with get-file-hash that follows it."""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

MiB = bench.MiB
ROOT = bench.ROOT


def client(exe, sock, *args):
    t0 = time.monotonic()
    proc = subprocess.run([exe, "-s", sock, "--timing"] + list(args), capture_output=True, text=True)
    secs = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit("client %s failed: %s" % (args, proc.stderr))
    timing = dict(line.split("=", 1) for line in proc.stderr.split() if "=" in line)
    return secs, float(timing.get("transfer", "nan"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "src", "phoenix-ga"))
    ap.add_argument("--client", default=os.path.join(ROOT, "build", "src", "phoenix-ga-client"))
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    work = tempfile.mkdtemp(prefix="phx-bench-client-")
    size = opts.size_mib * MiB
    agent = bench.Agent("phoenix-ga", opts.agent, "unix", work)
    try:
        agent.connect()
        src = os.path.join(work, "src.bin")
        data = os.urandom(size)
        with open(src, "wb") as f:
            f.write(data)
        want = hashlib.sha256(data).hexdigest()
        raw_read, rc = bench.best_rate(lambda c: bench.timed(agent.read_file, src, c), size,
                                       [4 * MiB, 16 * MiB, 48 * MiB])
        wdata = data[:64 * MiB]

        def write(c):
            h, msgs = agent.write_requests(os.path.join(work, "raw-dst"), wdata, c)
            secs = bench.timed(agent.send_writes, msgs)
            agent.call("file-close", {"handle_id": h})
            return secs
        raw_write, wc = bench.best_rate(write, 64 * MiB, [4 * MiB, 16 * MiB, 32 * MiB])
        agent.hang_up()  # the agent serves one host at a time
        best = {"get": (0, 0), "put": (0, 0)}
        for _ in range(opts.runs):
            local = os.path.join(work, "got.bin")
            whole, xfer = client(opts.client, agent.path, "get", src, local)
            assert hashlib.sha256(open(local, "rb").read()).hexdigest() == want
            os.unlink(local)
            best["get"] = max(best["get"], (size / MiB / xfer, size / MiB / whole))
            dst = os.path.join(work, "put.bin")
            whole, xfer = client(opts.client, agent.path, "put", src, dst)
            assert hashlib.sha256(open(dst, "rb").read()).hexdigest() == want
            os.unlink(dst)
            best["put"] = max(best["put"], (size / MiB / xfer, size / MiB / whole))
    finally:
        agent.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("| figure | raw agent | client transfer | ratio (target >= 0.8) | client incl. verify |")
    print("|---|---|---|---|---|")
    for what, raw, chunk in (("get", raw_read, rc), ("put", raw_write, wc)):
        xfer, whole = best[what]
        print("| %d MiB %s | %.0f MiB/s (%d MiB chunks) | %.0f MiB/s | %.2f | %.0f MiB/s |"
              % (opts.size_mib, what, raw, chunk // MiB, xfer, xfer / raw, whole))


if __name__ == "__main__":
    main()
