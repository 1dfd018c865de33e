#!/usr/bin/env python3
"""Sampling profiler for the guest: which process and which function the
vCPU was in during a marked phase of the storage benchmark (docs/speed.md,
"Where the cycles go, by function").

  profile.py KERNEL IMAGE [fs] [--phase P[,P...]] [--hz N] [--runs N]
             [--mode stop|live] [--top N] [--per-process N] [--inline]
             [--save FILE | --load FILE] [--no-flush]

Boots bench-fs.cfg (a fresh 256 MiB disk, as `qemu.py bench ... fs`) with
a QMP socket. The guest prints `fsbench: mark begin NAME BYTES` / `mark end
NAME` around each timed phase (sha256, blake3, blake3crate, seq_write,
seq_read, small_put, small_put_4clients); while a wanted phase runs, this
reads the vCPU's registers N times a second through the monitor (`info
registers`: RIP, CR3, CPL, HLT) and attributes each sample:

  HLT=1          -> `idle` (the kernel's hlt, nothing runnable)
  CPL 0          -> `kernel`, symbolized against KERNEL; the column `on`
                    names the process whose page table was loaded
  CPL 3          -> the process whose CR3 it is (the kernel logs each
                    process's page-table root at load: `loaded NAME from
                    IMAGE (..., cr3 0x...)`), symbolized against its ELF,
                    taken from IMAGE itself (symbol tables are kept there)

`--mode stop` (default) pauses the VM around each read (QMP stop / info
registers / cont): TCG stops at the start of the next translated block, so
RIP is exact but names the block about to run (a callee's last block is
charged to its return site); the guest's TSC stands still while paused,
but QEMU drains and flushes the disk at each stop, which hides some I/O
waiting (idle). `--mode live` reads without pausing: ~3x the rate, no
drain, the process exact (CR3, CPL), but TCG stores RIP only at some
block exits, so the function is stale. `--hz 0` samples nothing: the
baseline for the overhead (each phase's vCPU-thread CPU seconds are
printed). `--inline` names each sample by the innermost inlined function
of ours (not `core::`), by addr2line on the unstripped ELFs of KERNEL's
build (target/x86_64-target/release). `--save FILE` keeps the raw
samples and boot logs; `--load FILE` reports them again without a boot.
`--no-flush` makes the disk ignore flushes (no fdatasync per stop, but
the guest's flushes become free too).

Prints, per phase: the guest's own figures for it (its `fs_...` line and
the kernel's per-process cycle accounts), the samples per process, per
family (what the code is for: hashes, chunker, CRC, copies, allocator,
trees, kernel entry/exit, ...; `CATEGORIES`), the top functions overall
and of each process, with each run's share when --runs > 1 (the spread).
"""
import argparse
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from profile_symbols import (BARE_DIR, Code, Symbols, callers, clean_name,  # noqa: E402,F401
                             code_segments, frames, inline_names, parse_addr2line, parse_dump,
                             parse_nm, short_name)

PHASES = ("sha256", "blake3", "blake3crate", "seq_write", "seq_read", "small_put",
          "small_put_4clients")
CONFIG = "bench-fs.cfg"

# ---- pure parts (scripts/test_profile.py) ----


def boot_image_files(data):
    """The files of a boot image (kernel/logic/src/bootimg.rs): {name: bytes}."""
    if data[:8] != b"BOOTIMG1":
        raise ValueError("not a boot image (magic)")
    count = struct.unpack_from("<I", data, 8)[0]
    files = {}
    for i in range(count):
        off = 16 + 48 * i
        name = data[off:off + 32].rstrip(b"\0").decode()
        pos, size = struct.unpack_from("<QQ", data, off + 32)
        files[name] = data[pos:pos + size]
    return files


def config_images(text):
    """`proc NAME IMAGE ...` lines of a boot configuration: {name: image}."""
    out = {}
    for line in text.splitlines():
        w = line.split()
        if len(w) >= 3 and w[0] == "proc":
            out[w[1]] = w[2]
    return out


_REG = re.compile(r"\b(RIP|CR3|CPL|HLT)=([0-9a-fA-F]+)")


