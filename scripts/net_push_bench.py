#!/usr/bin/env python3
"""Pushes over HTTP, measured per CPU-second of the QEMU process (which the
host's load moves far less than the wall, docs/speed.md) and by the
registry's accounts line (`registry: cpu push ...`, where each process's
scheduled cycles went).

  net_push_bench.py KERNEL IMAGE [PUSHES]   (default 2 pushes of 64 MiB)

Boots test-registry.cfg on a fresh disk, pushes PUSHES different 64 MiB
blobs one after another (POST, one streamed PATCH, PUT with the digest:
what skopeo does for a layer) and prints one line per push. Alternate the
builds being compared, boot by boot, in one window."""
import os
import random
import sys
import time

import net_tests
import qemu
import storage_shell
from bench_cpu import process_seconds
from registry_client import Http
from registry_powercut import push_streamed

BLOB = 64 << 20


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pushes = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    port = net_tests.free_port()
    disk = storage_shell.fresh_disk("net-push-bench", 256 + 80 * pushes)
    blobs = [random.Random(100 + i).randbytes(BLOB) for i in range(pushes)]
    log = []
    shell = storage_shell.Shell(
        qemu.qemu_cmd(sys.argv[1], sys.argv[2], "test-registry.cfg",
                      storage_shell.disk_args(disk) + net_tests.net_args(port)), log)
    try:
        at = shell.wait_for(b"registry: serving", 0, 300)
        for i, blob in enumerate(blobs):
            cpu0, t0 = process_seconds(shell.proc.pid), time.perf_counter()
            push_streamed(Http(port, timeout=900), f"bench/push{i}", blob)
            cpu, wall = process_seconds(shell.proc.pid) - cpu0, time.perf_counter() - t0
            at = shell.wait_for(b"registry: cpu push ", at + 1, 60)
            line = shell.buf[at:shell.buf.find(b"\n", at)].decode(errors="replace").strip()
            print(f"push {i}: {BLOB / wall / 1e6:.1f} MB/s wall, {BLOB / cpu / 1e6:.1f} MB per "
                  f"QEMU cpu-s (cpu {cpu:.2f} s, wall {wall:.2f} s, load {os.getloadavg()[0]:.1f})"
                  f"\n  {line}", flush=True)
        shell.poweroff()
    finally:
        shell.kill()


if __name__ == "__main__":
    main()
