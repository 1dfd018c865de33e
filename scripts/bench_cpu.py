#!/usr/bin/env python3
"""Benchmark figures per CPU-second of the QEMU process, which the host's load
does not move (docs/speed.md): wall-clock MB/s on this shared 2-core machine
moved 2-3x between back-to-back boots, CPU-time MB/s by about 5%.

  bench_cpu.py KERNEL IMAGE        boots bench-fs.cfg (a fresh 256 MiB disk)
  bench_cpu.py --cmd QEMU ARGS...  any guest, e.g. the Linux anchor

The guest prints `fsbench: mark begin NAME BYTES` and `fsbench: mark end
NAME` around each timed section (fsbench: sha256, blake3, seq_write, seq_read); at
each mark this reads the QEMU process's user+system time from /proc. Only
the guest runs during a section, so the process time is the vCPU's time
(for seq_write/seq_read: every service of the stack, and QEMU's disk I/O).
"""
import os
import re
import subprocess
import sys
import time

import qemu
import storage_shell


def process_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    if sys.argv[1] == "--cmd":
        cmd = sys.argv[2:]
    else:
        disk = storage_shell.fresh_disk("bench-fs", 256)
        cmd = qemu.qemu_cmd(sys.argv[1], sys.argv[2], "bench-fs.cfg", storage_shell.disk_args(disk))
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, bufsize=0)
    begun = {}
    deadline = time.time() + 600
    try:
        for raw in p.stdout:
            line = raw.decode(errors="replace").strip()
            m = re.search(r"fsbench: mark (begin|end) (\w+)(?: (\d+))?", line)
            if m:
                now = (process_seconds(p.pid), time.time())
                if m.group(1) == "begin":
                    begun[m.group(2)] = (now, int(m.group(3) or 0))
                elif m.group(2) in begun:
                    (cpu0, wall0), n = begun.pop(m.group(2))
                    cpu, wall = now[0] - cpu0, now[1] - wall0
                    print(f"{m.group(2)}_MB_per_cpu_s: {n / max(cpu, 0.01) / 1e6:.1f} "
                          f"(cpu {cpu:.2f} s, wall {wall:.2f} s = {n / wall / 1e6:.1f} MB/s)", flush=True)
            # The marked sections come first: the rest of the boot is not needed.
            if line.startswith("fs_seq_read") or "@@DONE" in line or time.time() > deadline:
                break
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
