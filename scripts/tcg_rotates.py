#!/usr/bin/env python3
"""Counts the x86 rotates of a function whose flags TCG must compute
(docs/speed.md, "BLAKE3 under TCG"): QEMU translates `rol`/`ror` by first
computing the previous flags with a helper call, which its optimizer drops
only if a later flag-setting instruction overwrites them before a memory
access, a branch or the end of the block needs them.

  tcg_rotates.py BINARY SYMBOL_SUBSTRING...

Prints, per matching function: instructions, stack accesses, rotates and
rotates whose flags are still live at a memory access or branch (static
count over the listing, not a trace).
"""
import re
import subprocess
import sys

# Instructions that overwrite all the flags a rotate leaves (its own flags
# are then dead): the arithmetic/logic ops and the shifts and rotates.
KILLS = {"add", "sub", "xor", "and", "or", "cmp", "test", "neg", "imul",
         "shl", "shr", "sar", "rol", "ror"}


def functions(binary, wanted):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary],
                         check=True, capture_output=True, text=True).stdout
    name, body = None, []
    for line in out.splitlines() + [""]:
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            name, body = m.group(1), []
        elif not line.strip():
            if name and any(w in name for w in wanted):
                yield name, body
            name = None
        elif name:
            m = re.match(r"^\s+[0-9a-f]+:\t(\S+)\s*(.*)$", line)
            if m:
                body.append((m.group(1), m.group(2)))


def live_rotates(body):
    live = 0
    for i, (op, _) in enumerate(body):
        if op not in ("rol", "ror"):
            continue
        for op2, args in body[i + 1:]:
            if "(%" in args or op2.startswith("j") or op2 in ("call", "ret", "push", "pop"):
                live += 1
                break
            if op2 in KILLS:
                break
        else:
            live += 1
    return live


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for name, body in functions(sys.argv[1], sys.argv[2:]):
        rot = sum(op in ("rol", "ror") for op, _ in body)
        stack = sum("(%rsp)" in a or "(%rbp)" in a for _, a in body)
        print(f"{name}: {len(body)} instructions, {stack} stack accesses, "
              f"{rot} rotates, {live_rotates(body)} with live flags")


if __name__ == "__main__":
    main()
