"""The shell driver of the QEMU storage tests: boots the storage stack
(virtio-blk driver, block service, filesystem/registry service, shell) on a
disk image and types commands at the serial console, checking the answers.

Flow control: the kernel buffers 4 KiB of console input and drops the rest,
so the driver never sends more than a few lines ahead: it waits for the
prompt after each command and for the shell's echo of each batch of data
lines.
"""

import base64
import hashlib
import os
import re
import subprocess
import threading
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DISK_DIR = os.path.join(ROOT, "build", "disks")
PROMPT = b"\n> "
# A whole log line of the kernel or a service. The console is shared, so
# such a line may land inside the shell's echo of what a test types (a
# service restarted mid-put prints while the data lines are echoed).
LOG_LINE = re.compile(
    rb"(?:\[(?:INFO|WARN|ERROR) *\] |(?:block|fs|content|supervisor|virtio-blk): )[^\n]*\n")


def find_echo(buf, text, start):
    """Position just after the echo of `text` in `buf` at or after `start`,
    log lines (`LOG_LINE`) printed into the middle of the echo skipped
    (services share the console with the shell); None if not there yet."""
    i = buf.find(text, start)
    if i >= 0:
        return i + len(text)
    # The buffer from `start` without log lines, and where each kept
    # byte was.
    seg = bytes(buf[start:])
    kept, where, at = bytearray(), [], 0
    for m in LOG_LINE.finditer(seg):
        kept += seg[at:m.start()]
        where.extend(range(start + at, start + m.start()))
        at = m.end()
    kept += seg[at:]
    where.extend(range(start + at, start + len(seg)))
    i = kept.find(text)
    if i < 0:
        return None
    return where[i + len(text) - 1] + 1


def disk_args(path, blkdebug=None):
    """The disk image as PCI device 00:03.0 (where the boot configs expect it),
    through QEMU's blkdebug driver with rules file `blkdebug` if given."""
    file = f"blkdebug:{blkdebug}:{path}" if blkdebug else path
    return ["-drive", f"file={file},format=raw,if=none,id=disk0",
            "-device", "virtio-blk-pci,drive=disk0,addr=3"]


def fresh_disk(name, mib):
    os.makedirs(DISK_DIR, exist_ok=True)
    path = os.path.join(DISK_DIR, name + ".img")
    if os.path.exists(path):
        os.remove(path)
    with open(path, "wb") as f:
        f.truncate(mib << 20)
    return path


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def data_of(seed, n):
    """Deterministic incompressible test bytes."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


class Failure(Exception):
    pass


class Shell:
    """One boot of the system with the shell on a pipe."""

    def __init__(self, qemu_cmd, log):
        self.log = log
        self.proc = subprocess.Popen(qemu_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.buf = bytearray()
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_for(b"shell: ready", 0, 60)
        # The services print while they start: wait until the filesystem
        # is mounted, so no startup line lands in the middle of an echo.
        self.wait_for(b"\nfs: ", 0, 60)
        self.wait_for(b"\n", self.wait_for(b"\nfs: ", 0, 1), 10)

    def _read(self):
        while True:
            b = self.proc.stdout.read1(65536)
            with self.cond:
                if not b:
                    self.cond.notify_all()
                    return
                self.buf += b
                self.cond.notify_all()

    def wait_for(self, pattern, start, timeout):
        """Position just after the first `pattern` (bytes) at or after `start`."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                i = self.buf.find(pattern, start)
                if i >= 0:
                    return i + len(pattern)
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    raise Failure(f"waited {timeout} s for {pattern[:60]!r}")
                self.cond.wait(min(left, 0.5))

    def settle(self, quiet=1.5, timeout=30):
        """Waits until the console has printed nothing for `quiet` seconds
        (at most `timeout`): after a service's death the supervisor and the
        restarted service print, and a line landing inside the next
        command's echo would hide the echo from `cmd`."""
        deadline = time.time() + timeout
        seen = -1
        while time.time() < deadline:
            with self.cond:
                n = len(self.buf)
            if n == seen:
                return
            seen = n
            time.sleep(quiet)

    def wait_for_echo(self, text, start, timeout):
        """As `wait_for`, for the echo of what the test typed: log lines
        (`LOG_LINE`) printed into the middle of the echo are skipped."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                end = find_echo(self.buf, text, start)
                if end is not None:
                    return end
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    raise Failure(f"waited {timeout} s for {text[:60]!r}")
                self.cond.wait(min(left, 0.5))

    def _send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def cmd(self, line, timeout=120, data_lines=()):
        """Runs a command (with data lines after it); returns its output."""
        start = len(self.buf)
        self.log.append(f"$ {line}")
        self._send(line + "\n")
        pos = self.wait_for_echo(line.encode(), start, 30)
        lines = list(data_lines)
        for i in range(0, len(lines), 12):
            batch = lines[i:i + 12]
            self._send("".join(l + "\n" for l in batch))
            pos = self.wait_for_echo(batch[-1].encode(), pos, timeout)
        end = self.wait_for(PROMPT, pos, timeout)
        out = self.buf[pos:end - len(PROMPT)].decode(errors="replace").replace("\r", "")
        self.log.append(out.strip("\n"))
        return out

    def poweroff(self, timeout=60):
        start = len(self.buf)
        self._send("poweroff\n")
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("poweroff: QEMU did not exit")
        self.reader.join(5)
        out = self.buf[start:].decode(errors="replace")
        self.log.append(out.replace("\r", "").strip("\n"))
        if status not in (0, 1):
            raise Failure(f"poweroff: QEMU exit status {status}")
        if "storage: synced and checkpointed" not in out:
            raise Failure("poweroff did not sync the storage stack")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self):
        return self.buf.decode(errors="replace")


def b64_lines(data):
    text = base64.b64encode(data).decode()
    return [text[i:i + 76] for i in range(0, len(text), 76)]


def decode_get(out):
    """The bytes of a `get`/`blob get` answer (base64 lines, then `(n bytes)`)."""
    lines = [l for l in out.splitlines() if l and not l.startswith("(")]
    return base64.b64decode("".join(lines))


def expect(out, pattern, what):
    if not re.search(pattern, out):
        raise Failure(f"{what}: /{pattern}/ not in {out.strip()[:300]!r}")


def no_error(out, what):
    if "error:" in out:
        raise Failure(f"{what}: {out.strip()[:300]!r}")


# ---- the scenarios ----
