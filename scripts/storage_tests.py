"""QEMU tests and benchmark of the storage stack, driven through the shell.

Each test boots the storage stack (virtio-blk driver, block service,
filesystem/registry service, shell) on a disk image and types commands at
the serial console, checking the answers; several boot twice on the same
disk. Used by scripts/qemu.py (`test` with the names in TESTS, `bench`).

Flow control: the kernel buffers 4 KiB of console input and drops the rest,
so the driver never sends more than a few lines ahead: it waits for the
prompt after each command and for the shell's echo of each batch of data
lines.
"""
import base64
import hashlib
import os
import re
import subprocess
import threading
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DISK_DIR = os.path.join(ROOT, "build", "disks")
PROMPT = b"\n> "
# A whole log line of the kernel or a service. The console is shared, so
# such a line may land inside the shell's echo of what a test types (a
# service restarted mid-put prints while the data lines are echoed).
LOG_LINE = re.compile(
    rb"(?:\[(?:INFO|WARN|ERROR) *\] |(?:block|fs|content|supervisor|virtio-blk): )[^\n]*\n")


def disk_args(path, blkdebug=None):
    """The disk image as PCI device 00:03.0 (where the boot configs expect it),
    through QEMU's blkdebug driver with rules file `blkdebug` if given."""
    file = f"blkdebug:{blkdebug}:{path}" if blkdebug else path
    return ["-drive", f"file={file},format=raw,if=none,id=disk0",
            "-device", "virtio-blk-pci,drive=disk0,addr=3"]


def fresh_disk(name, mib):
    os.makedirs(DISK_DIR, exist_ok=True)
    path = os.path.join(DISK_DIR, name + ".img")
    if os.path.exists(path):
        os.remove(path)
    with open(path, "wb") as f:
        f.truncate(mib << 20)
    return path


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def data_of(seed, n):
    """Deterministic incompressible test bytes."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


class Failure(Exception):
    pass


class Shell:
    """One boot of the system with the shell on a pipe."""

    def __init__(self, qemu_cmd, log):
        self.log = log
        self.proc = subprocess.Popen(qemu_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.buf = bytearray()
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_for(b"shell: ready", 0, 60)
        # The services print while they start: wait until the filesystem
        # is mounted, so no startup line lands in the middle of an echo.
        self.wait_for(b"\nfs: ", 0, 60)
        self.wait_for(b"\n", self.wait_for(b"\nfs: ", 0, 1), 10)

    def _read(self):
        while True:
            b = self.proc.stdout.read1(65536)
            with self.cond:
                if not b:
                    self.cond.notify_all()
                    return
                self.buf += b
                self.cond.notify_all()

    def wait_for(self, pattern, start, timeout):
        """Position just after the first `pattern` (bytes) at or after `start`."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                i = self.buf.find(pattern, start)
                if i >= 0:
                    return i + len(pattern)
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    raise Failure(f"waited {timeout} s for {pattern[:60]!r}")
                self.cond.wait(min(left, 0.5))

    def settle(self, quiet=1.5, timeout=30):
        """Waits until the console has printed nothing for `quiet` seconds
        (at most `timeout`): after a service's death the supervisor and the
        restarted service print, and a line landing inside the next
        command's echo would hide the echo from `cmd`."""
        deadline = time.time() + timeout
        seen = -1
        while time.time() < deadline:
            with self.cond:
                n = len(self.buf)
            if n == seen:
                return
            seen = n
            time.sleep(quiet)

    def wait_for_echo(self, text, start, timeout):
        """As `wait_for`, for the echo of what the test typed: log lines
        (`LOG_LINE`) printed into the middle of the echo are skipped."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                end = self._find_echo(text, start)
                if end is not None:
                    return end
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    raise Failure(f"waited {timeout} s for {text[:60]!r}")
                self.cond.wait(min(left, 0.5))

    def _find_echo(self, text, start):
        i = self.buf.find(text, start)
        if i >= 0:
            return i + len(text)
        # The buffer from `start` without log lines, and where each kept
        # byte was.
        seg = bytes(self.buf[start:])
        kept, where, at = bytearray(), [], 0
        for m in LOG_LINE.finditer(seg):
            kept += seg[at:m.start()]
            where.extend(range(start + at, start + m.start()))
            at = m.end()
        kept += seg[at:]
        where.extend(range(start + at, start + len(seg)))
        i = kept.find(text)
        if i < 0:
            return None
        return where[i + len(text) - 1] + 1

    def _send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def cmd(self, line, timeout=120, data_lines=()):
        """Runs a command (with data lines after it); returns its output."""
        start = len(self.buf)
        self.log.append(f"$ {line}")
        self._send(line + "\n")
        pos = self.wait_for_echo(line.encode(), start, 30)
        lines = list(data_lines)
        for i in range(0, len(lines), 12):
            batch = lines[i:i + 12]
            self._send("".join(l + "\n" for l in batch))
            pos = self.wait_for_echo(batch[-1].encode(), pos, timeout)
        end = self.wait_for(PROMPT, pos, timeout)
        out = self.buf[pos:end - len(PROMPT)].decode(errors="replace").replace("\r", "")
        self.log.append(out.strip("\n"))
        return out

    def poweroff(self, timeout=60):
        start = len(self.buf)
        self._send("poweroff\n")
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("poweroff: QEMU did not exit")
        self.reader.join(5)
        out = self.buf[start:].decode(errors="replace")
        self.log.append(out.replace("\r", "").strip("\n"))
        if status not in (0, 1):
            raise Failure(f"poweroff: QEMU exit status {status}")
        if "storage: synced and checkpointed" not in out:
            raise Failure("poweroff did not sync the storage stack")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self):
        return self.buf.decode(errors="replace")


def b64_lines(data):
    text = base64.b64encode(data).decode()
    return [text[i:i + 76] for i in range(0, len(text), 76)]


def decode_get(out):
    """The bytes of a `get`/`blob get` answer (base64 lines, then `(n bytes)`)."""
    lines = [l for l in out.splitlines() if l and not l.startswith("(")]
    return base64.b64decode("".join(lines))


def expect(out, pattern, what):
    if not re.search(pattern, out):
        raise Failure(f"{what}: /{pattern}/ not in {out.strip()[:300]!r}")


def no_error(out, what):
    if "error:" in out:
        raise Failure(f"{what}: {out.strip()[:300]!r}")


# ---- the scenarios ----

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
    expect(s.cmd("stat /data/big.bin"), rf"file, {len(big)} bytes", "stat")
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
    expect(s.cmd("snap list"), r"before logical \d+ bytes, exclusive \d+ bytes, shared \d+ bytes",
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


def t_kill(boot):
    """QEMU killed right after acknowledgements: every acknowledged operation
    is there after the journal's recovery at the next mount."""
    data = data_of("kill", 60 * 1024)
    blob = data_of("killblob", 40 * 1024)
    s = boot()
    no_error(s.cmd("write /acked.txt acknowledged"), "write")
    no_error(s.cmd(f"put /acked.bin {len(data)}", data_lines=b64_lines(data)), "put")
    d = sha256(blob)
    expect(s.cmd(f"blob put library/kill {d} {len(blob)}", data_lines=b64_lines(blob)),
           r"stored blob", "blob put")
    no_error(s.cmd("snap create acked"), "snap create")
    s.kill()
    s = boot()
    expect(s.output(), r"block: mounted \d+ blocks, [1-9]\d* transactions replayed", "journal replay")
    expect(s.cmd("cat /acked.txt"), r"acknowledged", "write survived")
    if decode_get(s.cmd("get /acked.bin")) != data:
        raise Failure("put did not survive the kill")
    if decode_get(s.cmd(f"blob get {d}")) != blob:
        raise Failure("blob did not survive the kill")
    expect(s.cmd("snap list"), r"acked logical", "snapshot survived")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after recovery")
    s.poweroff()


