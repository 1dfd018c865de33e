"""The `registry-pull-counts` QEMU test: a 24 MiB blob pulled over HTTP by
one client, then by two at once, and the registry's accounts line of each
pull (services/registry-http/server/src/accounts.rs) checked for the
deterministic counts of the pull path: one fs call per MiB (the registry
reads 1 MiB pieces), and the virtio-net driver's queue notifications far
fewer than its frames (one per wake-up, not per frame). Counts, never
times. Collected in scripts/registry_tests.py's TESTS."""
import random
import re
import threading

from registry_client import Http, digest_of
from registry_powercut import pull, push_streamed
from storage_shell import Failure

BLOB = 24 << 20


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


TESTS = {
    "registry-pull-counts": (t_pull_counts, "test-registry.cfg", 600),
}
