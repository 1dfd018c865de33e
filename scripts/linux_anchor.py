"""The Linux guest doing the registry's job in the same QEMU (the anchor of
issue #13: `../shared/anchors/linuxjob/measure`, one boot), run by `make
bench` right before the stack's own figures, so that every ratio compares
two figures of one window on a shared host.

`figures(table)` reads the anchor's table into `linux_*` figure lines;
`ratios(linux, stack)` divides the stack's figures by them, as issue #13
asks (`<figure>_vs_linux_ratio`; the targets are in README). Pure parts are tested by
scripts/test_linux_anchor.py.
"""

import os
import re
import subprocess
import sys

# Where the anchor kit lives: beside this checkout (`../shared`) on the
# project's machines; LINUX_ANCHOR=path/to/measure overrides, LINUX_ANCHOR=
# (empty) skips it.
DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                       "anchors", "linuxjob", "measure")

# The anchor's table rows (name as printed, then the median) -> our figure
# names. The put and get rows are those doing the stack's work per byte:
# SHA-256 and BLAKE3, both portable (scalar) code as ours is.
ROWS = {
    "put 32 MiB, SHA-256 + BLAKE3 (portable)": ("linux_put_MBps", "MB/s"),
    "get 32 MiB cold, verify SHA-256 + BLAKE3 (port.)": ("linux_get_MBps", "MB/s"),
    "4 KiB durable puts, SHA-256 + BLAKE3 (disp.)": ("linux_small_put_ops", "ops/s"),
    "SHA-256 plain C, gcc -O2": ("linux_sha256_MBps", "MB/s"),
    "BLAKE3 C 1.8.7, portable (no SIMD)": ("linux_blake3_MBps", "MB/s"),
}

# Each stack figure and the Linux figure issue #13 compares it with (the
# four clients against Linux's one client; the targets are in README).
PAIRS = [
    ("fs_seq_write_MBps", "linux_put_MBps"),
    ("fs_seq_read_MBps", "linux_get_MBps"),
    ("fs_small_put_ops", "linux_small_put_ops"),
    ("fs_small_put_ops_4clients", "linux_small_put_ops"),
    ("fs_guest_sha256_MBps", "linux_sha256_MBps"),
    ("fs_guest_blake3_MBps", "linux_blake3_MBps"),
]


def figures(table):
    """{figure: (value, unit)} from the anchor's printed table (rows `NAME
    (UNIT)   MEDIAN   MIN..MAX   N`)."""
    found = {}
    for line in table.splitlines():
        m = re.match(r"^(.*?) \(([A-Za-z/]+)\)\s+(\d+(?:\.\d+)?)\s+\S+\s+\d+\s*$", line)
        if m and m.group(1) in ROWS:
            name, unit = ROWS[m.group(1)]
            found[name] = (float(m.group(3)), unit)
    return found


def ratios(linux, stack):
    """Lines `<stack figure>_vs_linux_ratio: R ratio` for every pair both
    sides measured; `stack` maps figure -> value."""
    lines = []
    for ours, theirs in PAIRS:
        if ours in stack and theirs in linux and linux[theirs][0] > 0:
            r = stack[ours] / linux[theirs][0]
            lines.append(f"{ours}_vs_linux_ratio: {r:.2f} ratio")
    return lines


def measure():
    """Runs the anchor once; returns its figures, or {} (with a message on
    stderr) when it is not here or fails."""
    path = os.environ.get("LINUX_ANCHOR", DEFAULT)
    if not path or not os.path.exists(path):
        print(f"qemu-bench: no Linux anchor at {path or '(skipped)'}: no linux_* figures or "
              "ratios", file=sys.stderr)
        return {}
    env = dict(os.environ, RUNS="1", LOAD_WAIT_S="0")
    p = subprocess.run([path], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace")
    found = figures(p.stdout)
    if p.returncode != 0 or not found:
        print(f"qemu-bench: the Linux anchor failed (status {p.returncode}):\n{p.stdout[-2000:]}",
              file=sys.stderr)
        return {}
    return found