def t_group_commit(boot):
    """Four clients put 4 KiB blobs at once, each waiting for its durable
    reply (group commit: the fs service syncs once for the puts queued
    together), beside a 16 MiB upload in 1 MiB requests whose pieces the
    small puts interleave with; QEMU is killed while they put. After booting boot.cfg on the
    same disk, every blob whose put was acknowledged reads back intact and
    fsck is clean."""
    s = boot()
    deadline = time.time() + 150
    while (len(re.findall(r"putter \d: acked sha256:[0-9a-f]{64}", s.output())) < 40
           or "uploader: piece 3 stored" not in s.output()):
        if time.time() > deadline:
            raise Failure("the putters did not get 40 puts acknowledged, or the upload 4 pieces")
        time.sleep(0.05)
    s.kill()
    out = s.output()
    # A long upload (1 MiB requests) does not hold the small puts for its
    # duration: some are acknowledged between its pieces.
    first = out.find("uploader: piece 0 stored")
    last = out.rfind("uploader: piece ")
    between = len(re.findall(r"putter \d: acked", out[first:last]))
    if between == 0:
        raise Failure("no small put was acknowledged while the upload was under way")
    s.log.append(f"{between} small puts acknowledged between the upload's pieces")
    acked = re.findall(r"putter (\d): acked (sha256:([0-9a-f]{64}))", out)
    if "put failed" in out:
        raise Failure("a put failed before the kill")
    clients = {n for n, _, _ in acked}
    if len(clients) != 4:
        raise Failure(f"only clients {sorted(clients)} were acknowledged before the kill")
    s = boot(config="boot.cfg")
    for n, d, hexd in acked:
        data = decode_get(s.cmd(f"blob get {d}"))
        if hashlib.sha256(data).hexdigest() != hexd or len(data) != 4096:
            raise Failure(f"putter {n}'s acknowledged blob {d} did not survive the kill")
    s.log.append(f"{len(acked)} acknowledged blobs of 4 clients read back")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after recovery")
    s.poweroff()


