"""QEMU tests and benchmark of the storage stack, driven through the shell.

The scenarios live by group in storage_namespace_tests.py,
storage_restart_tests.py, storage_fault_tests.py, quota_tests.py,
gc_tests.py, group_size_tests.py, journal_size_tests.py, snapshot_paging_tests.py, snapshot_space_tests.py and upload_death_tests.py (the shell driver in storage_shell.py); TESTS collects them for scripts/qemu.py
(`test` with these names, `bench`). Each test boots on a fresh disk, and
several boot twice on the same disk.
"""

import re
import threading

import gc_tests
import group_size_tests
import journal_size_tests
import upload_death_tests
import quota_tests
import snapshot_paging_tests
import snapshot_space_tests
import storage_fault_tests
import storage_namespace_tests
import storage_restart_tests

from storage_shell import Failure, Shell, disk_args, fresh_disk

TESTS = {
    **storage_namespace_tests.TESTS,
    **storage_restart_tests.TESTS,
    **storage_fault_tests.TESTS,
    **quota_tests.TESTS,
    **gc_tests.TESTS,
    **upload_death_tests.TESTS,
    **snapshot_paging_tests.TESTS,
    **snapshot_space_tests.TESTS,
    **group_size_tests.TESTS,
    **journal_size_tests.TESTS,
}


def run_test(name, qemu_cmd):
    """Runs storage test `name`; `qemu_cmd(config, extra)` builds the QEMU
    command line. Returns (problems, log text)."""
    func, config, limit = TESTS[name][:3]
    # A fourth field is the disk's size in MiB (64 unless a test says).
    disk = fresh_disk(name, TESTS[name][3] if len(TESTS[name]) > 3 else 64)
    log = []
    shells = []

    def boot(disk_attached=True, blkdebug=None, config=config):
        s = Shell(qemu_cmd(config, disk_args(disk, blkdebug) if disk_attached else []), log)
        shells.append(s)
        return s

    problems = []
    timer = threading.Timer(limit, lambda: [s.kill() for s in shells])
    timer.start()
    try:
        func(boot)
    except Failure as e:
        problems.append(str(e))
    finally:
        timer.cancel()
        for s in shells:
            s.kill()
    text = "\n".join(log)
    for s in shells:
        if "KERNEL PANIC" in s.output():
            problems.append("kernel panic")
        text += "\n--- boot ---\n" + s.output()
    return problems, text


def bench(run_captured, raw_lines):
    """Runs bench-fs.cfg (`run_captured(config, extra)` -> (status, output));
    returns (status, output, figure lines), the lines with the ratios to the
    raw driver's figures found in `raw_lines`."""
    disk = fresh_disk("bench-fs", 256)
    status, out = run_captured("bench-fs.cfg", disk_args(disk))
    figures = {}
    for l in out.splitlines():
        # Decimals for ratios such as fs_copies_per_byte_put (2 places).
        m = re.match(r"^(fs_[A-Za-z0-9_]+): (\d+(?:\.\d+)?) ([A-Za-z/]+)\s*$", l.strip())
        if m:
            figures[m.group(1)] = (m.group(2), m.group(3))
    lines = [f"{k}: {v} {u}" for k, (v, u) in figures.items()]
    # Where each phase's time went, from the kernel's CPU accounts (their
    # shares add up to the phase's wall cycles; docs/speed.md).
    lines += [l.strip() for l in out.splitlines() if l.strip().startswith("fsbench: cpu ")]
    raw = {}
    for l in raw_lines:
        m = re.match(r"^(blk_seq_(read|write)_1m_MBps): (\d+)", l)
        if m:
            raw[m.group(2)] = int(m.group(3))
    for kind in ("read", "write"):
        fs = figures.get(f"fs_seq_{kind}_MBps")
        if fs and raw.get(kind):
            lines.append(f"fs_vs_raw_{kind}_ratio: {float(fs[0]) / raw[kind]:.4f} ratio")
    return status, out, lines
