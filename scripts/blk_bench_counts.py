#!/usr/bin/env python3
"""The raw driver benchmark (bench-blk.cfg) with QEMU's own counts per figure.

  blk_bench_counts.py KERNEL IMAGE [BOOTS]

For each figure of blkbench (between its `blkbench: mark begin/end NAME N`
lines) prints the requests per wall second and per CPU-second of the QEMU
process, and, from QEMU's trace (`virtio_queue_notify`,
`virtio_blk_req_complete`), the queue notifications and device requests per
client request: counts that the host's load does not move, unlike the wall
figures (docs/speed.md, "The raw driver's one-request 4 KiB regression").
The guest's own `per request, scheduled cycles` lines follow each figure.
"""
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

import qemu


def process_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def boot(kernel, image):
    qemu.make_disks([("bench0", 128)])
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.log")
        extra = qemu.disk_args("bench0") + [
            "-trace", "virtio_queue_notify", "-trace", "virtio_blk_req_complete",
            "-msg", "timestamp=on", "-D", trace]
        p = subprocess.Popen(qemu.qemu_cmd(kernel, image, "bench-blk.cfg", extra),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, bufsize=0)
        marks, splits, begun = [], {}, {}
        deadline = time.time() + 300
        for raw in p.stdout:
            line = raw.decode(errors="replace").strip()
            m = re.search(r"blkbench: mark (begin|end) (\w+)(?: (\d+))?", line)
            if m:
                now = (time.time(), process_seconds(p.pid))
                if m.group(1) == "begin":
                    begun[m.group(2)] = now
                elif m.group(2) in begun:
                    marks.append((m.group(2), begun.pop(m.group(2)), now, int(m.group(3))))
            m = re.search(r"blkbench: (\w+): per request, (.*)", line)
            if m:
                splits[m.group(1)] = m.group(2)
            if time.time() > deadline:
                p.kill()
                break
        p.wait()
        # Trace lines: "PID@SECONDS.MICROS:event ...", host wall clock.
        events = []
        for line in open(trace, errors="replace"):
            m = re.match(r"\d+@(\d+\.\d+):(\w+)", line)
            if m:
                events.append((float(m.group(1)), m.group(2)))
    for name, (w0, c0), (w1, c1), n in marks:
        counts = collections.Counter(e for t, e in events if w0 <= t <= w1)
        per = max(n, 1)
        print(f"{name}: {n} requests, {n / (w1 - w0):.0f} per s, "
              f"{n / max(c1 - c0, 0.01):.0f} per QEMU CPU-s; per request "
              f"{counts['virtio_queue_notify'] / per:.3f} queue notifications, "
              f"{counts['virtio_blk_req_complete'] / per:.3f} device requests", flush=True)
        if name in splits:
            print(f"    {splits[name]}", flush=True)
    return p.returncode == qemu.STATUS_PASS


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    boots = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    ok = True
    for i in range(boots):
        if boots > 1:
            print(f"--- boot {i + 1}", flush=True)
        ok &= boot(sys.argv[1], sys.argv[2])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