def parse_registers(text):
    """`info registers` -> (rip, cr3 without flag bits, cpl, halted)."""
    r = dict(_REG.findall(text))
    if not {"RIP", "CR3", "CPL", "HLT"} <= r.keys():
        raise ValueError("no RIP/CR3/CPL/HLT in: " + text[:200])
    return int(r["RIP"], 16), int(r["CR3"], 16) & ~0xFFF, int(r["CPL"]), r["HLT"] == "1"


_LOADED = re.compile(r"loaded (\S+) from (\S+) \(.*cr3 (0x[0-9a-f]+)\)")


def parse_loaded(log):
    """The kernel's `loaded NAME from IMAGE (..., cr3 0x...)` lines:
    {cr3: (name, image)}."""
    return {int(m.group(3), 16): (m.group(1), m.group(2)) for m in _LOADED.finditer(log)}


def attribute(sample, procs, tables, kernel):
    """One sample -> (where, on, function). `where` is `idle`, `kernel` or
    the process name; `on` the process whose page table was loaded;
    `tables` {image: Symbols}, `kernel` the kernel's Symbols."""
    rip, cr3, cpl, halted = sample[:4]
    name, image = procs.get(cr3, (f"cr3={cr3:#x}", None))
    if halted:
        return "idle", name, "hlt"
    if cpl == 0:
        return "kernel", name, kernel.lookup(rip) or f"? {rip:#x}"
    table = tables.get(image)
    fn = table.lookup(rip) if table else None
    return name, name, fn or f"? {rip:#x}"


# What a function is for, first match wins: the families a phase's samples
# are summed into (`category`).
CATEGORIES = [
    ("SHA-256", r"sha2::|sha256"),
    ("BLAKE3", r"blake3"),
    ("chunker", r"chunker"),
    ("CRC checksums", r"crc"),
    ("copies", r"memcpy|memmove|move_group|copy_forward|copy_backward|copy_between|"
               r"copy_nonoverlapping"),
    ("zero fills", r"memset|fill_by"),
    ("compares", r"memcmp|compare_bytes"),
    ("heap allocator", r"linked_list_allocator|GrowingHeap|talc::|GrowByMemAlloc|"
                       r"__rust_(alloc|dealloc|realloc)|__rustc::|raw_vec|alloc_shim"),
    ("trees (cowbtree, BTreeMap)", r"cowbtree|btree"),
    ("interrupts", r"isr_\d|irq_ack|device_interrupt|set_masked|Driver>::interrupt|ack_interrupt"),
    ("entry/exit, syscall dispatch", r"trap_entry|trap_common|trap_return|syscall_entry|"
                                     r"Kernel>::syscall$|rdtsc"),
    ("user-memory checks", r"umem::|paging::translate|phys_to_virt"),
    ("IPC", r"sys_call|sys_reply|sys_recv|deliver|pick_next|post_notification|sys_lease|"
            r"CapTable|ipc::"),
    ("device register access", r"virtio_blk::main$|PciTransport|notify"),
]


def category(where, fn):
    """(scope, family) of an attributed sample: scope `kernel`, `user` or
    `idle`, the family from CATEGORIES or `other`."""
    if where == "idle":
        return "idle", "idle (hlt)"
    scope = "kernel" if where == "kernel" else "user"
    for name, pattern in CATEGORIES:
        if re.search(pattern, fn):
            return scope, name
    return scope, "other"


def shares(counts, total):
    return 100.0 * counts / total if total else 0.0


def table(rows, runs, top, title):
    """Lines of a table: rows [(key tuple, [count per run])], sorted by total."""
    totals = [sum(r[1][i] for r in rows) for i in range(runs)] if rows else [0] * runs
    grand = sum(totals)
    rows = sorted(rows, key=lambda r: -sum(r[1]))[:top]
    out = [title]
    head = f"  {'process':<12} {'function':<64} {'samples':>7} {'%':>6}"
    if runs > 1:
        head += "  " + " ".join(f"{'run' + str(i + 1):>6}" for i in range(runs))
    out.append(head)
    for key, per in rows:
        line = f"  {key[0][:12]:<12} {key[1][:64]:<64} {sum(per):>7} {shares(sum(per), grand):>6.1f}"
        if runs > 1:
            line += "  " + " ".join(f"{shares(per[i], totals[i]):>6.1f}" for i in range(runs))
        out.append(line)
    return out


