"""What the crash harness checks after every boot: the shell came up,
nothing panicked or faulted, `fsck` is clean, and the visible state (tree
and file bytes, registry, snapshot names, snapshot contents as far as
`snap diff` names them) equals the state after some allowed prefix of the
operation log.
"""
import base64
import re

import crash_model as model


class Observed:
    """The state as the shell shows it, plus any command that failed."""

    def __init__(self):
        self.tree = None
        self.registry = None
        self.snaps = None
        self.errors = []


def parse_tree(out, top):
    """`tree top` output -> (dirs, files) as full paths."""
    lines = [l for l in out.splitlines() if l.strip()]
    if not lines or lines[0].strip() != top:
        return None
    dirs, files = {top}, set()
    at_depth = {1: top}
    for l in lines[1:]:
        depth = (len(l) - len(l.lstrip(" "))) // 2
        name = l.strip()
        base = at_depth.get(depth)
        if base is None:
            return None
        if name.endswith(":"):
            at_depth[depth + 1] = f"{base}/{name[:-1]}"
        elif name.endswith("/"):
            dirs.add(f"{base}/{name[:-1]}")
        else:
            files.add(f"{base}/{name}")
    return dirs, files


def decode_get(out):
    """(bytes, None) from a `get`/`blob get` answer, or (None, error line)."""
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    if any(l.startswith("error:") for l in lines):
        return None, next(l for l in lines if l.startswith("error:"))
    if not lines or not re.fullmatch(r"\((\d+) bytes\)", lines[-1]):
        return None, f"no `(n bytes)` line: {out.strip()[-200:]!r}"
    n = int(lines[-1][1:].split()[0])
    try:
        data = base64.b64decode("".join(lines[:-1]), validate=True)
    except ValueError as e:
        return None, f"bad base64 from the shell: {e}"
    if len(data) != n:
        return None, f"decoded {len(data)} bytes, the shell said {n}"
    return data, None


def observe(m, names, top=model.ROOT):
    o = Observed()
    out = m.cmd(f"tree {top}")
    parsed = parse_tree(out, top)
    if parsed is None:
        o.errors.append(f"tree {top}: {out.strip()[-200:]!r}")
        o.tree = {"dirs": [], "files": {}}
    else:
        dirs, files = parsed
        got = {}
        for f in sorted(files):
            data, err = decode_get(m.cmd(f"get {f}"))
            if err:
                o.errors.append(f"get {f}: {err}")
            got[f] = data
        o.tree = {"dirs": sorted(dirs), "files": got}
    # "(no repositories)": the shell's word for an empty list, not a name.
    repos = [l.strip() for l in m.cmd("repos").splitlines()
             if l.strip() and not l.startswith("(")]
    reg = {"repos": sorted(repos), "tags": {}, "blobs": {}, "manifests": {}}
    for r in sorted(names["repos"]):
        out = m.cmd(f"tags {r}")
        reg["tags"][r] = sorted(l.strip() for l in out.splitlines()
                                if l.strip() and not l.startswith(("error:", "(")))
    for d in sorted(names["digests"]):
        out = m.cmd(f"blob stat {d}")
        if "error:" in out:
            if "not stored" not in out:
                o.errors.append(f"blob stat {d[:20]}: {out.strip()[-200:]}")
            reg["blobs"][d] = None
            continue
        data, err = decode_get(m.cmd(f"blob get {d}"))
        if err:
            o.errors.append(f"blob get {d[:20]}: {err}")
        reg["blobs"][d] = data
    for r, ref in sorted(names["refs"]):
        out = m.cmd(f"manifest get {r} {ref}")
        if "error:" in out:
            if "no manifest" not in out and "not stored" not in out:
                o.errors.append(f"manifest get {r} {ref[:20]}: {out.strip()[-200:]}")
            reg["manifests"][f"{r} {ref}"] = None
        else:
            reg["manifests"][f"{r} {ref}"] = out.strip("\n").encode()
    o.registry = reg
    out = m.cmd("snap list")
    o.snaps = sorted(l.split()[0] for l in out.splitlines()
                     if re.match(r"^\S+ logical \d+ bytes", l))
    return o


def view_of(state, names):
    return {"tree": model.tree_view(state), "registry": model.registry_view(state, names),
            "snaps": sorted(state.snaps)}


def match(observed, candidates, names):
    """Index of the first candidate state the observation equals, or None
    and the differences to each candidate (`before:`/`after:` the in-flight
    operation when there are two)."""
    got = {"tree": observed.tree, "registry": observed.registry, "snaps": observed.snaps}
    diffs = []
    for i, s in enumerate(candidates):
        diff = model.differences(view_of(s, names), got, limit=2)
        if not diff:
            return i, []
        label = ("before: ", "after: ")[i] if len(candidates) == 2 else ""
        diffs += [label + d for d in diff]
    return None, diffs


def snapshot_diffs(m, state):
    """Each snapshot's `snap diff` against the live tree must name every
    user path whose content differs (or an ancestor of it). Returns problems."""
    problems = []
    for name, part in sorted(state.snaps.items()):
        files, dirs = part[0], part[1]
        out = m.cmd(f"snap diff {name}")
        if "error:" in out:
            problems.append(f"snap diff {name}: {out.strip()[-200:]}")
            continue
        named = {l[2:].strip() for l in out.splitlines() if l[:2] in ("+ ", "- ", "M ")}
        changed = {p for p in set(files) | set(state.files) if files.get(p) != state.files.get(p)}
        changed |= dirs ^ state.dirs
        for p in sorted(changed):
            if not any(model._below(p, n) for n in named):
                problems.append(f"snapshot {name}: {p} differs from the live tree, "
                                f"`snap diff {name}` does not name it")
                break
    return problems


def fsck(m):
    out = m.cmd("fsck", timeout=300)
    if "fsck: clean" in out and "error:" not in out:
        return None
    return out.strip().splitlines()[-1][-300:] if out.strip() else "fsck printed nothing"
