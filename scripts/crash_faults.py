"""The crash harness's fault modes: device errors and corrupt images.

Both start from one populated image (`populate`): a fixed workload whose
every operation was acknowledged, cut with all writes kept, so the journal
still holds live transactions. Each case then boots on a damaged copy.

- `ioerror`: QEMU's blkdebug fails reads or writes or flushes, once or
  always, on chunk data, a live tree node, the journal, or any write.
- `corrupt`: bytes flipped in one block of one region: each superblock,
  the bitmap, the checksum table, the live journal, the root block, the
  newest tree node, chunk data.

What must hold (issue #9): the shell comes up and nothing panics; damage
is reported with a clear `error:` line (or at mount, or by fsck); a read
that succeeds returns the acknowledged bytes; nothing acknowledged is lost
without a word (no silent rollback); one device error on one file leaves
reads of other files working; a mutating command acknowledged while every
write or flush fails is a lie.
"""
import os
import random
import re
import struct
import subprocess
import tempfile

import crash_checks as checks
import crash_model as model
import crash_workload as workload
from crash_shell import BootFailure, Machine, blkdebug_drive, nbd_drive
from nbd_disk import NbdDisk

DISK_BYTES = 64 << 20
BLOCK = 4096
# Words that count as damage reported on the console.
REPORTED = re.compile(r"error:|corrupt|damaged|checksum|mismatch|read-only|failed", re.I)
# A Rust Debug form in an error (`Io { first: 95`, `ChunkCorrupt { hash: [`):
# not words a user can read (issue #9, point 3).
# The line that ends a stream cut short: "output incomplete: N of M bytes".
INCOMPLETE = re.compile(r"\d+ bytes.*(incomplete|partial|truncated)"
                        r"|(incomplete|partial|truncated)\b.*\d+ (of \d+ )?bytes")
DEBUG_FORM = re.compile(r"[A-Z][A-Za-z]+ \{ [a-z_]+: ")
B64_LINE = re.compile(r"[A-Za-z0-9+/=]{4,}")


def partial_output(out):
    """(data lines printed, the error line) of a streamed answer."""
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    errs = [l for l in lines if l.startswith("error:")]
    return sum(1 for l in lines if B64_LINE.fullmatch(l)), (errs[0] if errs else None)


def superblock(image):
    """Region geometry from the current superblock copy (blocks 0 and 1,
    layout in services/block/lib/src/superblock.rs), or None."""
    best = None
    for b in (0, 1):
        raw = image[b * BLOCK:b * BLOCK + 512]
        if raw[:8] != b"BLKSTOR\0":
            continue
        f = struct.unpack_from("<QIIQQQQQQQQQQQQQQQ", raw, 0)
        sb = {"generation": f[4], "bitmap": (f[5], f[6]), "journal": (f[7], f[8]),
              "roots": (f[9], f[10]), "data_start": f[11], "journal_tail": f[13],
              "checksums": (f[16], f[17])}
        if best is None or sb["generation"] > best["generation"]:
            best = sb
    return best


