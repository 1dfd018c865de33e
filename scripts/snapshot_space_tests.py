"""QEMU test of `snap list` and `snap space` through the shell (issue #12:
whole-list answers page, long operations run in bounded steps): `snap
list` shows each snapshot's name, logical bytes and time from its record;
`snap space NAME` answers the bytes the snapshot holds alone (exclusive)
and shares, each distinct chunk once, and the figures follow the writes
and removals made between snapshots; a name that is no snapshot, or no
valid name, gets a clear error.

Collected in scripts/storage_tests.py's TESTS as `storage-snapshot-space`
(the shell driver in scripts/storage_shell.py)."""

import re

from storage_shell import Failure, b64_lines, data_of, expect, no_error

SPACE = (r"(?m)^{name}: stored (\d+) bytes in (\d+) chunks: exclusive (\d+) bytes \((\d+) chunks\), "
         r"shared (\d+) bytes \((\d+) chunks\) with the live tree and (\d+) other snapshots; "
         r"logical (\d+) bytes$")


def space(s, name):
    """(stored, exclusive, shared, other snapshots, logical) of `snap space name`."""
    out = s.cmd(f"snap space {name}")
    no_error(out, f"snap space {name}")
    m = re.search(SPACE.format(name=re.escape(name)), out)
    if not m:
        raise Failure(f"snap space {name}: no report in {out.strip()[:300]!r}")
    expect(out, r"\(snap space ran in \d+ requests?\)", f"snap space {name}: request count")
    stored, _, excl, _, shared, _, others, logical = (int(g) for g in m.groups())
    if excl + shared != stored:
        raise Failure(f"snap space {name}: {excl} + {shared} != {stored}")
    return stored, excl, shared, others, logical


def put(s, path, data):
    no_error(s.cmd(f"put {path} {len(data)}", data_lines=b64_lines(data)), f"put {path}")


def want(got, expected, what):
    if got != expected:
        raise Failure(f"{what}: {got}, want {expected}")


def t_snapshot_space(boot):
    """snap list from the records; snap space's figures; bad names."""
    big1, big2 = data_of("space-big-1", 300 * 1024), data_of("space-big-2", 200 * 1024)
    small, new = data_of("space-small", 3000), data_of("space-new", 5000)
    s = boot()
    put(s, "/a/big", big1)
    put(s, "/a/small", small)
    put(s, "/b/copy-of-small", small)
    no_error(s.cmd("snap create s1"), "snap create s1")
    put(s, "/a/big", big2)
    put(s, "/b/new", new)
    no_error(s.cmd("snap create s2"), "snap create s2")

    listing = s.cmd("snap list")
    no_error(listing, "snap list")
    lines = re.findall(r"(?m)^(s\d) logical (\d+) bytes \(taken [^)]* UTC\)$", listing)
    want(lines, [("s1", str(len(big1) + 2 * len(small))),
                 ("s2", str(len(big2) + 2 * len(small) + len(new)))], "snap list")
    if "exclusive" in listing:
        raise Failure(f"snap list computes space: {listing.strip()[:300]!r}")

    # s1's first big is its alone; small (named twice) counts once, shared.
    stored, excl, shared, others, logical = space(s, "s1")
    want((excl, shared, others, logical),
         (len(big1), len(small), 1, len(big1) + 2 * len(small)), "snap space s1")
    want(stored, len(big1) + len(small), "snap space s1: stored, small once")
    # s2 equals the live tree: nothing of its own.
    _, excl, shared, _, _ = space(s, "s2")
    want((excl, shared), (0, len(big2) + len(small) + len(new)), "snap space s2")
    # Once the live tree drops big and new, s2 holds them alone.
    no_error(s.cmd("rm /a/big"), "rm big")
    no_error(s.cmd("rm /b/new"), "rm new")
    _, excl, shared, _, _ = space(s, "s2")
    want((excl, shared), (len(big2) + len(new), len(small)), "snap space s2 after rm")

    expect(s.cmd("snap space nope"), r'error: snap space: snapshot "nope" not found',
           "a name that is no snapshot")
    expect(s.cmd("snap space a/b"), r'error: snap space: snapshot name "a/b": allowed characters',
           "a name that is no valid name")
    expect(s.cmd("snap space"), r"error: usage: snap create", "no name: usage")
    no_error(s.cmd("snap rm s1"), "snap rm s1")
    expect(s.cmd("snap space s1"), r'snapshot "s1" not found', "a removed snapshot")
    # s1 gone: no other snapshot; small stays shared with the live tree.
    _, excl, _, others, _ = space(s, "s2")
    want((excl, others), (len(big2) + len(new), 0), "snap space s2 after snap rm s1")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()


TESTS = {
    "storage-snapshot-space": (t_snapshot_space, "boot.cfg", 400),
}
