"""QEMU tests of the namespace through the shell: files, dedup, snapshots,
GC, error answers, several clients, rights, request bounds, stepped fsck.
Each boots the storage stack on a fresh disk (scripts/storage_shell.py)
and types commands at the serial console; collected in
scripts/storage_tests.py's TESTS."""

import re
import time

from storage_shell import (
    PROMPT,
    Failure,
    b64_lines,
    data_of,
    decode_get,
    expect,
    no_error,
    sha256,
)


def t_files(boot):
    """Files and blobs stored, read back byte-identical, and again after a reboot."""
    small = data_of("small", 1000)
    big = data_of("big", 200 * 1024)
    blob = data_of("blob", 100 * 1024)
    manifest = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}'
    s = boot()
    expect(s.cmd("ls /"), r"0 entries", "empty disk")
    expect(s.cmd("uploads"), r"(?m)^0 open upload sessions$", "uploads with nothing open")
    no_error(s.cmd("write /notes/hello.txt hello world"), "write")
    expect(s.cmd("cat /notes/hello.txt"), r"hello world", "cat")
    no_error(s.cmd(f"put /data/small.bin {len(small)}", data_lines=b64_lines(small)), "put small")
    no_error(s.cmd(f"put /data/big.bin {len(big)}", data_lines=b64_lines(big)), "put big")
    if decode_get(s.cmd("get /data/big.bin")) != big:
        raise Failure("get /data/big.bin differs from what was put")
    if decode_get(s.cmd("get /data/small.bin")) != small:
        raise Failure("get /data/small.bin differs")
    expect(s.cmd("stat /data/big.bin"),
           rf"file, {len(big)} bytes, .* mtime 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC", "stat")
    no_error(s.cmd("mkdir /a/b/c"), "mkdir")
    no_error(s.cmd("mv /data/small.bin /a/b/c/moved.bin"), "mv")
    no_error(s.cmd("truncate /a/b/c/moved.bin 10"), "truncate")
    expect(s.cmd("stat /a/b/c/moved.bin"), r"file, 10 bytes", "truncated size")
    expect(s.cmd("tree /a"), r"moved\.bin", "tree")
    d = sha256(blob)
    expect(s.cmd(f"blob put library/app {d} {len(blob)}", data_lines=b64_lines(blob)),
           rf"stored blob {d} \({len(blob)} bytes\)", "blob put")
    if decode_get(s.cmd(f"blob get {d}")) != blob:
        raise Failure("blob get differs")
    expect(s.cmd(f"blob stat {d}"), rf"{len(blob)} bytes", "blob stat")
    md = sha256(manifest)
    expect(s.cmd(f"manifest put library/app v1 {len(manifest)}", data_lines=b64_lines(manifest)),
           rf"stored manifest {md}", "manifest put")
    expect(s.cmd("manifest get library/app v1"), re.escape(manifest.decode()), "manifest get")
    expect(s.cmd(f"manifest get library/app {md}"), re.escape(manifest.decode()), "manifest by digest")
    expect(s.cmd("repos"), r"library/app", "repos")
    expect(s.cmd("tags library/app"), r"v1", "tags")
    no_error(s.cmd("rm /notes/hello.txt"), "rm")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()

    s = boot()
    if decode_get(s.cmd("get /data/big.bin")) != big:
        raise Failure("after reboot: /data/big.bin differs")
    if decode_get(s.cmd(f"blob get {d}")) != blob:
        raise Failure("after reboot: blob differs")
    expect(s.cmd("stat /a/b/c/moved.bin"), r"file, 10 bytes", "after reboot: moved file")
    expect(s.cmd("cat /notes/hello.txt"), r"error: cat: .*not found", "after reboot: removed file")
    expect(s.cmd("manifest get library/app v1"), re.escape(manifest.decode()), "after reboot: manifest")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after reboot")
    s.poweroff()


def t_dedup(boot):
    """The same content stored twice is stored once: visible in df."""
    data = data_of("dup", 128 * 1024)
    s = boot()
    no_error(s.cmd(f"put /one.bin {len(data)}", data_lines=b64_lines(data)), "put one")
    # `put` appends piece by piece, and each append re-chunks the file's
    # tail: the superseded chunks stay stored until a collection.
    no_error(s.cmd("gc"), "gc")
    before = s.cmd("df")
    no_error(s.cmd(f"put /two.bin {len(data)}", data_lines=b64_lines(data)), "put two")
    no_error(s.cmd("gc"), "gc")
    after = s.cmd("df")
    stored = lambda out: int(re.search(r"stored (\d+) bytes", out).group(1))
    logical = lambda out: int(re.search(r"logical (\d+) bytes", out).group(1))
    if logical(after) != 2 * len(data) or stored(after) != stored(before):
        raise Failure(f"df before {before!r} after {after!r}: want logical doubled, stored equal")
    expect(after, r"dedup ratio 2\.00", "dedup ratio")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()


