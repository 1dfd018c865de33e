"""QEMU tests of faults below the shell: a put cut in the middle, a corrupt
block read back, and device errors injected with QEMU's blkdebug.
Collected in scripts/storage_tests.py's TESTS."""

import base64
import os
import re
import time

from storage_shell import (
    DISK_DIR,
    Failure,
    b64_lines,
    data_of,
    decode_get,
    expect,
    no_error,
    sha256,
)


def send_partial(s, line, data_lines):
    """Types a command and some of its data lines, without waiting for the end."""
    start = len(s.buf)
    s.log.append(f"$ {line} (then {len(data_lines)} data lines, and no more)")
    s._send(line + "\n")
    pos = s.wait_for(line.encode(), start, 30)
    for i in range(0, len(data_lines), 12):
        batch = data_lines[i:i + 12]
        s._send("".join(l + "\n" for l in batch))
        pos = s.wait_for(batch[-1].encode(), pos, 120)


def t_atomic_put(boot):
    """`put` replaces a file all or nothing: QEMU killed in the middle of an
    overwrite (half its data lines typed, three pieces handed to the
    service) leaves the old contents whole; a finished overwrite is whole;
    no staging file is ever listed."""
    old = data_of("old", 183)
    new = data_of("new", 300 * 1024)
    s = boot()
    no_error(s.cmd(f"put /d/f.bin {len(old)}", data_lines=b64_lines(old)), "put old")
    no_error(s.cmd("write /d/t.txt the old text"), "write old")
    lines = b64_lines(new)
    send_partial(s, f"put /d/f.bin {len(new)}", lines[:len(lines) // 2])
    time.sleep(2)  # the shell hands its pieces to the service
    s.kill()
    s = boot()
    if decode_get(s.cmd("get /d/f.bin")) != old:
        raise Failure("a put cut in the middle changed the file (the old put path emptied it)")
    expect(s.cmd("ls /d"), r"(?:^|\n)f\.bin\nt\.txt\n2 entries", "only the two files listed")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the cut put")
    expect(s.cmd(f"put /d/f.bin {len(new)}", data_lines=lines), rf"stored {len(new)} bytes in /d/f\.bin",
           "overwrite")
    if decode_get(s.cmd("get /d/f.bin")) != new:
        raise Failure("get after a finished overwrite differs")
    expect(s.cmd("write /d/t.txt the new text"), r"wrote 12 bytes", "write over")
    expect(s.cmd("cat /d/t.txt"), r"(?:^|\n)the new text(?:\n|$)", "cat")
    expect(s.cmd("write /d new"), r"error: write: /d: is a directory", "write over a directory")
    expect(s.cmd("put /d/t.txt/x 4", data_lines=["AAAAAA=="]), r"error: put: .*not a directory",
           "put under a file")
    expect(s.cmd("cat /d/t.txt"), r"(?:^|\n)the new text(?:\n|$)", "unchanged by the refused put")
    expect(s.cmd("ls /d"), r"2 entries", "still two files")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()


def split_stream(out):
    """A `get`/`blob get` answer as (decoded bytes, its last line)."""
    lines = [l for l in out.splitlines() if l]
    body = [l for l in lines if not l.startswith("(") and not l.startswith("error:")]
    return base64.b64decode("".join(body)), lines[-1] if lines else ""


def t_corrupt_get(boot):
    """One chunk in the middle of a file and of a blob is damaged on the
    disk: `get` and `blob get` print exactly the bytes before it (all
    correct) and end with a line that says the output is incomplete, how
    many bytes were verified and printed, and where the bad chunk is."""
    size = 400000
    data = data_of("corrupt", size)
    d = sha256(data)
    s = boot()
    no_error(s.cmd(f"put /c/f.bin {size}", data_lines=b64_lines(data)), "put")
    expect(s.cmd(f"blob put library/c {d} {size}", data_lines=b64_lines(data)), r"stored blob", "blob put")
    s.poweroff()
    path = os.path.join(DISK_DIR, "storage-corrupt-get.img")
    with open(path, "rb") as f:
        img = bytearray(f.read())
    needle = data[200000:200064]
    at, flipped = img.find(needle), 0
    while at >= 0:  # every copy (a journal copy may remain)
        img[at + 10] ^= 0x40
        flipped += 1
        at = img.find(needle, at + 1)
    if flipped == 0:
        raise Failure("the file's bytes are not on the disk image")
    with open(path, "wb") as f:
        f.write(img)
    s = boot()
    for cmd, name in ((f"get /c/f.bin", r"get /c/f\.bin"), (f"blob get {d}", rf"blob get {d}")):
        printed, last = split_stream(s.cmd(cmd))
        m = re.match(rf"error: {name}: output incomplete: (\d+) of {size} bytes verified and printed; "
                     r"chunk at offset (\d+) \(\d+ bytes\) of inode \d+ is corrupt", last)
        if not m:
            raise Failure(f"{cmd}: last line {last[:300]!r}")
        n = int(m.group(1))
        if int(m.group(2)) != n or not 0 < n <= 200000:
            raise Failure(f"{cmd}: {n} bytes printed, bad chunk at {m.group(2)}, damage at 200000")
        if printed != data[:n]:
            raise Failure(f"{cmd}: printed {len(printed)} bytes that are not the first {n} of the data")
    expect(s.cmd("fsck"), r"fsck: [1-9]\d* problems", "fsck reports the damage")
def superblock_fields(image):
    """(journal_start, journal_tail) of the newest superblock copy of a disk
    image (layout in services/block/lib/src/superblock.rs)."""
    best = None
    for copy in (0, 1):
        sb = image[copy * 4096:copy * 4096 + 512]
        if sb[:8] != b"BLKSTOR\0":
            continue
        field = lambda at: int.from_bytes(sb[at:at + 8], "little")
        if best is None or field(24) > best[0]:
            best = (field(24), field(48), field(96))
    if best is None:
        raise Failure("no superblock in the disk image")
    return best[1], best[2]


def t_diskfaults(boot):
    """QEMU's blkdebug fails every read of one block of /c.bin and the first
    write to the journal: the read error fails reads of that file only,
    naming the block; the write error turns the store read-only with a
    plain sentence, reads of committed data still work, stats and df say
    so; after a reboot on the healthy disk everything committed is there."""
    a, c = data_of("faults-a", 20000), data_of("faults-c", 60000)
    s = boot()
    no_error(s.cmd(f"put /a.bin {len(a)}", data_lines=b64_lines(a)), "put a")
    no_error(s.cmd("write /b.txt unrelated"), "write b")
    no_error(s.cmd(f"put /c.bin {len(c)}", data_lines=b64_lines(c)), "put c")
    s.poweroff()
    disk = os.path.join(DISK_DIR, "storage-diskfaults.img")
    with open(disk, "rb") as f:
        image = f.read()
    # Every block holding the first 4 KiB of /c.bin (an upload may leave a
    # free copy beside the live one) fails every read.
    bad_blocks = []
    at = image.find(c[:4096])
    while at >= 0:
        if at % 4096 == 0:
            bad_blocks.append(at // 4096)
        at = image.find(c[:4096], at + 1)
    if not bad_blocks:
        raise Failure("first block of /c.bin not found block-aligned in the image")
    journal_start, tail = superblock_fields(image)
    rules = os.path.join(DISK_DIR, "storage-diskfaults.blkdebug")
    with open(rules, "w") as f:
        for b in bad_blocks:
            f.write(f'[inject-error]\nevent = "read_aio"\nerrno = "5"\nsector = "{b * 8}"\n'
                    f'once = "off"\n\n')
        f.write(f'[inject-error]\nevent = "write_aio"\nerrno = "5"\n'
                f'sector = "{(journal_start + tail) * 8}"\nonce = "on"\n')
    bad_block = "(" + "|".join(str(b) for b in bad_blocks) + ")"

    s = boot(blkdebug=rules)
    expect(s.cmd("get /c.bin"), rf"error: get: the disk failed a request at block {bad_block}\b",
           "read error names the block")
    if decode_get(s.cmd("get /a.bin")) != a:
        raise Failure("an unrelated file did not read back after a read error")
    expect(s.cmd("cat /b.txt"), r"unrelated", "unrelated read after a read error")
    expect(s.cmd("get /c.bin"), rf"block {bad_block}\b", "the bad block fails again")
    out = s.cmd("write /d.txt new") + s.cmd("sync")
    expect(out, r"error: \w+: the disk failed a write at block \d+; the store is read-only "
           r"until the next boot", "write error in plain words")
    expect(s.cmd("write /e.txt more"), r"error: write: .*read-only until the next boot",
           "later changes refused")
    if decode_get(s.cmd("get /a.bin")) != a:
        raise Failure("committed data unreadable in the read-only store")
    expect(s.cmd("cat /b.txt"), r"unrelated", "read in the read-only store")
    expect(s.cmd("stats"), r"state: read-only until the next boot: the disk failed a write",
           "stats shows the state")
    expect(s.cmd("df"), r"state: read-only", "df shows the state")
    s.kill()

    s = boot()
    expect(s.cmd("df"), r"state: read-write", "writable again after a reboot")
    if decode_get(s.cmd("get /c.bin")) != c or decode_get(s.cmd("get /a.bin")) != a:
        raise Failure("committed files changed across the faults")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the faults")
    no_error(s.cmd("write /f.txt writable"), "write after reboot")
    s.poweroff()


TESTS = {
    "storage-diskfaults": (t_diskfaults, "boot.cfg", 300),
    "storage-atomic-put": (t_atomic_put, "boot.cfg", 300),
    "storage-corrupt-get": (t_corrupt_get, "boot.cfg", 300),
}
