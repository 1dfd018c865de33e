"""One boot of the real system for the crash harness, driven through the shell.

The shell is typed at as a person would: a line, then wait for its echo and
for the prompt; data lines in batches, each batch waited for by its echo
(the kernel keeps only 4 KiB of console input). Every wait has a time
limit; a missed one raises `BootFailure` with what was seen.
"""
import os
import re
import subprocess
import threading
import time

import qemu
from storage_shell import find_echo

PROMPT = b"\n> "
# Text that must never appear on the console.
FATAL = re.compile(r"KERNEL PANIC|panic at |ended: #|exited with code 0xdead")


class BootFailure(Exception):
    pass


class CutNow(Exception):
    """Raised inside a wait when the harness decided to cut the power."""


def nbd_drive(sock_path, export="crash"):
    """QEMU arguments: the NBD disk as PCI device 00:03.0, with a guest-visible
    write cache so guest flushes reach the server as NBD_CMD_FLUSH."""
    return ["-drive", f"driver=nbd,server.type=unix,server.path={sock_path},export={export},"
            "if=none,id=d0,cache=writeback",
            "-device", "virtio-blk-pci,drive=d0,addr=3"]


def blkdebug_drive(image_path, config_path):
    """QEMU arguments: a raw image behind blkdebug (errors injected by rules)."""
    # blkdebug sits below the raw format driver, which raises the
    # read_aio/write_aio events on its file child that the rules wait for.
    return ["-drive", f"driver=raw,file.driver=blkdebug,file.config={config_path},"
            f"file.image.driver=file,file.image.filename={image_path},if=none,id=d0,cache=writeback",
            "-device", "virtio-blk-pci,drive=d0,addr=3"]


class Machine:
    """QEMU with the boot.cfg system and the shell on stdin/stdout."""

    def __init__(self, kernel, image, drive_args, boot_timeout=90):
        cmd = qemu.qemu_cmd(kernel, image, "boot.cfg", drive_args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.buf = bytearray()
        self.abort = None  # callable: True stops every wait with CutNow
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.t0 = time.time()
        # Ready: the shell's banner, and the fs service's mount report (so no
        # startup line lands in the middle of an answer).
        try:
            self.wait_for(b"shell: ready", 0, boot_timeout)
            pos = self.wait_for(b"\nfs: ", 0, boot_timeout)
            self.wait_for(b"\n", pos, 10)
        except BootFailure:
            self.kill()  # never leave a QEMU behind
            raise
        self.boot_seconds = time.time() - self.t0
        self.boot_end = len(self.buf)  # what the services said while starting

    def _read(self):
        while True:
            try:
                b = self.proc.stdout.read1(65536)
            except (OSError, ValueError):
                b = b""
            with self.cond:
                if not b:
                    self.cond.notify_all()
                    return
                self.buf += b
                self.cond.notify_all()

    def text(self, start=0):
        return self.buf[start:].decode(errors="replace").replace("\r", "")

    def wait_for(self, pattern, start, timeout):
        """Position just after the first `pattern` at or after `start`."""
        return self._wait(lambda: self._found(self.buf.find(pattern, start), pattern),
                          pattern, timeout)

    def wait_for_echo(self, text, start, timeout):
        """As `wait_for`, for the echo of what was typed: a service's log
        line printed into the middle of the echo is skipped."""
        return self._wait(lambda: find_echo(self.buf, text, start), text, timeout)

    @staticmethod
    def _found(i, pattern):
        return i + len(pattern) if i >= 0 else None

    def _wait(self, find, pattern, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                end = find()
                if end is not None:
                    return end
                if self.abort is not None and self.abort():
                    raise CutNow()
                left = deadline - time.time()
                if left <= 0:
                    raise BootFailure(f"waited {timeout} s for {pattern[:50]!r}; last output: "
                                      f"{self.text()[-300:]!r}")
                if not self.reader.is_alive():
                    raise BootFailure(f"QEMU ended (status {self.proc.poll()}) while waiting for "
                                      f"{pattern[:50]!r}; last output: {self.text()[-300:]!r}")
                self.cond.wait(min(left, 0.05))

    def send(self, text):
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise BootFailure(f"console input: {e}")

    def start_cmd(self, line, timeout=30):
        """Types a command line; returns the position after its echo."""
        start = len(self.buf)
        self.send(line + "\n")
        return self.wait_for_echo(line.encode(), start, timeout)

    def send_data(self, pos, lines, timeout=120, stop=None):
        """Sends data lines in batches of 12, each waited for by its echo.
        `stop(i)`: called with the index of the next line; True stops early."""
        for i in range(0, len(lines), 12):
            if stop is not None and stop(i):
                return pos, False
            batch = lines[i:i + 12]
            self.send("".join(l + "\n" for l in batch))
            pos = self.wait_for_echo(batch[-1].encode(), pos, timeout)
        return pos, True

    def finish_cmd(self, pos, timeout=180):
        """Waits for the prompt; returns the command's output."""
        end = self.wait_for(PROMPT, pos, timeout)
        return self.buf[pos:end - len(PROMPT)].decode(errors="replace").replace("\r", "")

    def cmd(self, line, data_lines=(), timeout=180):
        pos = self.start_cmd(line)
        pos, _ = self.send_data(pos, list(data_lines), timeout)
        return self.finish_cmd(pos, timeout)

    def fatal_text(self):
        m = FATAL.search(self.text())
        if not m:
            return None
        text = self.text()
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        return text[line_start:line_end if line_end >= 0 else None]

    def kill(self):
        """Power cut from QEMU's side: SIGKILL, nothing more reaches the disk."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.reader.join(5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, BrokenPipeError):
                pass


def kernel_paths(root):
    kernel = os.path.join(root, "build", "kernel")
    image = os.path.join(root, "build", "boot.img")
    for p in (kernel, image):
        if not os.path.exists(p):
            raise SystemExit(f"crash.py: {p} is missing: run `make bare` first")
    return kernel, image
