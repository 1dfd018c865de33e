#!/usr/bin/env python3
"""Crash-recovery harness: power cuts, device errors and corrupt images,
against the real system in QEMU, driven through the shell (issue #9).

  crash.py [--seed S] [--cuts N] [--kinds k1,k2..] [--allow cat1,..]
           [--mode crash|ioerror|corrupt|faults|all] [--case N] [-v]

`crash` mode: QEMU boots `boot.cfg` on a disk served by the harness's own NBD
server (nbd_disk.py), whose unflushed writes are dropped, kept, reordered or
torn at each cut. A random workload of every mutating shell command runs
(crash_workload.py); a cut lands mid-command, mid base64 stream, right after
an acknowledgement or inside `gc`. Then QEMU boots on the durable image and
crash_checks.py checks: the shell comes up, no panic or fault, `fsck` clean,
the visible state is the state after a prefix of the operation log that
holds every acknowledged operation (file bytes, registry, snapshots). The
workload goes on from the recovered disk.
`ioerror` / `corrupt` modes: crash_faults.py.

Prints `crash cuts: N, violations: V` and one line per violation with the
command that replays it; exits 1 on violations. Cut c of seed S uses the
random generator seeded "S:c", so `--seed S --cuts c` replays the same
choices (QEMU timing can still move a timer cut).
"""
import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import crash_checks as checks  # noqa: E402
import crash_model as model  # noqa: E402
import crash_workload as workload  # noqa: E402
from crash_shell import BootFailure, Machine, kernel_paths, nbd_drive  # noqa: E402
from nbd_disk import CUT_MODES, NbdDisk  # noqa: E402

ROOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DISK_BYTES = 64 << 20


class Run:
    """Counts, violations and the replay hint for one harness run."""

    def __init__(self, seed, verbose, allow=(), mode="crash"):
        self.seed, self.verbose, self.allow, self.mode = seed, verbose, set(allow), mode
        self.violations = []  # (cut, category, text)
        self.known = []       # the same, in an allowed (known, not yet fixed) category
        self.cuts = 0
        self.cases = 0        # fault-mode cases (crash_faults.py)
        self.only_case = None  # --case: run just that fault case

    def violation(self, cut, category, text):
        # `inflight-put` is allowed by `inflight`, or by `inflight-put`.
        allowed = category in self.allow or category.split("-")[0] in self.allow
        (self.known if allowed else self.violations).append((cut, category, text))
        if self.mode == "crash" or not self.cases:
            where, replay = f"cut {cut}", f"--seed {self.seed} --cuts {cut}"
        else:
            where, replay = f"case {cut}", f"--mode {self.mode} --case {cut}"
        print(f"{'known' if allowed else 'violation'}: {where} [{category}] {text} "
              f"(replay: scripts/crash.py {replay})", flush=True)

    def note(self, text):
        if self.verbose:
            print(text, flush=True)


