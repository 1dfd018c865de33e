"""QEMU test of the journal's size on a default-sized disk: `format` gives a
256 MiB disk a 16 MiB journal (4096 blocks, ext4's size for it:
`block::Config::journal_blocks_for`), a 64 MiB disk keeps 4 MiB (the other
storage tests), and a journal of that size replays after QEMU is killed.

Collected in scripts/storage_tests.py's TESTS as `storage-journal-size`
(the shell driver in scripts/storage_shell.py)."""

import re

from storage_shell import Failure, data_of, b64_lines, decode_get, expect, no_error


def t_journal_size(boot):
    """A 256 MiB disk is formatted with a 4096-block journal, which holds
    what was acknowledged across a kill of QEMU and mounts again."""
    s = boot()
    expect(s.cmd("stats"), r"journal: \d+ of 4096 blocks in use", "the journal of a 256 MiB disk")
    data = data_of("journal-size", 300 * 1024)
    no_error(s.cmd(f"put /j/data.bin {len(data)}", data_lines=b64_lines(data)), "put")
    no_error(s.cmd("write /j/note.txt acknowledged before the kill"), "write")
    s.kill()

    s = boot()
    if not re.search(r"block: mounted 65536 blocks, [1-9]\d* transactions replayed", s.output()):
        raise Failure("mount after the kill replayed nothing from the journal")
    expect(s.cmd("cat /j/note.txt"), r"acknowledged before the kill", "after the kill: note")
    if decode_get(s.cmd("get /j/data.bin")) != data:
        raise Failure("after the kill: /j/data.bin differs from what was put")
    expect(s.cmd("stats"), r"journal: \d+ of 4096 blocks in use", "the journal after remount")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the kill")
    s.poweroff()


TESTS = {
    # (scenario, boot configuration, time limit in s, disk size in MiB)
    "storage-journal-size": (t_journal_size, "boot.cfg", 300, 256),
}
