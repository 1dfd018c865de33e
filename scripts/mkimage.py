#!/usr/bin/env python3
"""Builds the boot image (QEMU -initrd): an archive of the service ELF files
(debug info stripped) and the boot configurations. The byte layout is
documented once, in kernel/logic/src/bootimg.rs.

usage: mkimage.py OUT NAME=ELF... CFG...   (CFG files end in .cfg)
"""
import os
import struct
import subprocess
import sys
import tempfile

MAGIC = b"BOOTIMG1"
HEADER_SIZE = 16
ENTRY_SIZE = 48
NAME_SIZE = 32
ALIGN = 4096  # the kernel parses ELF headers in place: keep files aligned


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = sys.argv[1]
    files = []
    for arg in sys.argv[2:]:
        if arg.endswith(".cfg"):
            with open(arg, "rb") as f:
                files.append((os.path.basename(arg), f.read()))
            continue
        name, path = arg.split("=", 1)
        with tempfile.NamedTemporaryFile() as tmp:
            subprocess.run(["strip", "--strip-debug", "-o", tmp.name, path], check=True)
            with open(tmp.name, "rb") as f:
                files.append((name, f.read()))
    for name, _ in files:
        if len(name.encode()) > NAME_SIZE:
            sys.exit(f"mkimage: name too long: {name}")
    offset = HEADER_SIZE + ENTRY_SIZE * len(files)
    offset = (offset + ALIGN - 1) // ALIGN * ALIGN
    header = MAGIC + struct.pack("<II", len(files), 0)
    entries, blobs = b"", b""
    pos = offset
    for name, data in files:
        entries += name.encode().ljust(NAME_SIZE, b"\0") + struct.pack("<QQ", pos, len(data))
        pad = (-len(data)) % ALIGN
        blobs += data + b"\0" * pad
        pos += len(data) + pad
    image = header + entries
    image += b"\0" * (offset - len(image)) + blobs
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "wb") as f:
        f.write(image)
    print(f"mkimage: {out}: {len(files)} files, {len(image)} bytes")


if __name__ == "__main__":
    main()
