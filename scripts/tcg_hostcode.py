#!/usr/bin/env python3
"""The host code QEMU's TCG made of one guest function: a deterministic
measure of what the function costs under TCG (docs/speed.md, "The hashes'
memory accesses under TCG"), where wall and CPU time move several % with
the host's load and guest instruction counts (`-icount`) miss what an
instruction costs (a memory access is a soft-TLB lookup of ~12 host
instructions plus stores of the guest registers and flags TCG holds dirty).

  QEMU_EXTRA="-d in_asm,out_asm -dfilter 0xLO..0xHI -D LOG" \\
      python3 scripts/qemu.py bench build/kernel build/boot.img fs
  tcg_hostcode.py LOG ELF 0xLO 0xHI

LO..HI: the function's addresses in ELF (`nm -C ELF | sort`). Other
processes may run other code at the same addresses: only the translation
blocks whose first instruction's bytes match ELF's count (the last
translation of each start address). Prints, per block: guest instructions,
host instructions on the fast path (before the out-of-line slow paths of
the memory accesses), those reading or writing the CPU state (`(%rbp)`,
the guest registers and flags) and the host code's size; and the totals. For a loop's cost per iteration
give its body's addresses, and leave out blocks that only the first
iteration runs (entered from the prologue: their start is not a block
boundary of the later iterations).
"""
import re
import subprocess
import sys


def elf_code(elf, lo, hi):
    out = subprocess.run(["objdump", "-d", f"--start-address={lo:#x}", f"--stop-address={hi:#x}", elf],
                         check=True, capture_output=True, text=True).stdout
    code = {}
    for line in out.splitlines():
        m = re.match(r"^\s+([0-9a-f]+):\t((?:[0-9a-f]{2} )+)", line)
        if m:
            code[int(m.group(1), 16)] = m.group(2).split()
    return code


def blocks(log, code):
    """{start: (guest insns, last guest address, host fast-path insns,
    host CPU-state accesses, host bytes)} of the blocks that are ELF's."""
    lines = open(log, errors="replace").read().split("\n")
    found, i = {}, 0
    while i < len(lines):
        if not lines[i].startswith("IN:"):
            i += 1
            continue
        guest, ours = [], False
        i += 1
        while i < len(lines) and lines[i].strip():
            m = re.match(r"^0x([0-9a-f]+):\s+((?:[0-9a-f]{2} )+)", lines[i])
            if m:
                a, b = int(m.group(1), 16), m.group(2).split()
                if not guest:
                    ours = a in code and code[a][:len(b)] == b[:len(code[a])]
                guest.append(a)
            i += 1
        while i < len(lines) and not lines[i].startswith("OUT:"):
            i += 1
        if i == len(lines):
            break
        size = int(re.search(r"size=(\d+)", lines[i]).group(1))
        host = state = 0
        slow = False
        i += 1
        while i < len(lines) and not lines[i].startswith(("IN:", "---")):
            line = lines[i]
            if "tb slow paths" in line:
                slow = True
            elif re.match(r"^0x[0-9a-f]+:", line) and not slow:
                host += 1
                state += "(%rbp)" in line
            i += 1
        if ours and guest:
            found[guest[0]] = (len(guest), guest[-1], host, state, size)
    return found


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    log, elf = sys.argv[1], sys.argv[2]
    lo, hi = int(sys.argv[3], 16), int(sys.argv[4], 16)
    found = blocks(log, elf_code(elf, lo, hi))
    total = [0, 0, 0, 0]
    for start, (g, last, h, s, size) in sorted(found.items()):
        if lo <= start < hi:
            print(f"{start:#x}..{last:#x}: guest {g}, host {h}, CPU-state accesses {s}, bytes {size}")
            total = [t + x for t, x in zip(total, (g, h, s, size))]
    print(f"total: guest {total[0]}, host {total[1]}, CPU-state accesses {total[2]}, bytes {total[3]}")


if __name__ == "__main__":
    main()