def t_snapshots(boot):
    """Snapshot create -> change -> diff -> restore equals the snapshot, also after a reboot."""
    keep = data_of("keep", 100 * 1024)
    s = boot()
    expect(s.cmd("snap list"), r"(?m)^\(no snapshots\)$", "empty snap list says so")
    expect(s.cmd("repos"), r"(?m)^\(no repositories\)$", "empty repos says so")
    no_error(s.cmd("write /etc/config version-1"), "write")
    no_error(s.cmd(f"put /img/layer.bin {len(keep)}", data_lines=b64_lines(keep)), "put")
    no_error(s.cmd("write /tmp/scratch gone-soon"), "write scratch")
    no_error(s.cmd("snap create before"), "snap create")
    no_error(s.cmd("write /etc/config version-2"), "modify")
    no_error(s.cmd("rm /tmp/scratch"), "rm")
    no_error(s.cmd("write /new.txt added"), "add")
    diff = s.cmd("snap diff before")
    expect(diff, r"M /etc/config", "diff modified")
    expect(diff, r"- /tmp/scratch", "diff removed")
    expect(diff, r"\+ /new\.txt", "diff added")
    expect(s.cmd("snap list"), r"before logical \d+ bytes \(taken 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC\)",
           "snap list")
    no_error(s.cmd("snap create after"), "snap create after")
    expect(s.cmd("snap diff before after"), r"M /etc/config", "diff between snapshots")
    no_error(s.cmd("snap restore before"), "restore")
    expect(s.cmd("cat /etc/config"), r"version-1", "restored content")
    expect(s.cmd("cat /tmp/scratch"), r"gone-soon", "restored file")
    expect(s.cmd("cat /new.txt"), r"error: cat: .*not found", "added file gone")
    expect(s.cmd("snap diff before"), r"\n0 changes", "live equals snapshot")
    s.poweroff()
    s = boot()
    expect(s.cmd("cat /etc/config"), r"version-1", "after reboot: restored content")
    if decode_get(s.cmd("get /img/layer.bin")) != keep:
        raise Failure("after reboot: snapshot data differs")
    expect(s.cmd("snap list"), r"after logical", "after reboot: snapshots kept")
    no_error(s.cmd("snap restore after"), "restore after")
    expect(s.cmd("cat /etc/config"), r"version-2", "after reboot: restored the other snapshot")
    no_error(s.cmd("snap rm after"), "snap rm")
    expect(s.cmd("snap rm after"), r"error: snap rm: .*after", "snap rm twice")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()


def t_gc(boot):
    """gc frees what was deleted and keeps what snapshots hold; fsck clean."""
    held = data_of("held", 128 * 1024)
    dropped = data_of("dropped", 128 * 1024)
    s = boot()
    no_error(s.cmd(f"put /held.bin {len(held)}", data_lines=b64_lines(held)), "put held")
    no_error(s.cmd("snap create pin"), "snap")
    no_error(s.cmd(f"put /dropped.bin {len(dropped)}", data_lines=b64_lines(dropped)), "put dropped")
    no_error(s.cmd("rm /dropped.bin"), "rm dropped")
    no_error(s.cmd("rm /held.bin"), "rm held")
    before = s.cmd("df")
    dry = s.cmd("gc --dry-run")
    expect(dry, r"gc \(dry run\): .* would free [1-9]\d* chunks \((\d+) bytes", "dry run")
    dry_bytes = int(re.search(r"would free \d+ chunks \((\d+) bytes", dry).group(1))
    out = s.cmd("gc")
    expect(out, r"freed [1-9]\d* chunks", "gc")
    freed = int(re.search(r"freed \d+ chunks \((\d+) bytes", out).group(1))
    if freed != dry_bytes or freed < len(dropped):
        raise Failure(f"gc freed {freed} bytes, dry run said {dry_bytes}, dropped {len(dropped)}")
    after = s.cmd("df")
    stored = lambda o: int(re.search(r"stored (\d+) bytes", o).group(1))
    if stored(before) - stored(after) != freed:
        raise Failure(f"df stored {stored(before)} -> {stored(after)}, gc said {freed}")
    expect(s.cmd("gc"), r"freed 0 chunks", "second gc frees nothing")
    no_error(s.cmd("snap restore pin"), "restore")
    if decode_get(s.cmd("get /held.bin")) != held:
        raise Failure("snapshot content lost by gc")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after gc")
    s.poweroff()
    s = boot()
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after reboot")
    s.poweroff()