def t_nodisk(boot):
    """No disk attached: the services report it and the shell says so for
    every storage command instead of hanging; poweroff still works."""
    s = boot(disk_attached=False)
    expect(s.cmd("ls /"), r"error: ls: the filesystem is not mounted: block service", "ls")
    expect(s.cmd("df"), r"error: df: the filesystem is not mounted", "df")
    expect(s.cmd("uptime"), r"up \d+\.\d\d s", "the shell goes on")
    expect(s.output(), r"block: no disk", "the block service reported it")
    start = len(s.buf)
    s._send("poweroff\n")
    if s.proc.wait(60) not in (0, 1):
        raise Failure("poweroff without a disk: bad QEMU status")
    s.reader.join(5)
    expect(s.buf[start:].decode(errors="replace"), r"error: storage shutdown: .*\n.*powering off",
           "shutdown error reported, then poweroff")


def t_content_dies(boot):
    """The content service dies (its boot argument makes it exit at its 5th
    request, as a crash would): the fs service answers each request that
    needs it with a clear error instead of hanging, and goes on serving what
    does not (the namespace, poweroff)."""
    s = boot()
    no_error(s.cmd("write /a.txt hello"), "write while the content service lives")
    expect(s.cmd("cat /a.txt"), r"error: cat: .*content service unreachable",
           "read after the content service died")
    expect(s.output(), r"content: exiting at request 5", "the content service exited")
    expect(s.cmd("write /b.txt more"), r"error: write: .*content service unreachable",
           "write after the content service died")
    expect(s.cmd("ls /"), r"a\.txt", "the namespace is still served")
    expect(s.cmd("stat /a.txt"), r"file, 5 bytes", "stat still served")
    s.poweroff()


def t_driver_restart(boot):
    """The virtio-blk driver dies (fault injection, requests in flight) in
    the middle of a stream of puts; the supervisor restarts it from the boot
    image, the block service's driver client resends what the dead driver
    held, the shell goes on, every acknowledged put reads back, fsck is
    clean, and again after a reboot."""
    s = boot()
    acked = {}
    died_at = None
    for i in range(80):
        data = data_of(f"restart{i}", 16 * 1024)
        out = s.cmd(f"put /stream/f{i}.bin {len(data)}", data_lines=b64_lines(data))
        if "error:" not in out:
            acked[i] = data
        if died_at is None and "fault injection: dying" in s.output():
            died_at = i
        if died_at is not None and i >= died_at + 4:
            break
    if died_at is None:
        raise Failure("the driver never died during the puts")
    out = s.output()
    expect(out, r"process virtio-blk \(pid 0\) ended: exited with code 0xdead", "the driver died")
    expect(out, r"DMA frames quarantined", "its DMA memory was quarantined")
    expect(out, r"process virtio-blk \(pid 0\) restarted by supervisor \(incarnation 1, [1-9]\d* quarantined DMA frames returned\)",
           "the supervisor restarted it")
    expect(out, r"virtio-blk: ready, 1 disk\(s\), incarnation 1", "the new driver found the disk")
    m = re.search(r"virtio-blk client: the driver is back; request resent after (\d+) ms", out)
    if not m:
        raise Failure("the block service's request was not resent")
    s.log.append(f"driver died during put {died_at}; recovery {m.group(1)} ms; {len(acked)} puts acknowledged")
    if len(acked) < died_at + 4:
        raise Failure(f"only {len(acked)} of {died_at + 5} puts acknowledged")
    for i, data in acked.items():
        if decode_get(s.cmd(f"get /stream/f{i}.bin")) != data:
            raise Failure(f"acknowledged put {i} does not read back")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the restart")
    s.poweroff()
    s = boot()
    for i, data in acked.items():
        if decode_get(s.cmd(f"get /stream/f{i}.bin")) != data:
            raise Failure(f"after reboot: acknowledged put {i} does not read back")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after reboot")
    s.poweroff()