class CrashSession:
    """The crash mode: one NBD disk, the model, the workload generator."""

    def __init__(self, run, kinds, kernel, image, tmp):
        self.run, self.kinds = run, kinds
        self.kernel, self.image = kernel, image
        self.sock = os.path.join(tmp, "nbd.sock")
        self.disk = NbdDisk(self.sock, DISK_BYTES)
        self.machine = None
        self.flush_checked = False
        self.io_per_kind = {}  # kind -> most writes+flushes seen in one op

    def boot(self):
        self.machine = Machine(self.kernel, self.image, nbd_drive(self.sock))
        return self.machine

    def fresh_start(self):
        """A blank disk, an empty model: at the start and after a violation
        (the model cannot follow a state it does not know)."""
        if self.machine:
            self.machine.kill()
        self.disk.set_image(bytes(DISK_BYTES))
        self.state = model.State()
        self.gen = workload.Generator(random.Random(f"{self.run.seed}:fresh:{self.run.cuts}"),
                                      self.kinds)
        m = self.boot()
        before = dict(self.disk.counts)
        out = m.cmd(f"mkdir {model.ROOT}")
        if out.strip() != "ok":
            raise BootFailure(f"mkdir {model.ROOT} on a fresh disk: {out.strip()!r}")
        if not self.flush_checked:
            # A durable commit must reach the server as NBD_CMD_FLUSH, or no
            # cut could ever lose anything the guest thought durable.
            self.flush_checked = True
            if self.disk.counts["flush"] == before["flush"]:
                self.run.violation(0, "no-flush", "a durable mkdir sent no NBD_CMD_FLUSH: "
                                   "guest flushes do not reach the disk")
            else:
                print(f"nbd: a durable mkdir reached the disk as "
                      f"{self.disk.counts['write'] - before['write']} writes and "
                      f"{self.disk.counts['flush'] - before['flush']} NBD_CMD_FLUSH", flush=True)

    def plan_for(self, op, rng):
        if op["kind"] == "gc":
            return ("nbd", rng.randint(1, max(2, self.io_per_kind.get("gc", 8))))
        if len(op["data_lines"]) > 12 and rng.random() < 0.4:
            return ("stream", rng.uniform(0.1, 0.95))
        # Mostly a cut at the n-th disk request of the command (inside it,
        # whatever the timing); timers mostly land after the acknowledgement.
        x = rng.random()
        if x < 0.5:
            return ("nbd", rng.randint(1, max(2, self.io_per_kind.get(op["kind"], 6))))
        if x < 0.7:
            return ("flush", rng.randint(1, 3))
        if x < 0.85:
            return ("ack",)
        return ("timer", rng.uniform(0.0, 1.5))

    def one_cut(self, cut):
        """Workload with a cut, then the boot and checks. False: start fresh."""
        rng = random.Random(f"{self.run.seed}:{cut}")
        self.gen.rng = rng
        m = self.machine
        n_ops = rng.randint(1, 4)
        candidates, inflight = None, None
        for j in range(n_ops):
            last = j == n_ops - 1
            # The cut op's kind goes round every kind, so a short run cuts
            # inside each mutating command.
            op = self.gen.make(self.state, self.gen.kinds[cut % len(self.gen.kinds)] if last else None)
            plan = self.plan_for(op, rng) if last else None
            before = self.disk.counts["write"] + self.disk.counts["flush"]
            res = workload.run_op(m, self.disk, op, plan, rng)
            io = self.disk.counts["write"] + self.disk.counts["flush"] - before
            if res.acked:
                self.io_per_kind[op["kind"]] = max(io, self.io_per_kind.get(op["kind"], 0))
                self.state = model.apply(self.state, op)
                candidates = [self.state]
                self.run.note(f"  op {model.describe(op)[:90]}: ok")
                if last:
                    plan_text = f"{plan[0]} after the acknowledgement"
                continue
            inflight = op
            candidates = [self.state, model.apply(self.state, op)]
            if res.error is not None:
                self.run.violation(cut, "unexpected-error",
                                   f"{model.describe(op)[:80]}: {' '.join(res.error)[:200]}")
                m.kill()
                plan_text = "after an unexpected error"
            else:
                plan_text = f"{plan[0]} {plan[1:] and round(plan[1], 2) or ''} in {op['kind']}"
            break
        mode = rng.choice(CUT_MODES)
        what = self.disk.cut(rng, mode)
        self.run.cuts += 1
        self.run.note(f"cut {cut}: {plan_text}; {what}")
        return self.check(cut, candidates, inflight)

    def check(self, cut, candidates, inflight):
        t0 = time.time()
        try:
            m = self.boot()
        except BootFailure as e:
            self.run.violation(cut, "no-shell", f"after the cut the system did not come up: {e}")
            return False
        t1 = time.time()
        problems = []
        try:
            if "cannot mount" in m.text() or "cannot open the store" in m.text():
                problems.append(("mount", "mount failed: " + m.text()[-300:].strip()))
            bad = checks.fsck(m)
            if bad:
                problems.append(("fsck", f"fsck not clean: {bad}"))
            names = self.gen.names.as_dict()
            obs = checks.observe(m, names)
            for e in obs.errors[:3]:
                problems.append(("read-error", e))
            i, diff = checks.match(obs, candidates, names)
            if i is None:
                if inflight is not None:
                    cat = f"inflight-{inflight['kind']}"
                    text = (f"in-flight {model.describe(inflight)[:80]} partly applied, or an "
                            f"acknowledged operation lost: {'; '.join(diff)}")
                else:
                    cat, text = "acked-lost", f"acknowledged state not recovered: {'; '.join(diff)}"
                problems.append((cat, text))
            else:
                self.state = candidates[i]
                for p in checks.snapshot_diffs(m, self.state):
                    problems.append(("snapshot-diff", p))
        except BootFailure as e:
            problems.append(("hang", f"a check command did not answer: {e}"))
        fatal = m.fatal_text()
        if fatal:
            problems.append(("panic", fatal.strip()[:200]))
        for cat, text in problems:
            self.run.violation(cut, cat, text)
        self.run.note(f"  boot {t1 - t0:.1f} s, checks {time.time() - t1:.1f} s")
        return not problems