def t_errors(boot):
    """Bad input gets a one-line error and the shell goes on, losing nothing."""
    good = data_of("good", 5000)
    s = boot()
    no_error(s.cmd("write /keep.txt still-here"), "write")
    expect(s.cmd("frobnicate"), r"unknown command `frobnicate`", "unknown command")
    expect(s.cmd("stat /nope"), r"error: stat: /nope: not found", "missing path")
    expect(s.cmd("cat /"), r"error: cat: .*is a directory", "cat a directory")
    expect(s.cmd("mv /keep.txt"), r"error: usage: mv", "missing argument")
    expect(s.cmd("truncate /keep.txt lots"), r"error: truncate: size", "bad number")
    expect(s.cmd("ls relative/path"), r"error: ls: invalid path", "relative path")
    expect(s.cmd("blob put library/app sha256:zz 4", data_lines=["AAAAAA=="]),
           r"error: blob put: digest", "bad digest")
    expect(s.cmd("blob put Bad_Repo!! " + sha256(good) + " 3", data_lines=["AAAA"]),
           r"error: blob put: repository", "bad repository name")
    expect(s.cmd(f"blob put library/app {sha256(good)} {len(good)}", data_lines=["@@@@not-base64"]),
           r"error: blob put: bad base64", "bad base64")
    wrong = data_of("wrong", len(good))
    expect(s.cmd(f"blob put library/app {sha256(good)} {len(wrong)}", data_lines=b64_lines(wrong)),
           r"error: blob put: .*(digest|mismatch|hash)", "digest mismatch")
    expect(s.cmd(f"blob get {sha256(good)}"), r"error: blob get: .*not stored", "blob not stored")
    expect(s.cmd(f"put /x.bin 3", data_lines=["AAAAAAAA"]), r"error: put: 6 bytes decoded, more than",
           "more data than announced")
    expect(s.cmd("snap restore nosuch"), r"error: snap restore: .*nosuch", "unknown snapshot")
    expect(s.cmd("snap create bad/name"), r"error: snap create:", "bad snapshot name")
    expect(s.cmd("manifest get library/app nosuch"), r"error: manifest get:", "unknown manifest")
    expect(s.cmd(f"manifest put library/app {sha256(good)} 8", data_lines=["bm90LWpzb24="]),
           r"error: manifest put: digest mismatch", "manifest under a digest it does not have")
    expect(s.cmd("gc --now"), r"error: usage: gc", "bad gc flag")
    expect(s.cmd("cat /keep.txt"), r"still-here", "nothing lost")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()


def t_clients(boot):
    """A client dies mid-upload and another works at the same time; the
    filesystem service keeps serving the shell."""
    data = data_of("shell", 120 * 1024)
    s = boot()
    s.wait_for(b"fsclient: crashing mid-upload", 0, 60)
    s.wait_for(b"ended: #PF page fault", 0, 60)
    d = sha256(data)
    expect(s.cmd(f"blob put library/shell {d} {len(data)}", data_lines=b64_lines(data)),
           r"stored blob", "shell put while the worker runs")
    if decode_get(s.cmd(f"blob get {d}")) != data:
        raise Failure("shell's blob differs")
    verdict = ""
    for _ in range(60):
        verdict = s.cmd("cat /worker/result")
        if "error:" not in verdict:
            break
        time.sleep(1)
    expect(verdict, r"PASS 20 blobs and files stored and read back intact", "worker")
    expect(s.output(), r"process crasher \(pid \d+\) ended: #PF page fault", "crasher ended by its fault")
    expect(s.cmd("ls /worker"), r"file19", "worker files")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the crash")
    s.poweroff()


def t_rights(boot):
    """A client the boot configuration gives read only reads, and its
    changes, snapshots and maintenance calls are refused with a clear error
    before they run; the shell (all rights) works on in the same boot."""
    s = boot()
    write, snap = "write", "create, restore or remove snapshots"
    admin = "run gc, registry gc, fsck, shutdown or set quotas"
    refusals = [("create", write), ("append", write), ("mkdir", write), ("put", write),
                ("blob put", write), ("snap create", snap), ("snap restore", snap), ("gc", admin),
                ("registry gc", admin), ("fsck", admin), ("sync", write), ("shutdown", admin)]
    s.wait_for(b"fsclient: read-only: stat / (directory: true) and df allowed", 0, 60)
    for what, right in refusals:
        expect(s.output(), rf"fsclient: read-only: {what} refused: not permitted: this client "
               rf"may not {right} \(its boot configuration gives it read only; \w+ refused\)",
               f"{what} by the read-only client")
    # The refused calls changed nothing, and the shell may do all of them.
    expect(s.cmd("stat /ro.txt"), r"error: stat: /ro.txt: not found", "no file by the reader")
    expect(s.cmd("stat /ro"), r"error: stat: /ro: not found", "no directory by the reader")
    expect(s.cmd(f"blob get {sha256(b'not-allowed')}"), r"error: blob get: .*not stored",
           "no blob by the reader")
    if "ro-snap" in s.cmd("snap list"):
        raise Failure("the read-only client's snapshot was created")
    no_error(s.cmd("write /rights/seed.txt written-by-the-shell"), "shell write")
    s.wait_for(b"fsclient: read-only: PASS read allowed, 12 changes refused", 0, 60)
    no_error(s.cmd("snap create shell-snap"), "shell snap create")
    expect(s.cmd("snap list"), r"shell-snap", "shell snapshot")
    no_error(s.cmd("gc"), "shell gc")
    expect(s.cmd("cat /rights/seed.txt"), r"written-by-the-shell", "shell read")
    expect(s.cmd("ls /rights"), r"seed.txt", "shell listing")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()