def service_restart(boot, service, failure_re):
    """A storage service dies (fault injection by its boot argument) in the
    middle of a stream of puts; the supervisor restarts it from the boot
    image. The put in flight fails once with a clear error (matching
    `failure_re`) and changes nothing; the next puts work, every
    acknowledged put reads back, fsck is clean, and again after a reboot."""
    s = boot()
    acked = {}
    failed = []
    died_at = None
    recovery = None
    for i in range(60):
        data = data_of(f"{service}{i}", 16 * 1024)
        t0 = time.monotonic()
        out = s.cmd(f"put /stream/f{i}.bin {len(data)}", data_lines=b64_lines(data))
        if "error:" in out:
            failed.append((i, out.strip().splitlines()[-1]))
            # Not part of the recovery time: the test's own wait.
            t_settle = time.monotonic()
            s.settle()
            failed_at = t0 + (time.monotonic() - t_settle)
        else:
            acked[i] = data
            if failed and recovery is None:
                recovery = time.monotonic() - failed_at
        if died_at is None and f"{service}: exiting at request" in s.output():
            died_at = i
        if died_at is not None and i >= died_at + 4:
            break
    if died_at is None:
        raise Failure(f"the {service} service never died during the puts")
    out = s.output()
    expect(out, rf"process {service} \(pid \d+\) restarted by supervisor \(incarnation 1",
           f"the supervisor restarted the {service} service")
    if len(failed) > 1:
        raise Failure(f"more than one put failed around the restart: {failed}")
    for i, line in failed:
        if not re.search(failure_re, line):
            raise Failure(f"put {i} failed without a clear reason: {line!r}")
        # The failed put left nothing behind.
        expect(s.cmd(f"stat /stream/f{i}.bin"), r"error: ", f"failed put {i} left no file")
    s.log.append(f"{service} died during put {died_at}; {len(failed)} put failed; "
                 f"recovery (failed put to the next acknowledged one) "
                 f"{recovery * 1000 if recovery else 0:.0f} ms; {len(acked)} puts acknowledged")
    if len(acked) < died_at + 3:
        raise Failure(f"only {len(acked)} puts acknowledged by put {died_at + 4}")
    for i, data in acked.items():
        if decode_get(s.cmd(f"get /stream/f{i}.bin")) != data:
            raise Failure(f"acknowledged put {i} does not read back")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after the restart")
    s.poweroff()
    s = boot()
    for i, data in acked.items():
        if decode_get(s.cmd(f"get /stream/f{i}.bin")) != data:
            raise Failure(f"after reboot: acknowledged put {i} does not read back")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after reboot")
    s.poweroff()


def t_content_restart(boot):
    """The content service dies at its 60th request, mid-stream (see
    `service_restart`)."""
    service_restart(boot, "content", r"error: .*content service")


def t_block_restart(boot):
    """The block service dies at its 400th request, mid-stream; the fs
    mounts again over the new one (see `service_restart`)."""
    service_restart(boot, "block", r"error: .*(block service|service died)")


def t_fs_restart(boot):
    """The fs service dies at its 40th request, mid-stream; the shell's next
    call reaches the new one (see `service_restart`)."""
    service_restart(boot, "fs", r"error: .*(unreachable|service died)")


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
    "storage-diskfaults": (t_diskfaults, "boot.cfg", 300),
    "storage-files": (t_files, "boot.cfg", 300),
    "storage-dedup": (t_dedup, "boot.cfg", 200),
    "storage-snapshots": (t_snapshots, "boot.cfg", 300),
    "storage-gc": (t_gc, "boot.cfg", 300),
    "storage-errors": (t_errors, "boot.cfg", 200),
    "storage-clients": (t_clients, "test-storage-clients.cfg", 300),
    "storage-rights": (t_rights, "test-storage-rights.cfg", 200),
    "storage-kill": (t_kill, "boot.cfg", 200),
    "storage-group-commit": (t_group_commit, "test-storage-group.cfg", 400),
    "storage-nodisk": (t_nodisk, "boot.cfg", 100),
    "storage-content-dies": (t_content_dies, "test-storage-content-dies.cfg", 120),
    "storage-driver-restart": (t_driver_restart, "test-storage-driver-restart.cfg", 400),
    "storage-content-restart": (t_content_restart, "test-storage-content-restart.cfg", 400),
    "storage-block-restart": (t_block_restart, "test-storage-block-restart.cfg", 400),
    "storage-fs-restart": (t_fs_restart, "test-storage-fs-restart.cfg", 400),
    "storage-atomic-put": (t_atomic_put, "boot.cfg", 300),
    "storage-corrupt-get": (t_corrupt_get, "boot.cfg", 300),
    "storage-bounds": (t_bounds, "boot.cfg", 200),
    "storage-fsck-steps": (t_fsck_steps, "test-storage-fsck-steps.cfg", 300),
}


def run_test(name, qemu_cmd):
    """Runs storage test `name`; `qemu_cmd(config, extra)` builds the QEMU
    command line. Returns (problems, log text)."""
    func, config, limit = TESTS[name]
    disk = fresh_disk(name, 64)
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
