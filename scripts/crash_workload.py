"""Random workloads for the crash harness: operations made from the model's
state, typed at the shell, with an optional power cut inside one of them.

Every mutating shell command is in the mix (`KINDS`); `--kinds` (or the
CRASH_KINDS variable) narrows it, so a run can leave out a category whose
fix has not landed. An operation is a dict: `kind`, `line` (the command),
`data_lines` (base64, for put / blob put / manifest put) and the values the
model needs (crash_model.apply).
"""
import base64
import hashlib
import time

import crash_model as model
from crash_shell import CutNow

ROOT = model.ROOT
KINDS = ("write", "put", "put-big", "overwrite", "rm", "rm-r", "mkdir", "mv", "truncate",
         "snap-create", "snap-restore", "snap-rm", "blob-put", "blob-rm", "manifest-put",
         "manifest-rm", "gc", "sync")
WEIGHTS = {"write": 4, "put": 4, "put-big": 2, "overwrite": 4, "rm": 2, "rm-r": 1, "mkdir": 2,
           "mv": 2, "truncate": 2, "snap-create": 1, "snap-restore": 1, "snap-rm": 1,
           "blob-put": 2, "blob-rm": 1, "manifest-put": 2, "manifest-rm": 1, "gc": 1, "sync": 1}
REPOS = ("lib/app", "lib/db", "tools")
TAGS = ("v1", "v2", "latest")
SNAPS = ("s0", "s1", "s2", "s3")
NAMES = ("a", "b", "c", "d", "e")
# The whole user tree stays small, so the check after a cut reads it quickly.
BYTE_BUDGET = 200 * 1024
PIECE = 48 * 1024  # the shell's put piece: a bigger put is several commits


def data_of(tag, n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{tag}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def b64_lines(data):
    text = base64.b64encode(data).decode()
    return [text[i:i + 76] for i in range(0, len(text), 76)]


class Names:
    """Every repository, digest and (repo, ref) the workload ever used: the
    checks ask about all of them, present or not."""

    def __init__(self):
        self.repos, self.digests, self.refs = set(), set(), set()

    def as_dict(self):
        return {"repos": self.repos, "digests": self.digests, "refs": self.refs}


class Generator:
    def __init__(self, rng, kinds):
        self.rng = rng
        self.kinds = [k for k in KINDS if k in kinds]
        self.names = Names()
        self.counter = 0

    def _new_path(self, s, under=None):
        r = self.rng
        dirs = sorted(s.dirs)
        base = under or r.choice(dirs)
        for _ in range(20):
            p = f"{base}/{r.choice(NAMES)}{r.randint(0, 9)}"
            if p not in s.files and p not in s.dirs and p.count("/") <= 4:
                return p
        return f"{ROOT}/n{self.counter}"

    def make(self, s, want=None):
        """A valid operation for state s (the model predicts success); of
        kind `want` when that kind has something to work on."""
        r = self.rng
        for attempt in range(50):
            if want in self.kinds and attempt < 3:
                kind = want
            else:
                kind = r.choices(self.kinds, [WEIGHTS[k] for k in self.kinds])[0]
            if s.user_bytes() > BYTE_BUDGET and kind in ("put", "put-big", "write") and s.files:
                kind = "rm" if "rm" in self.kinds else kind
            op = getattr(self, "op_" + kind.replace("-", "_"))(s)
            if op is not None:
                self.counter += 1
                op.setdefault("data_lines", [])
                op["gen"] = kind
                return op
        return {"kind": "sync", "line": "sync", "data_lines": [], "gen": "sync"}

    # ---- files ----
    def op_write(self, s, path=None):
        r = self.rng
        path = path or self._new_path(s)
        words = [r.choice(("alpha", "beta", "gamma", "delta", str(r.randint(0, 99999))))
                 for _ in range(r.randint(1, 30))]
        text = " ".join(words)
        return {"kind": "write", "path": path, "data": text.encode(), "line": f"write {path} {text}"}

    def _put(self, path, n):
        data = data_of(f"{path}:{self.counter}:{self.rng.random()}", n)
        return {"kind": "put", "path": path, "data": data, "line": f"put {path} {n}",
                "data_lines": b64_lines(data)}

    def op_put(self, s):
        return self._put(self._new_path(s), self.rng.randint(0, 3000))

    def op_put_big(self, s):
        return self._put(self._new_path(s), self.rng.randint(PIECE + 1, 2 * PIECE + 20000))

    def op_overwrite(self, s):
        if not s.files:
            return None
        path = self.rng.choice(sorted(s.files))
        if self.rng.random() < 0.4:
            return self.op_write(s, path)
        n = self.rng.choice((self.rng.randint(0, 3000), self.rng.randint(PIECE + 1, 2 * PIECE)))
        return self._put(path, n)

    def op_rm(self, s):
        empty = [d for d in s.dirs if d != ROOT and not any(
            model._below(x, d) and x != d for x in list(s.files) + list(s.dirs))]
        choices = sorted(s.files) + sorted(empty)
        if not choices:
            return None
        p = self.rng.choice(choices)
        return {"kind": "rm", "path": p, "line": f"rm {p}"}

    def op_rm_r(self, s):
        dirs = sorted(d for d in s.dirs if d != ROOT)
        if not dirs:
            return None
        p = self.rng.choice(dirs)
        return {"kind": "rm-r", "path": p, "line": f"rm -r {p}"}

    def op_mkdir(self, s):
        p = self._new_path(s)
        if self.rng.random() < 0.3:
            p += f"/{self.rng.choice(NAMES)}"
        return {"kind": "mkdir", "path": p, "line": f"mkdir {p}"}

    def op_mv(self, s):
        r = self.rng
        if s.files and r.random() < 0.7:
            a = r.choice(sorted(s.files))
            others = sorted(f for f in s.files if f != a)
            b = r.choice(others) if others and r.random() < 0.3 else self._new_path(s)
        else:
            dirs = sorted(d for d in s.dirs if d != ROOT)
            if not dirs:
                return None
            a = r.choice(dirs)
            b = self._new_path(s, under=model.parent(a))
        if model._below(b, a):
            return None
        return {"kind": "mv", "path": a, "to": b, "line": f"mv {a} {b}"}

    def op_truncate(self, s):
        if not s.files:
            return None
        p = self.rng.choice(sorted(s.files))
        n = self.rng.randint(0, len(s.files[p]) + 2000)
        return {"kind": "truncate", "path": p, "size": n, "line": f"truncate {p} {n}"}

    # ---- snapshots ----
    def op_snap_create(self, s):
        free = [n for n in SNAPS if n not in s.snaps]
        if not free:
            return None
        n = self.rng.choice(free)
        return {"kind": "snap-create", "name": n, "line": f"snap create {n}"}

    def op_snap_restore(self, s):
        if not s.snaps:
            return None
        n = self.rng.choice(sorted(s.snaps))
        return {"kind": "snap-restore", "name": n, "line": f"snap restore {n}"}

    def op_snap_rm(self, s):
        if not s.snaps:
            return None
        n = self.rng.choice(sorted(s.snaps))
        return {"kind": "snap-rm", "name": n, "line": f"snap rm {n}"}

    # ---- registry ----
    def op_blob_put(self, s):
        r = self.rng
        n = r.choice((r.randint(1, 4000), r.randint(PIECE + 1, 70 * 1024)))
        data = data_of(f"blob{r.randint(0, 7)}:{n}", n)
        d = model.sha256(data)
        repo = r.choice(REPOS)
        self.names.repos.add(repo)
        self.names.digests.add(d)
        return {"kind": "blob-put", "repo": repo, "digest": d, "data": data,
                "line": f"blob put {repo} {d} {n}", "data_lines": b64_lines(data)}

    def op_blob_rm(self, s):
        if not s.blobs:
            return None
        d = self.rng.choice(sorted(s.blobs))
        return {"kind": "blob-rm", "digest": d, "line": f"blob rm {d}"}

    def op_manifest_put(self, s):
        r = self.rng
        data = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
                f'"layers":[],"n":{r.randint(0, 999)}}}').encode()
        repo = r.choice(REPOS)
        ref = r.choice(TAGS) if r.random() < 0.7 else model.sha256(data)
        self.names.repos.add(repo)
        self.names.refs.add((repo, ref))
        self.names.refs.add((repo, model.sha256(data)))
        self.names.digests.add(model.sha256(data))
        return {"kind": "manifest-put", "repo": repo, "ref": ref, "data": data,
                "line": f"manifest put {repo} {ref} {len(data)}", "data_lines": b64_lines(data)}

    def op_manifest_rm(self, s):
        refs = sorted([(r, t) for r, tags in s.tags.items() for t in tags]
                      + [(r, d) for r, ds in s.revisions.items() for d in ds])
        if not refs:
            return None
        repo, ref = self.rng.choice(refs)
        return {"kind": "manifest-rm", "repo": repo, "ref": ref, "line": f"manifest rm {repo} {ref}"}

    def op_gc(self, s):
        return {"kind": "gc", "line": "gc"}

    def op_sync(self, s):
        return {"kind": "sync", "line": "sync"}


