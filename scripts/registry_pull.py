"""The `registry-pull-counts` QEMU test: a 24 MiB blob pulled over HTTP by
one client, then by two at once, then by a slow reader that asked for
`Connection: close` (the response must arrive whole, though it is complete
in the service long before the socket takes its end), and the registry's
accounts line of each
pull (services/registry-http/server/src/accounts.rs) checked for the
deterministic counts of the pull path: one fs call per MiB (the registry
reads 1 MiB pieces), and the virtio-net driver's queue notifications far
fewer than its frames (one per wake-up, not per frame). Counts, never
times. Collected in scripts/registry_tests.py's TESTS."""
import random
import re
import socket
import threading
import time

from registry_client import Http, digest_of
from registry_powercut import pull, push_streamed
from storage_shell import Failure

BLOB = 24 << 20
CLOSE_BLOB = (3 << 20) + (512 << 10)


def accounts(shell, start):
    """The next `registry: cpu pull` line after `start`: (its counts, where
    the search goes on)."""
    at = shell.wait_for(b"registry: cpu pull ", start, 60)
    text = shell.buf[at:shell.buf.find(b"\n", at)].decode(errors="replace")
    m = re.search(r"(\d+) MiB: .*per MiB: (\d+) socket calls, (\d+) fs calls; driver per MiB: "
                  r"(\d+) frames in, (\d+) out, \d+ interrupts, \d+ send calls, (\d+) notifications",
                  text)
    if not m:
        raise Failure(f"accounts line without counts: {text!r}")
    return [int(g) for g in m.groups()], at


def t_pull_counts(shell, port, log):
    data = random.Random(7).randbytes(BLOB)
    d = digest_of(data)
    push_streamed(Http(port, timeout=600), "counts/one", data)
    at = shell.wait_for(b"registry: cpu push ", 0, 60)
    if digest_of(pull(Http(port, timeout=600), "counts/one", d, BLOB)) != d:
        raise Failure("the pulled blob differs")
    (mib, _, fs_calls, frames_in, frames_out, notifies), at = accounts(shell, at)
    log.append(f"pull: {mib} MiB, {fs_calls} fs calls per MiB, {frames_in} frames in and "
               f"{frames_out} out per MiB, {notifies} notifications per MiB")
    if mib != BLOB >> 20 or fs_calls != 1:
        raise Failure(f"one client: {fs_calls} fs calls per MiB over {mib} MiB, want 1 over "
                      f"{BLOB >> 20}")
    if notifies * 8 > frames_in + frames_out:
        raise Failure(f"{notifies} notifications per MiB for {frames_in + frames_out} frames")
    # Two clients at once: each holds a 1 MiB piece (up to 4 may).
    got, errors = [None, None], []

    def one(i):
        try:
            got[i] = digest_of(pull(Http(port, timeout=600), "counts/one", d, BLOB))
        except (Failure, OSError) as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    if errors or got != [d, d]:
        raise Failure(f"two clients: {errors or 'a pulled blob differs'}")
    (mib, _, fs_calls, _, _, _), at = accounts(shell, at)
    log.append(f"two pulls at once: {mib} MiB, {fs_calls} fs calls per MiB")
    if mib < 23 or fs_calls != 1:
        raise Failure(f"two clients: {fs_calls} fs calls per MiB over {mib} MiB, want 1")
    # The last response of a connection, read slowly: whole. Its last
    # piece (half a MiB) cannot fit in the guest's socket at once, so the
    # response is complete in the service before the socket has taken it.
    data = random.Random(8).randbytes(CLOSE_BLOB)
    d = digest_of(data)
    push_streamed(Http(port, timeout=600), "counts/one", data)
    if digest_of(slow_close_pull(port, d, CLOSE_BLOB)) != d:
        raise Failure("Connection: close GET: the body differs")
    log.append("a slow Connection: close pull arrived whole")


def slow_close_pull(port, digest, size):
    """GET with `Connection: close`, read slowly; returns the body bytes
    received before the server closed."""
    s = socket.socket()
    # A small receive buffer, so the host's buffers do not hide the slow
    # reader from the guest's socket.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    s.settimeout(120)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(f"GET /v2/counts/one/blobs/{digest} HTTP/1.1\r\nHost: x\r\n"
                  f"Connection: close\r\n\r\n".encode())
        got = bytearray()
        while True:
            b = s.recv(64 * 1024)
            if not b:
                break
            got += b
            time.sleep(0.005)  # a slow reader: the guest's socket stays full
    finally:
        s.close()
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b"onnection: close" not in head:
        raise Failure(f"Connection: close GET answered {head[:200]!r}")
    if len(body) != size:
        raise Failure(f"Connection: close GET: {len(body)} body bytes of {size} before the close")
    return body


TESTS = {
    "registry-pull-counts": (t_pull_counts, "test-registry.cfg", 600),
}