def newest_tree_node(image, sb):
    best, gen = None, -1
    for b in range(sb["data_start"], len(image) // BLOCK):
        off = b * BLOCK
        if image[off:off + 4] == b"CBTN":
            g = struct.unpack_from("<Q", image, off + 8)[0]
            if g > gen:
                best, gen = b, g
    return best


def blocks_holding(image, data, at=None):
    """Every block holding bytes of `data` from offset `at` (default: the
    middle): chunk data, the live chunk and superseded copies that wait for gc."""
    at = len(data) // 2 if at is None else at
    needle = data[at:at + 64]
    out, i = [], image.find(needle)
    while i >= 0:
        out.append(i // BLOCK)
        i = image.find(needle, i + 1)
    return out


POPULATE = [
    ("mkdir", {"path": "/t"}), ("put", {"path": "/t/keep.bin", "n": 180000}),
    ("write", {"path": "/t/a.txt", "text": "first file"}),
    ("blob-put", {"repo": "lib/app", "n": 180000}),
    ("manifest-put", {"repo": "lib/app", "ref": "v1"}), ("snap-create", {"name": "s0"}),
    ("write", {"path": "/t/b.txt", "text": "second file"}), ("rm", {"path": "/t/a.txt"}),
    ("write", {"path": "/t/c.txt", "text": "written last"}),
]


def populate_ops():
    ops = []
    for kind, a in POPULATE:
        if kind == "put":
            data = workload.data_of("keep", a["n"])
            ops.append({"kind": "put", "path": a["path"], "data": data,
                        "line": f"put {a['path']} {a['n']}", "data_lines": workload.b64_lines(data)})
        elif kind == "write":
            ops.append({"kind": "write", "path": a["path"], "data": a["text"].encode(),
                        "line": f"write {a['path']} {a['text']}"})
        elif kind == "blob-put":
            data = workload.data_of("faultblob", a["n"])
            d = model.sha256(data)
            ops.append({"kind": "blob-put", "repo": a["repo"], "digest": d, "data": data,
                        "line": f"blob put {a['repo']} {d} {a['n']}",
                        "data_lines": workload.b64_lines(data)})
        elif kind == "manifest-put":
            data = b'{"schemaVersion":2,"layers":[]}'
            ops.append({"kind": "manifest-put", "repo": a["repo"], "ref": a["ref"], "data": data,
                        "line": f"manifest put {a['repo']} {a['ref']} {len(data)}",
                        "data_lines": workload.b64_lines(data)})
        elif kind == "snap-create":
            ops.append({"kind": "snap-create", "name": a["name"], "line": f"snap create {a['name']}"})
        else:
            ops.append({"kind": kind, "path": a["path"], "line": f"{kind} {a['path']}"})
    return ops


LATER = [{"kind": "write", "path": "/t/d.txt", "data": b"after the checkpoint",
          "line": "write /t/d.txt after the checkpoint"},
         {"kind": "rm", "path": "/t/c.txt", "line": "rm /t/c.txt"},
         {"kind": "write", "path": "/t/e.txt", "data": b"acknowledged last",
          "line": "write /t/e.txt acknowledged last"}]


class Populated:
    """Image `home` (the fixed workload, then poweroff: checkpointed, every
    block at home) and image `live` (home + LATER, cut with every write
    kept: the journal holds their live transactions), with model states."""

    def __init__(self, kernel, image, tmp):
        disk = NbdDisk(os.path.join(tmp, "pop.sock"), DISK_BYTES)
        try:
            self.home_state, self.names = self._run(kernel, image, disk, model.State(),
                                                    populate_ops(), True)
            self.home = disk.image()
            self.live_state, _ = self._run(kernel, image, disk, self.home_state, LATER, False,
                                           self.names)
            disk.cut(random.Random(0), "keep")
            self.live = disk.image()
        finally:
            disk.close()

    @staticmethod
    def _run(kernel, image, disk, state, ops, poweroff, names=None):
        m = Machine(kernel, image, nbd_drive(disk.path))
        names = names or workload.Names()
        try:
            for op in ops:
                out = m.cmd(op["line"], op.get("data_lines", ()))
                if "error:" in out:
                    raise BootFailure(f"populate: {op['line'][:60]}: {out.strip()[-200:]}")
                if op["kind"] != "mkdir":
                    state = model.apply(state, op)
                if op["kind"] == "blob-put":
                    names.repos.add(op["repo"])
                    names.digests.add(op["digest"])
                if op["kind"] == "manifest-put":
                    names.repos.add(op["repo"])
                    names.refs.add((op["repo"], op["ref"]))
                    names.digests.add(model.sha256(op["data"]))
            if poweroff:
                m.send("poweroff\n")
                try:
                    m.proc.wait(60)
                except subprocess.TimeoutExpired:
                    raise BootFailure("populate: poweroff did not end QEMU")
        finally:
            m.kill()
        return state, names


def examine(run, case, m, state, names, acked=(), maybe=()):
    """Reads everything back; returns problems. A read that succeeds must
    give the acknowledged bytes (`state` and the operations in `acked`;
    those in `maybe` failed with an error and may or may not be there)."""
    for op in acked:
        state = model.apply(state, op)
    problems = []
    fsck_bad = checks.fsck(m)
    obs = checks.observe(m, names)
    got = {"tree": obs.tree, "registry": obs.registry, "snaps": obs.snaps}
    diff = model.differences(checks.view_of(state, names), got)
    if diff and maybe:
        alt = state
        for op in maybe:
            alt = model.apply(alt, op)
        if not model.differences(checks.view_of(alt, names), got):
            diff = []
    for path, data in (obs.tree["files"] or {}).items():
        if data is not None and path in state.files and data != state.files[path] and not fsck_bad:
            problems.append(("wrong-bytes", f"{case}: get {path} gave {len(data)} bytes that are not "
                             f"the acknowledged {len(state.files[path])}, fsck clean"))
    # Only the storage services' lines: others (the network service without
    # a NIC says "failed") would make every boot look like a report.
    at_mount = REPORTED.search("\n".join(
        line for line in m.text()[:m.boot_end].splitlines()
        if re.match(r"(block|content|fs|shell):", line)))
    if diff and not obs.errors and not at_mount:
        # Older state, read without an error: a rollback. It must be said
        # at mount (issue #9, point 2), not only found by a later fsck.
        if fsck_bad:
            problems.append(("rollback-fsck-only", f"{case}: acknowledged state rolled back, "
                             f"nothing said at mount, only fsck reports it ({fsck_bad[:100]}): "
                             f"{'; '.join(diff[:3])}"))
        else:
            problems.append(("silent-loss", f"{case}: state differs and nothing was reported: "
                             f"{'; '.join(diff[:3])}"))
    for e in obs.errors:
        if DEBUG_FORM.search(e):
            problems.append(("unreadable-error", f"{case}: {e[:160]}"))
            break
    # Every byte printed must have passed its chunk's BLAKE3 check (against
    # the id fixed when the blob's SHA-256 was checked at upload), and a
    # stream cut by a damaged chunk must end saying it is incomplete.
    for d in sorted(names["digests"]):
        n, err = partial_output(m.cmd(f"blob get {d}"))
        if n and err and not INCOMPLETE.search(err):
            problems.append(("blob-get-partial", f"{case}: `blob get` printed {n} data lines, "
                             f"then an error that does not say the output is incomplete: {err[:120]}"))
            break
    for path in sorted(state.files):
        n, err = partial_output(m.cmd(f"get {path}"))
        if n and err and not INCOMPLETE.search(err):
            problems.append(("get-partial-unmarked", f"{case}: `get {path}` printed {n} lines, "
                             f"then an error that does not say the output is incomplete: {err[:120]}"))
            break
    run.note(f"  {case}: mount {'reported ' + at_mount.group(0) if at_mount else 'said nothing'}, fsck {'clean' if not fsck_bad else 'reported ' + fsck_bad[:80]}, "
             f"{len(obs.errors)} read errors, {len(diff)} differences")
    for line in (obs.errors + diff)[:4]:
        run.note(f"    {line[:200]}")
    return problems


def boot_check(run, case, drive, kernel, image, state, names, actions=None, acked=(), maybe=()):
    """Boots on `drive`, runs `actions(m)` (extra problems; it appends the
    operations it got acknowledged to `acked`) then examine."""
    try:
        m = Machine(kernel, image, drive)
    except BootFailure as e:
        return [("no-shell", f"{case}: the shell did not come up: {e}")]
    problems = []
    try:
        if actions:
            problems += actions(m)
        problems += examine(run, case, m, state, names, acked, maybe)
    except BootFailure as e:
        problems.append(("hang", f"{case}: {e}"))
    fatal = m.fatal_text()
    if fatal:
        problems.append(("panic", f"{case}: {fatal.strip()[:200]}"))
    m.kill()
    return problems


def corrupt_cases(pop):
    """(region, image name, blocks, byte offset in each block)."""
    home, live = superblock(pop.home), superblock(pop.live)
    cases = [("superblock0", "live", [0], 16), ("superblock1", "live", [1], 16),
             ("bitmap", "home", [home["bitmap"][0]], 0)]
    if home["checksums"][1]:
        cases.append(("checksum-table", "home", [home["checksums"][0]], 0))
    # The first live transaction's descriptor: later valid records follow it.
    cases.append(("journal", "live", [live["journal"][0] + live["journal_tail"]], 8))
    cases.append(("root", "home", [home["roots"][0]], 0))
    node = newest_tree_node(pop.home, home)
    if node is not None:
        cases.append(("tree-node", "home", [node], 40))
    # Near the end: the shell prints the first 57 KiB before it reads there,
    # so `get` must end with a clear "incomplete" and `blob get` print nothing.
    keep = pop.home_state.files["/t/keep.bin"]
    chunks = blocks_holding(pop.home, keep, len(keep) - 3000)
    if chunks:
        cases.append(("chunk-data", "home", chunks, 0))
    blob = next(op["data"] for op in populate_ops() if op["kind"] == "blob-put")
    chunks = blocks_holding(pop.home, blob, len(blob) - 3000)
    if chunks:
        cases.append(("blob-chunk-data", "home", chunks, 0))
    return cases


def run_corrupt(run, kernel, image, tmp, pop):
    for region, which, blocks, off in corrupt_cases(pop):
        bad = bytearray(pop.home if which == "home" else pop.live)
        state = pop.home_state if which == "home" else pop.live_state
        for block in blocks:
            base = block * BLOCK + off
            for i in range(64):
                bad[base + i] ^= 0xA5
        run.cases += 1
        if run.only_case not in (None, run.cases):
            continue
        disk = NbdDisk(os.path.join(tmp, "c.sock"), DISK_BYTES, bad)
        case = f"corrupt {region} ({which} image, blocks {blocks[:4]}, bytes {off}..{off + 64})"
        run.note(case)
        for cat, text in boot_check(run, case, nbd_drive(disk.path), kernel, image, state,
                                    pop.names.as_dict()):
            run.violation(run.cases, cat, text)
        disk.close()


def blkdebug_rules(rules):
    out = []
    for r in rules:
        out.append("[inject-error]")
        out += [f'{k} = "{v}"' for k, v in r.items()]
        out.append("")
    return "\n".join(out)


def run_ioerror(run, kernel, image, tmp, pop):
    names = pop.names.as_dict()
    sb = superblock(pop.home)
    chunks = blocks_holding(pop.home, pop.home_state.files["/t/keep.bin"])
    node = newest_tree_node(pop.home, sb)
    j0, jn = sb["journal"]
    live_tail = superblock(pop.live)["journal_tail"]
    cases = []
    for once in ("on", "off"):
        tag = "once" if once == "on" else "always"

        def reads(blocks):
            return [{"event": "read_aio", "iotype": "read", "errno": 5, "sector": b * 8, "once": once}
                    for b in blocks]
        if chunks:
            cases.append((f"read {tag} on chunk data", reads(chunks), "read-home"))
        if node is not None:
            cases.append((f"read {tag} on a tree node", reads([node]), "read-home"))
        cases.append((f"read {tag} on the journal", reads([j0 + live_tail]), "read"))
        cases.append((f"write {tag} on the journal", [
            {"event": "write_aio", "iotype": "write", "errno": 5, "sector": (j0 + b) * 8, "once": once}
            for b in range(jn)], "write"))
        cases.append((f"write {tag} anywhere", [
            {"event": "write_aio", "iotype": "write", "errno": 5, "once": once}], "write"))
        cases.append((f"flush {tag}", [
            {"event": "flush_to_disk", "iotype": "flush", "errno": 5, "once": once}], "write"))
    # Errors that start after the boot, in the middle of work: the harness's
    # NBD disk fails the requests (blkdebug rules are armed from the start).
    for once in (True, False):
        tag = "once" if once else "always"
        cases.append((f"write {tag} during a command", ("nbd", "write", once), "write"))
        cases.append((f"flush {tag} during a command", ("nbd", "flush", once), "write"))
        if chunks:
            cases.append((f"read {tag} on chunk data during a command",
                          ("nbd", "read", once, chunks), "read-home"))
    for case, rules, kind in cases:
        # Reads of home blocks on the checkpointed image (they are live
        # there); the journal and writes on the image with live transactions.
        img, state = (pop.home, pop.home_state) if kind == "read-home" else (pop.live, pop.live_state)
        run.cases += 1
        if run.only_case not in (None, run.cases):
            continue
        run.note(f"ioerror {case}")
        acked, maybe = [], []
        disk = None
        if rules[0] == "nbd":
            disk = NbdDisk(os.path.join(tmp, "e.sock"), DISK_BYTES, img)
            drive = nbd_drive(disk.path)
        else:
            path = os.path.join(tmp, "io.img")
            with open(path, "wb") as f:
                f.write(img)
            cfg = os.path.join(tmp, "blkdebug.cfg")
            with open(cfg, "w") as f:
                f.write(blkdebug_rules(rules))
            drive = blkdebug_drive(path, cfg)

        def actions(m, rules=rules, case=case, disk=disk, acked=acked, maybe=maybe):
            if disk is not None:
                _, cmd, once = rules[:3]
                for b in (rules[3] if len(rules) > 3 else [None]):
                    start, end = (0, None) if b is None else (b * BLOCK, (b + 1) * BLOCK)
                    disk.inject(cmd, once, start, end)
            return ioerror_actions(m, case, acked, maybe)

        problems = boot_check(run, f"ioerror {case}", drive, kernel, image, state, names,
                              actions, acked, maybe)
        if disk is not None:
            disk.cut(random.Random(0), "drop")  # acknowledged means flushed
            after = disk.image()
            disk.close()
        else:
            with open(path, "rb") as f:
                after = f.read()
        # Whatever was acknowledged during the errors must be there at the next clean boot.
        want = state
        for op in acked:
            want = model.apply(want, op)
        disk = NbdDisk(os.path.join(tmp, "r.sock"), DISK_BYTES, after)
        problems += [(c, f"{case}, clean reboot: {t}") for c, t in boot_check(
            run, f"reboot after {case}", nbd_drive(disk.path), kernel, image, want, names,
            maybe=maybe)]
        disk.close()
        for cat, text in problems:
            run.violation(run.cases, cat, text)


def ioerror_actions(m, case, acked, maybe):
    """A write, a read of the file whose blocks may fail, and a read of an
    unrelated one, in the boot with the errors; returns problems."""
    problems = []
    op = {"kind": "write", "path": "/t/during.txt", "data": b"during the error",
          "line": "write /t/during.txt during the error"}
    out = m.cmd(op["line"])
    if "error:" in out:
        maybe.append(op)
        if DEBUG_FORM.search(out):
            problems.append(("unreadable-error", f"{case}: {out.strip()[-160:]}"))
    else:
        acked.append(op)
        if "always" in case and ("write" in case or "flush" in case):
            problems.append(("acked-despite-error", f"{case}: `{op['line']}` said ok "
                             "although every such device request fails"))
    _, err = partial_output(m.cmd("get /t/keep.bin"))
    if err and DEBUG_FORM.search(err):
        problems.append(("unreadable-error", f"{case}: {err[:160]}"))
    # One error must not poison the store: a file whose blocks did not fail
    # still reads (after a write error too: read-only, not unreadable).
    out = m.cmd("cat /t/b.txt")
    # A read whose own path runs through the failing block (a tree node the
    # lookup needs) may fail, but then it names that block.
    names_block = re.search(r"the disk failed a request at block \d+", out)
    if "second file" not in out and "journal" not in case and not names_block:
        problems.append(("poisoned", f"{case}: an unrelated file no longer reads: "
                         f"{out.strip()[-160:]}"))
    return problems


def run_faults(run, mode, kernel, image):
    with tempfile.TemporaryDirectory(prefix="crash-faults-") as tmp:
        pop = Populated(kernel, image, tmp)
        if mode in ("corrupt", "faults", "all"):
            run_corrupt(run, kernel, image, tmp, pop)
        if mode in ("ioerror", "faults", "all"):
            run_ioerror(run, kernel, image, tmp, pop)