def report(phase, attributed, runs, top, per_process):
    """The phase's tables: `attributed` is [[(where, on, fn), ...] per run]."""
    n = sum(len(a) for a in attributed)
    out = [f"== phase {phase}: {n} samples in {runs} run(s)"]
    if not n:
        return out
    procs = defaultdict(lambda: [0] * runs)
    funcs = defaultdict(lambda: [0] * runs)
    for i, samples in enumerate(attributed):
        for where, on, fn in samples:
            procs[(where, "")][i] += 1
            # Kernel time on behalf of a process, as the kernel's accounts
            # charge it (its syscalls are its time).
            if where == "kernel":
                procs[("kernel", f"on {on}")][i] += 1
            funcs[(where, fn)][i] += 1
    cats = defaultdict(lambda: [0] * runs)
    for i, samples in enumerate(attributed):
        for where, on, fn in samples:
            cats[category(where, fn)][i] += 1
    out += table([(k, v) for k, v in procs.items() if not k[1]], runs, 99, "per process:")
    out += table(list(cats.items()), runs, 99, "by family (kernel or user code):")
    out += table([(k, v) for k, v in procs.items() if k[1]], runs, 99,
                 "kernel samples by the process whose page table was loaded:")
    out += table(list(funcs.items()), runs, top, f"top {top} functions:")
    for p in sorted({k[0] for k in funcs}, key=lambda p: -sum(procs[(p, "")])):
        rows = [(k, v) for k, v in funcs.items() if k[0] == p]
        out += table(rows, runs, per_process, f"top {per_process} of {p}:")
    return out

# ---- the guest ----


def symbols_of(elf_bytes):
    with tempfile.NamedTemporaryFile() as f:
        f.write(elf_bytes)
        f.flush()
        text = subprocess.run(["nm", "-S", "-C", "--defined-only", "-n", f.name],
                              capture_output=True, text=True, check=True).stdout
    return Symbols(parse_nm(text))