def run_crash(run, cuts, kinds, kernel, image):
    with tempfile.TemporaryDirectory(prefix="crash-") as tmp:
        s = CrashSession(run, kinds, kernel, image, tmp)
        times = []
        try:
            s.fresh_start()
            for cut in range(1, cuts + 1):
                t0 = time.time()
                try:
                    ok = s.one_cut(cut)
                except BootFailure as e:
                    run.violation(cut, "hang", f"the shell stopped answering: {e}")
                    ok = False
                if not ok:
                    s.fresh_start()
                times.append(time.time() - t0)
        finally:
            if s.machine:
                s.machine.kill()
            s.disk.close()
        if times:
            print(f"crash: {len(times)} cuts in {sum(times):.0f} s, "
                  f"{sum(times) / len(times):.1f} s per cut", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cuts", type=int, default=int(os.environ.get("CRASH_CUTS") or 30))
    ap.add_argument("--kinds", default=os.environ.get("CRASH_KINDS") or ",".join(workload.KINDS),
                    help="operation kinds of the workload, comma-separated (default: all)")
    ap.add_argument("--mode", default="crash", choices=("crash", "ioerror", "corrupt", "faults", "all"),
                    help="crash: power cuts; ioerror/corrupt: device errors / damaged images; "
                    "faults: both of those; all: everything")
    ap.add_argument("--allow", default=os.environ.get("CRASH_ALLOW") or "",
                    help="violation categories reported as `known` and not counted, "
                    "comma-separated (for bugs whose fix has not landed)")
    ap.add_argument("--case", type=int, help="fault modes: run only this case number")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in workload.KINDS]
    if unknown:
        sys.exit(f"crash.py: unknown kinds {unknown}; known: {','.join(workload.KINDS)}")
    kernel, image = kernel_paths(ROOT_DIR)
    run = Run(args.seed, args.verbose, [a for a in args.allow.split(",") if a], args.mode)
    run.only_case = args.case
    t0 = time.time()
    if args.mode in ("crash", "all"):
        run_crash(run, args.cuts, kinds, kernel, image)
    if args.mode != "crash":
        import crash_faults
        crash_faults.run_faults(run, args.mode, kernel, image)
    if run.cases:
        print(f"fault cases: {run.cases}")
    print(f"crash cuts: {run.cuts}, violations: {len(run.violations)}")
    for label, items in (("violations", run.violations), ("known (allowed)", run.known)):
        cats = {}
        for cut, cat, _ in items:
            cats.setdefault(cat, []).append(cut)
        for cat, cs in sorted(cats.items()):
            print(f"  {label} {cat}: {len(cs)} (at {' '.join(map(str, cs[:10]))})")
    print(f"crash: {time.time() - t0:.0f} s in all")
    sys.exit(1 if run.violations else 0)


if __name__ == "__main__":
    main()
