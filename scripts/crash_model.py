"""The crash harness's reference model: what the shell should show.

A `State` is the user tree under `ROOT` (files with their bytes, directories),
the registry as its commands see it (blobs, each repository's layer links,
manifest revisions and tags) and the snapshots (each a copy of tree and
registry: a snapshot covers the whole tree, the registry's included).
`apply(state, op)` gives the state after one operation; operations are
plain dicts made by crash_workload.py. `view(state, names)` is what the
checking commands print for it, so an observed view is compared to the
views of the allowed states (crash_checks.py).
"""
import copy
import hashlib

ROOT = "/t"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class State:
    def __init__(self):
        self.files = {}           # path -> bytes
        self.dirs = {ROOT}        # directory paths (ROOT exists after the first op)
        self.blobs = {}           # digest -> bytes (blobs/ of the registry)
        self.layers = {}          # repo -> set of linked digests
        self.revisions = {}       # repo -> set of manifest digests
        self.tags = {}            # repo -> {tag: digest}
        self.snaps = {}           # name -> (files, dirs, blobs, layers, revisions, tags)

    def copy(self):
        s = State()
        s.files = dict(self.files)
        s.dirs = set(self.dirs)
        s.blobs = dict(self.blobs)
        s.layers = {r: set(v) for r, v in self.layers.items()}
        s.revisions = {r: set(v) for r, v in self.revisions.items()}
        s.tags = {r: dict(v) for r, v in self.tags.items()}
        s.snaps = dict(self.snaps)
        return s

    def tree_part(self):
        return (dict(self.files), set(self.dirs), dict(self.blobs),
                copy.deepcopy(self.layers), copy.deepcopy(self.revisions), copy.deepcopy(self.tags))

    def restore(self, part):
        files, dirs, blobs, layers, revisions, tags = copy.deepcopy(part)
        self.files, self.dirs, self.blobs = files, dirs, blobs
        self.layers, self.revisions, self.tags = layers, revisions, tags

    def user_bytes(self):
        return sum(len(v) for v in self.files.values())


def parent(path):
    return path.rsplit("/", 1)[0] or "/"


def _mkparents(s, path):
    p = parent(path)
    while p != "/" and p not in s.dirs:
        s.dirs.add(p)
        p = parent(p)


def _below(path, top):
    return path == top or path.startswith(top + "/")


def apply(state, op):
    """The state after `op` (a new State; `state` is unchanged)."""
    s = state.copy()
    k = op["kind"]
    if k in ("write", "put"):
        _mkparents(s, op["path"])
        s.files[op["path"]] = op["data"]
    elif k == "mkdir":
        s.dirs.add(op["path"])
        _mkparents(s, op["path"])
    elif k in ("rm", "rm-r"):
        p = op["path"]
        s.files = {f: d for f, d in s.files.items() if not _below(f, p)}
        s.dirs = {d for d in s.dirs if not _below(d, p)}
    elif k == "mv":
        a, b = op["path"], op["to"]
        if a in s.files:
            s.files[b] = s.files.pop(a)
        else:
            s.dirs.discard(b)
            s.files = {(b + f[len(a):] if _below(f, a) else f): d for f, d in s.files.items()}
            s.dirs = {(b + d[len(a):] if _below(d, a) else d) for d in s.dirs}
    elif k == "truncate":
        d = s.files[op["path"]]
        n = op["size"]
        s.files[op["path"]] = d[:n] + bytes(max(0, n - len(d)))
    elif k == "snap-create":
        s.snaps[op["name"]] = state.tree_part()
    elif k == "snap-restore":
        s.restore(s.snaps[op["name"]])
    elif k == "snap-rm":
        del s.snaps[op["name"]]
    elif k == "blob-put":
        s.blobs.setdefault(op["digest"], op["data"])
        s.layers.setdefault(op["repo"], set()).add(op["digest"])
    elif k == "blob-rm":
        del s.blobs[op["digest"]]
    elif k == "manifest-put":
        d = sha256(op["data"])
        s.blobs.setdefault(d, op["data"])
        s.revisions.setdefault(op["repo"], set()).add(d)
        if not op["ref"].startswith("sha256:"):
            s.tags.setdefault(op["repo"], {})[op["ref"]] = d
    elif k == "manifest-rm":
        repo, ref = op["repo"], op["ref"]
        if ref.startswith("sha256:"):
            s.revisions.get(repo, set()).discard(ref)
            for t, d in list(s.tags.get(repo, {}).items()):
                if d == ref:
                    del s.tags[repo][t]
        else:
            del s.tags[repo][ref]
    elif k in ("gc", "sync"):
        pass
    else:
        raise ValueError(f"unknown op {k}")
    return s


def manifest_of(s, repo, ref):
    """What `manifest get repo ref` prints for state s (None: an error)."""
    d = s.tags.get(repo, {}).get(ref) if not ref.startswith("sha256:") else ref
    if d is None or d not in s.revisions.get(repo, set()):
        return None
    return s.blobs.get(d)


def registry_view(s, names):
    """What the registry commands show for the names ever used
    (`names`: {"repos", "digests", "refs"})."""
    return {
        "repos": sorted(r for r, v in s.layers.items() if v),
        "tags": {r: sorted(s.tags.get(r, {})) for r in sorted(names["repos"])},
        "blobs": {d: s.blobs.get(d) for d in sorted(names["digests"])},
        "manifests": {f"{r} {ref}": manifest_of(s, r, ref) for r, ref in sorted(names["refs"])},
    }


def tree_view(s):
    return {"dirs": sorted(s.dirs), "files": dict(sorted(s.files.items()))}


def describe(op):
    """One line naming an operation (its size for data)."""
    k = op["kind"]
    if "data" in op:
        what = op.get("path") or (f"{op['repo']} {op['digest']}" if "digest" in op
                                  else f"{op['repo']} {op['ref']}")
        return f"{k} {what} ({len(op['data'])} bytes)"
    return op["line"]


def differences(want, got, limit=4):
    """Short text lines naming how view `got` differs from `want`."""
    out = []

    def walk(a, b, where):
        if len(out) >= limit:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if key not in b:
                    out.append(f"{where}{key}: missing (want {_short(a[key])})")
                elif key not in a:
                    out.append(f"{where}{key}: unexpected ({_short(b[key])})")
                else:
                    walk(a[key], b[key], f"{where}{key}: ")
        elif a != b:
            out.append(f"{where}want {_short(a)}, got {_short(b)}")
    walk(want, got, "")
    return out


def _short(v):
    if isinstance(v, (bytes, bytearray)):
        return f"{len(v)} bytes {hashlib.sha256(v).hexdigest()[:8]}"
    if v is None:
        return "absent"
    text = repr(v)
    return text if len(text) < 100 else text[:97] + "..."