class Qmp:
    """A QMP connection: commands answered in order, events skipped."""

    def __init__(self, path, deadline=20):
        end = time.time() + deadline
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > end:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rb")
        self.file.readline()  # greeting
        self.call("qmp_capabilities")

    def send(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def answer(self):
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("QMP closed")
            r = json.loads(line)
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError(r["error"])

    def call(self, cmd, **args):
        self.send(cmd, **args)
        return self.answer()


def vcpu_seconds(pid):
    """CPU seconds of QEMU's vCPU thread (`CPU 0/TCG`): the guest's work in
    host CPU time, which neither the host's load nor the monitor's own
    work (another thread) moves (0 if not found)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().startswith("CPU "):
                f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
                return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return 0.0


class Serial(threading.Thread):
    """Reads the guest's console; tracks the phase between marks, and each
    phase's host wall seconds and vCPU thread CPU seconds."""
    MARK = re.compile(r"fsbench: mark (begin|end) (\w+)")

    def __init__(self, stream, pid):
        super().__init__(daemon=True)
        self.stream, self.pid, self.lines, self.phase, self.ended = stream, pid, [], None, set()
        self.walls, self.cpus, self.begun = {}, {}, {}

    def run(self):
        for raw in self.stream:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            m = self.MARK.search(line)
            if m and m.group(1) == "begin":
                self.begun[m.group(2)] = (time.time(), vcpu_seconds(self.pid))
                self.phase = m.group(2)
            elif m and m.group(2) in self.begun:
                self.phase = None
                self.ended.add(m.group(2))
                wall0, cpu0 = self.begun[m.group(2)]
                self.walls[m.group(2)] = time.time() - wall0
                self.cpus[m.group(2)] = vcpu_seconds(self.pid) - cpu0


def boot_and_sample(kernel, image, phases, hz, mode, no_flush=False, stack_words=0, limit=900):
    """One boot: {phase: [raw samples]}, the serial log, and each phase's
    host wall and vCPU thread CPU seconds. A sample is (rip, cr3, cpl,
    halted), then the `stack_words` words above RSP if asked."""
    import qemu
    import storage_shell
    disk = storage_shell.fresh_disk("profile-fs", 256)
    sock = os.path.join(tempfile.mkdtemp(prefix="profile-"), "qmp.sock")
    drive = storage_shell.disk_args(disk)
    if no_flush:
        # QEMU flushes every disk at each `stop`: without this, each sample
        # costs an fdatasync of the image (see --no-flush).
        drive[1] += ",cache.no-flush=on"
    cmd = qemu.qemu_cmd(kernel, image, CONFIG, drive) + [
        "-qmp", f"unix:{sock},server=on,wait=off", "-name", "profile,debug-threads=on"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, bufsize=0)
    samples = defaultdict(list)
    serial = Serial(p.stdout, p.pid)
    serial.start()
    try:
        qmp = Qmp(sock)
        period = 1.0 / hz if hz else None
        end = time.time() + limit
        next_at = time.time()
        while p.poll() is None and time.time() < end and not set(phases) <= serial.ended:
            phase = serial.phase
            if phase not in phases or not period:
                time.sleep(0.001)
                continue
            now = time.time()
            if now < next_at:
                time.sleep(next_at - now)
            next_at = max(next_at + period, time.time())
            # Pipelined: QMP answers in order.
            cmds = [("human-monitor-command", {"command-line": "info registers"})]
            if stack_words:
                # `$esp` is the whole RSP in a 64-bit guest (`$rsp` is unknown to the monitor).
                cmds.append(("human-monitor-command", {"command-line": f"x/{stack_words}gx $esp"}))
            if mode == "stop":
                cmds = [("stop", {})] + cmds + [("cont", {})]
            try:
                for cmd, args in cmds:
                    qmp.send(cmd, **args)
                answers = [qmp.answer() for _ in cmds]
            except (OSError, EOFError):
                break  # QEMU ended (its log says why)
            if mode == "stop":
                answers = answers[1:-1]
            sample = parse_registers(answers[0])
            if stack_words:
                sample += (parse_dump(answers[1]),)
            # A mark may have ended the phase meanwhile: the sample is its.
            samples[phase].append(sample)
        # The figure lines follow the end marks.
        settle = time.time() + 5
        while p.poll() is None and time.time() < settle and not all(
                guest_figures("\n".join(serial.lines), ph, figure_only=True) for ph in phases):
            time.sleep(0.05)
    finally:
        p.kill()
        p.wait()
        serial.join(timeout=5)
        os.remove(disk)
        shutil.rmtree(os.path.dirname(sock), ignore_errors=True)
    missing = [ph for ph in phases if ph not in serial.ended]
    if missing:
        print(f"profile: phase(s) {', '.join(missing)} did not end; the guest's last lines:\n"
              + "\n".join(serial.lines[-15:]), file=sys.stderr)
    return samples, "\n".join(serial.lines), serial.walls, serial.cpus


def guest_figures(log, phase, figure_only=False):
    """The guest's own lines about a phase: its figure and cycle accounts."""
    names = {"seq_write": "fs_seq_write_MBps", "seq_read": "fs_seq_read_MBps",
             "small_put": "fs_small_put_ops:", "small_put_4clients": "fs_small_put_ops_4clients",
             "sha256": "fs_guest_sha256", "blake3": "fs_guest_blake3_MBps",
             "blake3crate": "fs_guest_blake3_crate"}
    return [l.strip() for l in log.splitlines()
            if l.strip().startswith(names[phase])
            or (not figure_only and f"fsbench: cpu {phase}:" in l)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kernel")
    ap.add_argument("image")
    ap.add_argument("bench", nargs="?", default="fs", choices=["fs"])
    ap.add_argument("--phase", default="seq_write",
                    help="phase(s), comma-separated: " + ", ".join(PHASES))
    ap.add_argument("--hz", type=float, default=1000, help="samples a second (0: none)")
    ap.add_argument("--runs", type=int, default=1, help="boots, one after another")
    ap.add_argument("--mode", choices=["stop", "live"], default="stop")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--per-process", type=int, default=12)
    ap.add_argument("--inline", action="store_true",
                    help="name the innermost inlined function of each sample")
    ap.add_argument("--no-flush", action="store_true",
                    help="the disk ignores flushes (QEMU's cache.no-flush): no fdatasync per "
                         "stop, but the guest's flushes cost nothing either")
    ap.add_argument("--callers", metavar="REGEX[,REGEX]",
                    help="also dump the stack at each sample and print who called the "
                         "functions matching each REGEX (heuristic: profile_symbols.py)")
    ap.add_argument("--save", help="write the raw samples and boot logs to this JSON file")
    ap.add_argument("--load", help="report the samples of a --save file instead of booting")
    a = ap.parse_args()
    phases = a.phase.split(",")
    for ph in phases:
        if ph not in PHASES:
            sys.exit(f"profile: unknown phase {ph}: one of {', '.join(PHASES)}")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    files = boot_image_files(open(a.image, "rb").read())
    images = set(config_images(files[CONFIG].decode()).values())
    tables = {img: symbols_of(files[img]) for img in images}
    kernel = Symbols(parse_nm(subprocess.run(
        ["nm", "-S", "-C", "--defined-only", "-n", a.kernel],
        capture_output=True, text=True, check=True).stdout))

    if a.load:
        saved = json.load(open(a.load))
    else:
        saved = []
        for r in range(a.runs):
            t0 = time.time()
            samples, log, walls, cpus = boot_and_sample(
                a.kernel, a.image, phases, a.hz, a.mode, a.no_flush, 48 if a.callers else 0)
            saved.append({"samples": samples, "log": log, "walls": walls, "cpus": cpus,
                          "seconds": time.time() - t0})
        if a.save:
            with open(a.save, "w") as f:
                json.dump(saved, f)
    runs = []
    for r, run in enumerate(saved):
        procs = parse_loaded(run["log"])
        if not procs:
            sys.exit("profile: no `loaded ... cr3 0x...` lines in the boot log:\n"
                     + run["log"][-2000:])
        print(f"run {r + 1}: {run['seconds']:.0f} s", flush=True)
        samples = {ph: [tuple(x) for x in run["samples"].get(ph, [])] for ph in phases}
        for ph in phases:
            n, wall = len(samples[ph]), run["walls"].get(ph)
            rate = f", {n / wall:.0f} samples/s over {wall:.2f} s host wall" if wall else ""
            cpu = run.get("cpus", {}).get(ph)
            rate += f", vCPU thread {cpu:.2f} CPU-s" if cpu is not None else ""
            print(f"  {ph}: {n} samples{rate}")
            for line in guest_figures(run["log"], ph):
                print(f"    {line}")
        runs.append((samples, procs))

    for ph in phases:
        attributed = []
        for samples, procs in runs:
            att = [attribute(s, procs, tables, kernel) for s in samples[ph]]
            if a.inline:
                att = with_inlines(att, samples[ph], procs, a.kernel)
            attributed.append(att)
        print("\n".join(report(ph, attributed, len(runs), a.top, a.per_process)), flush=True)
        if a.callers:
            code = {img: Code(code_segments(files[img])) for img in images}
            code[None] = Code(code_segments(open(a.kernel, "rb").read()))
            rows = []
            for (samples, procs), att in zip(runs, attributed):
                for s, (where, on, fn) in zip(samples[ph], att):
                    if len(s) < 5 or s[3]:
                        continue
                    img = None if s[2] == 0 else procs.get(s[1], ("", ""))[1]
                    syms = kernel if img is None else tables.get(img)
                    if syms and img in code:
                        rows.append((where, fn, frames(s[4], code[img], syms)))
            for pattern in a.callers.split(","):
                found = callers(rows, pattern)
                print(f"callers of /{pattern}/ ({sum(found.values())} samples; "
                      "first two frames outside it):")
                for (where, chain), n in sorted(found.items(), key=lambda x: -x[1])[:a.top]:
                    print(f"  {where[:12]:<12} {n:>6} {chain[:150]}")


def with_inlines(attributed, samples, procs, kernel_path):
    """Each sample's function replaced by its innermost inlined function."""
    def elf(rip, cr3, cpl):
        return kernel_path if cpl == 0 else os.path.join(BARE_DIR, procs.get(cr3, ("", ""))[1])
    want = defaultdict(set)
    for rip, cr3, cpl, halted in (x[:4] for x in samples):
        if not halted:
            want[elf(rip, cr3, cpl)].add(rip)
    names = {path: inline_names(path, addrs) for path, addrs in want.items()}
    return [(where, on, fn if halted else names[elf(rip, cr3, cpl)].get(rip, fn))
            for (rip, cr3, cpl, halted, *_), (where, on, fn) in zip(samples, attributed)]


if __name__ == "__main__":
    main()
