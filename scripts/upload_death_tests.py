"""QEMU test of issue #12's reaping of abandoned uploads: a client that
starts an upload session and dies with it open has it cancelled by the
filesystem service at its death notice (not left to the idle reaper): the
shell's `uploads` listing shows the session while its client lives and
not after; the shell's own work and `fsck` go on.

Collected in scripts/storage_tests.py's TESTS as `storage-upload-death`
(the shell driver in scripts/storage_shell.py)."""

import re

from storage_shell import Failure, expect, no_error

REPO = "dead/uploads"


def t_upload_death(boot):
    """An upload session whose client dies is cancelled at the death."""
    s = boot()
    s.wait_for(b"fsclient: upload-dier: session open", 0, 120)
    before = s.cmd(f"uploads {REPO}")
    m = re.search(r"(\S+) 40960 bytes, idle \d+ s", before)
    if not m:
        raise Failure(f"the live client's session is not listed: {before!r}")
    session = m.group(1)
    no_error(s.cmd("write /udier/go yes"), "udier go")
    s.wait_for(b"fsclient: upload-dier: dying with the session open", 0, 120)
    s.wait_for(b"fs: client 6 died with 1 upload sessions: 1 cancelled", 0, 60)
    expect(s.output(), r"process udier \(pid \d+\) ended: #PF page fault",
           "the dier ended by its fault")
    after = s.cmd(f"uploads {REPO}")
    if session in after:
        raise Failure(f"the dead client's session {session} is still listed: {after!r}")
    no_error(s.cmd("write /after/f still-working"), "a write after the death")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the death")
    s.poweroff()


TESTS = {
    "storage-upload-death": (t_upload_death, "test-storage-upload-death.cfg", 300),
}
