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


def block_holding(image, data):
    """The block holding bytes from the middle of `data` (chunk data), or None."""
    needle = data[len(data) // 2:len(data) // 2 + 64]
    i = image.find(needle)
    return None if i < 0 else i // BLOCK


POPULATE = [
    ("mkdir", {"path": "/t"}), ("put", {"path": "/t/keep.bin", "n": 70000}),
    ("write", {"path": "/t/a.txt", "text": "first file"}),
    ("blob-put", {"repo": "lib/app", "n": 70000}),
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


def populate(kernel, image, tmp):
    """(image bytes, model state, names) after the fixed workload, cut with
    every write kept (the journal holds live transactions)."""
    disk = NbdDisk(os.path.join(tmp, "pop.sock"), DISK_BYTES)
    m = Machine(kernel, image, nbd_drive(disk.path))
    state, names = model.State(), workload.Names()
    try:
        for op in populate_ops():
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
    finally:
        m.kill()
    disk.cut(random.Random(0), "keep")
    img = disk.image()
    disk.close()
    return img, state, names


def examine(run, case, m, state, names, acked=()):
    """Reads everything back; returns problems. A read that succeeds must
    give the acknowledged bytes (`state` and the operations in `acked`)."""
    for op in acked:
        state = model.apply(state, op)
    problems = []
    fsck_bad = checks.fsck(m)
    obs = checks.observe(m, names)
    want = checks.view_of(state, names)
    got = {"tree": obs.tree, "registry": obs.registry, "snaps": obs.snaps}
    diff = model.differences(want, got)
    for path, data in (obs.tree["files"] or {}).items():
        if data is not None and path in state.files and data != state.files[path] and not fsck_bad:
            problems.append(("wrong-bytes", f"{case}: get {path} gave {len(data)} bytes that are not "
                             f"the acknowledged {len(state.files[path])}, fsck clean"))
    text = m.text()
    reported = bool(fsck_bad or obs.errors or REPORTED.search(text))
    if diff and not reported:
        problems.append(("silent-loss", f"{case}: state differs and nothing was reported: "
                         f"{'; '.join(diff[:3])}"))
    for e in obs.errors:
        if "Device(" in e or "Io {" in e:
            problems.append(("unreadable-error", f"{case}: {e[:160]}"))
            break
    blob_out = [m.cmd(f"blob get {d}") for d in sorted(names["digests"])]
    for out in blob_out:
        lines = [l for l in out.splitlines() if l.strip()]
        if any(l.startswith("error:") for l in lines) and any(re.fullmatch(r"[A-Za-z0-9+/=]{4,}", l)
                                                               for l in lines):
            problems.append(("blob-get-partial", f"{case}: `blob get` printed data lines and then "
                             f"{[l for l in lines if l.startswith('error:')][0][:120]}"))
            break
    run.note(f"  {case}: fsck {'clean' if not fsck_bad else 'reported ' + fsck_bad[:80]}, "
             f"{len(obs.errors)} read errors, {len(diff)} differences")
    return problems


def boot_check(run, case, drive, kernel, image, state, names, actions=None, acked=()):
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
        problems += examine(run, case, m, state, names, acked)
    except BootFailure as e:
        problems.append(("hang", f"{case}: {e}"))
    fatal = m.fatal_text()
    if fatal:
        problems.append(("panic", f"{case}: {fatal.strip()[:200]}"))
    m.kill()
    return problems


def corrupt_cases(img, state):
    sb = superblock(img)
    cases = [("superblock0", 0, 16), ("superblock1", 1, 16), ("bitmap", sb["bitmap"][0], 0)]
    if sb["checksums"][1]:
        cases.append(("checksum-table", sb["checksums"][0], 0))
    cases.append(("journal", sb["journal"][0] + sb["journal_tail"], 8))
    cases.append(("root", sb["roots"][0], 0))
    node = newest_tree_node(img, sb)
    if node is not None:
        cases.append(("tree-node", node, 40))
    chunk = block_holding(img, state.files["/t/keep.bin"])
    if chunk is not None:
        cases.append(("chunk-data", chunk, 1000))
    return cases


def run_corrupt(run, kernel, image, tmp, img, state, names):
    for region, block, off in corrupt_cases(img, state):
        bad = bytearray(img)
        base = block * BLOCK + off
        for i in range(64):
            bad[base + i] ^= 0xA5
        disk = NbdDisk(os.path.join(tmp, "c.sock"), DISK_BYTES, bad)
        run.cuts += 1
        run.note(f"corrupt {region}: block {block}, bytes {off}..{off + 64}")
        for cat, text in boot_check(run, f"corrupt {region} (block {block})", nbd_drive(disk.path),
                                    kernel, image, state, names):
            run.violation(run.cuts, cat, text)
        disk.close()


def blkdebug_rules(rules):
    out = []
    for r in rules:
        out.append("[inject-error]")
        out += [f'{k} = "{v}"' for k, v in r.items()]
        out.append("")
    return "\n".join(out)


def run_ioerror(run, kernel, image, tmp, img, state, names):
    sb = superblock(img)
    chunk = block_holding(img, state.files["/t/keep.bin"])
    node = newest_tree_node(img, sb)
    j0, jn = sb["journal"]
    cases = []
    for once in ("on", "off"):
        tag = "once" if once == "on" else "always"
        if chunk is not None:
            cases.append((f"read {tag} on chunk data", [
                {"event": "read_aio", "iotype": "read", "errno": 5, "sector": chunk * 8, "once": once}],
                "read"))
        if node is not None:
            cases.append((f"read {tag} on a tree node", [
                {"event": "read_aio", "iotype": "read", "errno": 5, "sector": node * 8, "once": once}],
                "read"))
        cases.append((f"read {tag} on the journal", [
            {"event": "read_aio", "iotype": "read", "errno": 5, "sector": (j0 + sb["journal_tail"]) * 8,
             "once": once}], "read"))
        cases.append((f"write {tag} on the journal", [
            {"event": "write_aio", "iotype": "write", "errno": 5, "sector": (j0 + b) * 8, "once": once}
            for b in range(jn)], "write"))
        cases.append((f"write {tag} anywhere", [
            {"event": "write_aio", "iotype": "write", "errno": 5, "once": once}], "write"))
        cases.append((f"flush {tag}", [
            {"event": "flush_to_disk", "iotype": "flush", "errno": 5, "once": once}], "write"))
    for case, rules, kind in cases:
        path = os.path.join(tmp, "io.img")
        with open(path, "wb") as f:
            f.write(img)
        cfg = os.path.join(tmp, "blkdebug.cfg")
        with open(cfg, "w") as f:
            f.write(blkdebug_rules(rules))
        run.cuts += 1
        run.note(f"ioerror {case}")
        always = rules[0]["once"] == "off"
        acked = []

        def actions(m, kind=kind, always=always, case=case):
            problems = []
            # A write, then reads of everything (examine) in the same boot.
            op = {"kind": "write", "path": "/t/during.txt", "data": b"during the error",
                  "line": "write /t/during.txt during the error"}
            out = m.cmd(op["line"])
            if "error:" not in out:
                acked.append(op)
                if kind == "write" and always:
                    problems.append(("acked-despite-error", f"{case}: `{op['line']}` said ok "
                                     "although every such device request fails"))
            elif "Device(" in out or "Io {" in out:
                problems.append(("unreadable-error", f"{case}: {out.strip()[-160:]}"))
            # One error must not poison the store: a file whose blocks did not fail reads.
            out = m.cmd("cat /t/b.txt")
            if "second file" not in out and (kind == "read" or not always):
                problems.append(("poisoned", f"{case}: an unrelated file no longer reads: "
                                 f"{out.strip()[-160:]}"))
            return problems

        problems = boot_check(run, f"ioerror {case}", blkdebug_drive(path, cfg), kernel, image,
                              state, names, actions, acked)
        # Whatever was acknowledged during the errors must be there at the next clean boot.
        want = state
        for op in acked:
            want = model.apply(want, op)
        with open(path, "rb") as f:
            after = f.read()
        disk = NbdDisk(os.path.join(tmp, "r.sock"), DISK_BYTES, after)
        problems += [(c, f"{case}, clean reboot: {t}") for c, t in boot_check(
            run, f"reboot after {case}", nbd_drive(disk.path), kernel, image, want, names)]
        disk.close()
        for cat, text in problems:
            run.violation(run.cuts, cat, text)


def run_faults(run, mode, kernel, image):
    with tempfile.TemporaryDirectory(prefix="crash-faults-") as tmp:
        img, state, names = populate(kernel, image, tmp)
        names = names.as_dict()
        if mode in ("corrupt", "faults", "all"):
            run_corrupt(run, kernel, image, tmp, img, state, names)
        if mode in ("ioerror", "faults", "all"):
            run_ioerror(run, kernel, image, tmp, img, state, names)
