"""QEMU test of `snap list` and `snap diff` paging through the shell: more
snapshots than one `snaps` page (32) are all listed, each once; a diff of
more tree records than one `snap diff` page (256) prints every change
exactly once, its count matching, also between two snapshots and after a
reboot.

Collected in scripts/storage_tests.py's TESTS as `storage-snapshot-pages`
(the shell driver in scripts/storage_shell.py)."""

import re

from storage_shell import Failure, expect, no_error

SNAPSHOTS = 40
FILES = 150


def change_lines(out):
    return [l for l in out.splitlines() if l[:2] in ("+ ", "- ", "M ")]


def check_diff(out, want, what):
    lines = change_lines(out)
    if len(lines) != len(set(lines)):
        dup = sorted({l for l in lines if lines.count(l) > 1})[:3]
        raise Failure(f"{what}: changes listed twice: {dup}")
    if set(lines) != want:
        raise Failure(f"{what}: missing {sorted(want - set(lines))[:3]}, "
                      f"unexpected {sorted(set(lines) - want)[:3]}")
    expect(out, rf"\n{len(want)} changes", f"{what}: the count")


def t_snapshot_pages(boot):
    """Listings longer than a page: every snapshot and every change once."""
    s = boot()
    no_error(s.cmd("write /keep/a one"), "write")
    for i in range(SNAPSHOTS):
        no_error(s.cmd(f"snap create p{i:02}"), f"snap create p{i:02}")
    listing = s.cmd("snap list")
    names = re.findall(r"(?m)^(p\d\d) logical \d+ bytes", listing)
    if names != [f"p{i:02}" for i in range(SNAPSHOTS)]:
        raise Failure(f"snap list: {len(names)} snapshots listed, want {SNAPSHOTS} "
                      f"in order: {listing[-300:]!r}")

    # Three records per file (dirent, inode, extent): over 256, several pages.
    for i in range(FILES):
        no_error(s.cmd(f"write /many/d{i % 4}/f{i:03} x{i}"), f"write f{i:03}")
    no_error(s.cmd("write /keep/a two"), "modify")
    want = {f"+ /many/d{i % 4}/f{i:03}" for i in range(FILES)}
    want |= {"+ /many"} | {f"+ /many/d{d}" for d in range(4)} | {"M /keep/a"}
    check_diff(s.cmd("snap diff p00"), want, "snap diff p00")
    no_error(s.cmd("snap create after"), "snap create after")
    check_diff(s.cmd("snap diff p39 after"), want, "snap diff between snapshots")
    back = {("- " + l[2:]) if l[0] == "+" else l for l in want}
    check_diff(s.cmd("snap diff after p00"), back, "snap diff backwards")
    s.poweroff()

    s = boot()
    check_diff(s.cmd("snap diff p00"), want, "after reboot: snap diff")
    expect(s.cmd("snap list"), r"(?s)after logical.*p00 logical.*p39 logical",
           "after reboot: every snapshot listed")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()


TESTS = {
    "storage-snapshot-pages": (t_snapshot_pages, "boot.cfg", 400),
}
