"""QEMU test of how group commit gathers concurrent clients: four clients
each put 24 small blobs, each waiting for its durable reply; the fs
service's groups must take the clients the last group answered (its
look-ahead yields once before closing a group, services/fs/server
serve/group.rs), not close after the first of them.

Collected in scripts/storage_tests.py's TESTS as `storage-group-size` (the
shell driver in scripts/storage_shell.py)."""

import re
import time

from storage_shell import Failure, expect

CLIENTS = 4
PUTS_EACH = 24
# Commits per durable commit (the block service's `stats` line `journal:
# ... D durable and B batched commits`; each put is one commit, a group's
# last one durable): 3.88 here with the look-ahead's yield (24 groups of
# four puts, plus the format's commit), 2.06 without it (the first caller
# of each new group was served alone and closed it: 46 durable commits).
MIN_COMMITS_PER_DURABLE = 3.0


def t_group_size(boot):
    """Four clients' durable small puts share durable commits about four at a
    time, and every put succeeds."""
    s = boot()
    deadline = time.time() + 150
    while len(re.findall(r"putter \d: done", s.output())) < CLIENTS:
        if time.time() > deadline:
            raise Failure("the four putters did not finish")
        time.sleep(0.1)
    out = s.output()
    if "put failed" in out:
        raise Failure("a put failed")
    acked = len(re.findall(r"putter \d: acked sha256:[0-9a-f]{64}", out))
    if acked != CLIENTS * PUTS_EACH:
        raise Failure(f"{acked} puts acknowledged, expected {CLIENTS * PUTS_EACH}")
    stats = s.cmd("stats")
    m = re.search(r"(\d+) durable and (\d+) batched commits", stats)
    g = re.search(r"group commit: .*", stats)
    if not m or not g:
        raise Failure(f"no journal or group-commit line in stats:\n{stats}")
    durable, batched = int(m.group(1)), int(m.group(2))
    per_durable = (durable + batched) / max(durable, 1)
    s.log.append(f"{durable} durable and {batched} batched commits: {per_durable:.2f} per "
                 f"durable commit; {g.group(0)}")
    if per_durable < MIN_COMMITS_PER_DURABLE:
        raise Failure(f"{per_durable:.2f} commits per durable commit, expected at least "
                      f"{MIN_COMMITS_PER_DURABLE}: groups close before the answered clients "
                      "call again")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the puts")
    s.poweroff()


TESTS = {
    "storage-group-size": (t_group_size, "test-storage-group-size.cfg", 300),
}