def t_bounds(boot):
    """Per-request work and input are bounded: a 1 PiB truncate stores a hole
    and returns at once, an over-long input line is refused and discarded,
    and the shell goes on losing nothing."""
    s = boot()
    no_error(s.cmd("write /keep.txt still-here"), "write")
    no_error(s.cmd("write /sparse.bin head"), "write sparse")
    t0 = time.time()
    no_error(s.cmd("truncate /sparse.bin 1125899906842624", timeout=30), "1 PiB truncate")
    took = time.time() - t0
    s.log.append(f"1 PiB truncate took {took:.2f} s")
    if took > 10:
        raise Failure(f"1 PiB truncate took {took:.1f} s")
    expect(s.cmd("stat /sparse.bin"), r"1125899906842624", "sparse size")
    no_error(s.cmd("fsck"), "fsck after truncate")
    # Lengths beyond the free space are refused before any data moves.
    expect(s.cmd("put /huge.bin 1099511627776", data_lines=["."]),
           r"error: put: put of 1099511627776 bytes refused: only \d+ bytes are free",
           "put longer than the free space")
    expect(s.cmd(f"blob put library/app {sha256(b'x')} 1099511627776", data_lines=["."]),
           r"error: blob put: .*1099511627776 bytes refused", "blob put longer than the free space")
    expect(s.cmd("stat /huge.bin"), r"not found", "refused put left nothing")
    # An over-long line: the first 4096 bytes echo, the rest is dropped.
    start = len(s.buf)
    s._send("write /long.txt " + "x" * 20000 + "\n")
    s.wait_for(b"is longer than 4096; discarded", start, 60)
    s.wait_for(PROMPT, start, 30)
    expect(s.cmd("stat /long.txt"), r"error: stat: /long.txt: not found", "long line ignored")
    expect(s.cmd("cat /keep.txt"), r"still-here", "nothing lost")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()


def t_fsck_steps(boot):
    """Another client's stepped fsck is in progress while the shell writes,
    reads, removes, snapshots and collects: each is answered while the run
    is open, and the run then ends clean (it checks the view it pinned)."""
    s = boot()
    for i in range(12):
        no_error(s.cmd(f"write /fill/d{i}/f{i} content-{i}"), "fill")
    no_error(s.cmd("write /stepper/ready yes"), "ready")
    s.wait_for(b"fsclient: stepper: fsck run in progress", 0, 60)
    no_error(s.cmd("write /fill/d0/new added-while-the-run-is-open"), "write during the run")
    expect(s.cmd("cat /fill/d1/f1"), r"content-1", "read during the run")
    no_error(s.cmd("rm /fill/d2/f2"), "rm during the run")
    no_error(s.cmd("snap create mid-run"), "snapshot during the run")
    no_error(s.cmd("gc"), "gc during the run")
    no_error(s.cmd("write /stepper/go yes"), "go")
    deadline = time.time() + 120
    while time.time() < deadline and not re.search(r"stepper: (done in|FAIL)", s.output()):
        time.sleep(0.5)
    expect(s.output(), r"fsclient: stepper: done in \d+ steps, the shell's changes between: "
           r"fsck: clean", "the stepped run ends clean")
    expect(s.cmd("fsck"), r"fsck: clean", "the shell's own fsck after")
    s.poweroff()


TESTS = {
    "storage-files": (t_files, "boot.cfg", 300),
    "storage-dedup": (t_dedup, "boot.cfg", 200),
    "storage-snapshots": (t_snapshots, "boot.cfg", 300),
    "storage-gc": (t_gc, "boot.cfg", 300),
    "storage-errors": (t_errors, "boot.cfg", 200),
    "storage-clients": (t_clients, "test-storage-clients.cfg", 300),
    "storage-rights": (t_rights, "test-storage-rights.cfg", 200),
    "storage-bounds": (t_bounds, "boot.cfg", 200),
    "storage-fsck-steps": (t_fsck_steps, "test-storage-fsck-steps.cfg", 300),
}
