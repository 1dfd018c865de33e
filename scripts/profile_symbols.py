"""Names for the profiler's sampled addresses (scripts/profile.py): symbol
tables by `nm`, inlined functions by `addr2line`, and who called the
sampled function from return addresses found on the stack (`--callers`).

Callers: the services are built without frame pointers, so there is no
chain to follow. At each sample the profiler also dumps the words above
RSP (`x/Ngx $esp`, the whole RSP); a word is taken for a return address when it points
into the code of the ELF that ran and the bytes before it are a call
instruction (`call rel32`, or `call` through a register or memory: opcode
0xFF with ModRM reg = 2). Stale words from earlier, deeper calls can pass
that test too, so callers are a heuristic: good for "who calls the CRC
most", not for exact call graphs.
"""
import bisect
import os
import re
import struct
import subprocess
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# The unstripped ELFs (`--inline`).
BARE_DIR = os.path.join(ROOT, "target", "x86_64-target", "release")
_HASH = re.compile(r"::h[0-9a-f]{16}$")


def clean_name(name):
    """A demangled Rust name without its legacy hash suffix."""
    return _HASH.sub("", name)


def parse_nm(text):
    """`nm -S -C --defined-only -n` output -> [(start, end, name)] of code
    symbols, sorted; a symbol without a size ends where the next begins."""
    syms = []
    for line in text.splitlines():
        w = line.split(None, 3)
        if len(w) == 4 and len(w[2]) == 1 and w[2] in "TtWw":
            start, size, name = int(w[0], 16), int(w[1], 16), w[3]
        elif len(w) >= 3 and len(w[1]) == 1 and w[1] in "TtWw":
            start, size, name = int(w[0], 16), 0, line.split(None, 2)[2]
        else:
            continue
        syms.append([start, start + size, short_name(clean_name(name))])
    syms.sort(key=lambda s: s[0])
    for i, s in enumerate(syms):
        if s[1] == s[0]:
            s[1] = syms[i + 1][0] if i + 1 < len(syms) else s[0] + 1
    return [tuple(s) for s in syms]


class Symbols:
    """Address -> function name over a sorted symbol list."""

    def __init__(self, syms):
        self.syms = syms
        self.starts = [s[0] for s in syms]

    def lookup(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        # Aliases share a start: the first of them that covers addr.
        j = i
        while j >= 0 and self.starts[j] == self.starts[i]:
            if self.syms[j][1] > addr:
                return self.syms[j][2]
            j -= 1
        return None


_LIBRARY = re.compile(r"^<?(core|alloc|compiler_builtins)::|^<[a-z0-9]+>::|^<[*&\[]")


def parse_addr2line(text):
    """`addr2line -a -f -i -C` output -> {addr: function}: each address line
    is followed by (function, file:line) pairs, innermost first; the
    innermost one that is not the standard library's (`core::`, `<u32>::`,
    ...: inlined helpers say little) names the sample."""
    chains, addr, lines = {}, None, text.splitlines()
    i = 0
    while i < len(lines):
        if re.fullmatch(r"0x[0-9a-f]+", lines[i]):
            addr = int(lines[i], 16)
            chains[addr] = []
            i += 1
            continue
        if addr is not None and lines[i] != "??":
            chains[addr].append(clean_name(lines[i]))
        i += 2
    out = {}
    for addr, chain in chains.items():
        if chain:
            own = [f for f in chain if not _LIBRARY.search(f)]
            out[addr] = short_name(own[0] if own else chain[-1])
    return out


def inline_names(elf_path, addrs):
    """{addr: innermost inlined function} by addr2line on an unstripped ELF."""
    if not addrs or not os.path.exists(elf_path):
        return {}
    text = subprocess.run(["addr2line", "-a", "-f", "-i", "-C", "-e", elf_path],
                          input="\n".join(hex(a) for a in sorted(addrs)),
                          capture_output=True, text=True).stdout
    return parse_addr2line(text)


def short_name(name):
    """A function name with generic arguments elided (`<Fs<..>>::put`):
    the types a generic was instantiated with make names too long to
    read. A `<` that opens a qualified path (`<T as Trait>::f`) is kept."""
    out, i = [], 0
    while i < len(name):
        c = name[i]
        if c == "<" and i > 0 and (name[i - 1].isalnum() or name[i - 1] in "_:"):
            depth, j = 0, i
            while j < len(name):
                if name[j] == "<":
                    depth += 1
                elif name[j] == ">" and name[j - 1] != "-":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            out.append("<..>")
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


PT_LOAD, PF_X = 1, 1


def code_segments(elf):
    """The executable PT_LOAD segments of an ELF64: [(vaddr, bytes)]."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise ValueError("not an ELF64 file")
    phoff = struct.unpack_from("<Q", elf, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    out = []
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize)
        if p_type == PT_LOAD and p_flags & PF_X:
            out.append((p_vaddr, elf[p_offset:p_offset + p_filesz]))
    return out


class Code:
    """Reads code bytes by virtual address."""

    def __init__(self, segments):
        self.segments = segments

    def read(self, addr, n):
        for base, data in self.segments:
            if base <= addr and addr + n <= base + len(data):
                return data[addr - base:addr - base + n]
        return None

    def is_return_address(self, addr):
        """Whether the bytes before `addr` are a call instruction."""
        b = self.read(addr - 5, 5)
        if b is not None and b[0] == 0xE8:  # call rel32
            return True
        # call r/m64: FF /2, with 0-5 bytes of ModRM, SIB and displacement.
        for length in (2, 3, 4, 6, 7):
            b = self.read(addr - length, 2)
            if b is not None and b[0] == 0xFF and (b[1] >> 3) & 7 == 2:
                return True
        return False


_WORD = re.compile(r"\b0x([0-9a-f]{16})\b")


def parse_dump(text):
    """The words of an `x/Ngx` dump (each line `ADDR: 0x... 0x...`)."""
    words = []
    for line in text.splitlines():
        _, _, rest = line.partition(":")
        words += [int(w, 16) for w in _WORD.findall(rest)]
    return words


def frames(words, code, symbols, depth=8):
    """Function names of the return addresses among the stack `words`,
    innermost first, at most `depth`."""
    out = []
    for w in words:
        if code.is_return_address(w):
            name = symbols.lookup(w)
            if name:
                out.append(name)
                if len(out) == depth:
                    break
    return out


def callers(rows, pattern):
    """rows [(where, leaf, frames)] -> {(where, caller chain): samples} for
    the samples whose leaf matches `pattern`: the first two frames outside
    the pattern (`caller <- its caller`)."""
    rx = re.compile(pattern)
    out = defaultdict(int)
    for where, leaf, stack in rows:
        if not rx.search(leaf):
            continue
        outside = [f for f in stack if not rx.search(f)][:2]
        out[(where, " <- ".join(outside) or "(no caller found)")] += 1
    return out