class Outcome:
    def __init__(self, acked, output, error=None):
        self.acked, self.output, self.error = acked, output, error


def run_op(machine, disk, op, plan=None, rng=None):
    """Types `op` at the shell. `plan` places a power cut in it:
      None               run to the prompt
      ("nbd", n)         freeze the disk at the n-th write/flush request from the start
      ("flush", n)       freeze it at the n-th flush (all writes since the last one pending)
      ("ack",)           right after the acknowledgement
      ("stream", frac)   after `frac` of the data lines (mid base64 stream)
      ("timer", secs)    `secs` after the command line was sent
    Returns an Outcome; `acked` is True when the prompt came back with no
    `error:` line. After a cut QEMU is dead (killed here)."""
    deadline = [None]
    machine.abort = None
    if plan and plan[0] in ("nbd", "flush"):
        disk.arm(plan[1], flushes_only=plan[0] == "flush")
        machine.abort = disk.frozen.is_set
    elif plan and plan[0] == "timer":
        deadline[0] = time.time() + plan[1]
        machine.abort = lambda: time.time() >= deadline[0]
    out = None
    try:
        pos = machine.start_cmd(op["line"])
        lines = op["data_lines"]
        stop = None
        if plan and plan[0] == "stream" and lines:
            cut_at = int(len(lines) * plan[1])
            stop = lambda i: i >= cut_at
        pos, complete = machine.send_data(pos, lines, stop=stop)
        if not complete:
            time.sleep(rng.uniform(0, 0.3) if rng else 0.1)
            raise CutNow()
        out = machine.finish_cmd(pos)
    except CutNow:
        machine.kill()
        disk.disarm()
        return Outcome(False, machine.text()[-2000:])
    finally:
        machine.abort = None
    disk.disarm()
    acked = "error:" not in out
    if plan is not None:  # ack, or a trigger/timer that came too late
        machine.kill()
    return Outcome(acked, out, None if acked else out.strip().splitlines()[-1:])
