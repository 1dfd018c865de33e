"""QEMU test of the stepped chunk GC (issue #12: no client can starve or
stall the rest): the shell's `gc` runs in bounded requests while another
client keeps putting blobs, and every blob put meanwhile is intact after
it; a client that dies with a stepped fsck and a stepped gc open has both
ended by the filesystem service (its death notices), and the shell's `gc`
and `fsck` then work.

Collected in scripts/storage_tests.py's TESTS as `storage-gc-steps` (the
shell driver in scripts/storage_shell.py)."""

import re
import time

from storage_shell import Failure, expect, no_error

GC_TEXT = (r"gc: marked \d+ roots, \d+ extents \(\d+ bytes\); freed \d+ chunks \(\d+ bytes, "
           r"\d+ blocks\) of \d+ scanned and \d+ unreachable blocks; \d+ blocks reachable")


def gc_requests(out, what):
    """The number of requests `gc` reports it ran in."""
    m = re.search(r"\(gc ran in (\d+) requests?\)", out)
    if not m:
        raise Failure(f"{what}: no request count in {out!r}")
    return int(m.group(1))


def t_gc_steps(boot):
    """A stepped gc beside a putter; a client dying mid-run."""
    s = boot()
    # Snapshots (each a tree to mark, so a collection takes several
    # requests), then garbage no snapshot holds.
    for i in range(5):
        no_error(s.cmd(f"snap create s{i}"), "snapshot")
    for i in range(8):
        no_error(s.cmd(f"write /g/f{i} garbage-{i}-" + "x" * 2000), "fill")
    for i in range(8):
        no_error(s.cmd(f"rm /g/f{i}"), "rm")

    # The putter puts while the shell collects, several times over.
    no_error(s.cmd("write /putter/go yes"), "go")
    for _ in range(120):
        if "error:" not in s.cmd("stat /putter/started"):
            break
        time.sleep(0.5)
    else:
        raise Failure("the putter never started putting")
    counts = []
    for r in range(3):
        out = s.cmd("gc")
        expect(out, GC_TEXT, f"gc {r} beside the putter")
        counts.append(gc_requests(out, f"gc {r}"))
        if r == 0:
            expect(out, r"freed ([89]|[1-9]\d+) chunks", "the garbage collected beside the putter")
        no_error(s.cmd(f"snap rm s{r}"), "snapshot removed between collections")
    if min(counts) < 2:
        raise Failure(f"gc ran in {counts} requests: not stepped")
    out = s.cmd("gc --dry-run")
    expect(out, r"gc \(dry run\): marked \d+ roots", "dry run")
    gc_requests(out, "dry run")
    no_error(s.cmd("write /putter/stop yes"), "stop")
    verdict = ""
    for _ in range(120):
        verdict = s.cmd("cat /putter/result")
        if "error:" not in verdict:
            break
        time.sleep(1)
    expect(verdict, r"PASS [1-9]\d* blobs put and read back intact", "putter")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the collections")

    # The dier opens a stepped fsck and a stepped gc and dies with both open.
    no_error(s.cmd("write /dier/go yes"), "dier go")
    s.wait_for(b"fsclient: dier: fsck and gc runs open; dying", 0, 120)
    s.wait_for(b"fs: client 4 died during its gc run", 0, 60)
    expect(s.output(), r"fs: client 4 died during its fsck run: ended, its pin dropped",
           "the dead client's fsck run ended")
    expect(s.output(), r"process dier \(pid \d+\) ended: #PF page fault", "dier ended by its fault")
    out = s.cmd("gc")
    expect(out, GC_TEXT, "gc after the dier")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the dier")
    expect(s.cmd("stats"), r"fs: gc: \d+ chunks", "the collections in the service's events")
    s.poweroff()


TESTS = {
    "storage-gc-steps": (t_gc_steps, "test-storage-gc-steps.cfg", 400),
}
