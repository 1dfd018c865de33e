"""The `registry-push-counts` QEMU test: a 24 MiB blob pushed over HTTP in
one streamed PATCH (what skopeo does for a layer), and the registry's
accounts line of the push (services/registry-http/server/src/accounts.rs)
checked for the deterministic counts of the receive path: reads answered
`WOULD_BLOCK` (the registry reads up to the network service's whole
128 KiB receive buffer per call and goes back to `Poll` after a short read
instead of reading again: none, where 64 KiB reads each followed by a read
that would block made ~15 per MiB), the driver's frames per MiB
(full-sized segments: a MiB is ~727 of them) and its queue notifications
far fewer than its frames. Socket calls per MiB are logged, not asserted:
they follow how much arrived between wake-ups (18-27 per MiB measured,
20-45 before). Counts, never times. The blob is
pulled back and compared. Collected in scripts/registry_tests.py's TESTS."""
import random
import re

from registry_client import Http, digest_of
from registry_powercut import pull, push_streamed
from storage_shell import Failure

BLOB = 24 << 20
# Reads that would block during the whole push (the session's small
# requests may end on one each).
MAX_EMPTY_READS = 4


def t_push_counts(shell, port, log):
    data = random.Random(13).randbytes(BLOB)
    d = digest_of(data)
    push_streamed(Http(port, timeout=600), "counts/push", data)
    at = shell.wait_for(b"registry: cpu push ", 0, 60)
    text = shell.buf[at:shell.buf.find(b"\n", at)].decode(errors="replace")
    m = re.search(r"(\d+) MiB: .*per MiB: (\d+) socket calls, (\d+) fs calls; driver per MiB: "
                  r"(\d+) frames in, (\d+) out, \d+ interrupts, \d+ send calls, (\d+) notifications; (\d+) reads would block", text)
    if not m:
        raise Failure(f"push accounts line without counts: {text!r}")
    mib, calls, fs_calls, frames_in, frames_out, notifies, empty = (int(g) for g in m.groups())
    log.append(f"push: {mib} MiB, {calls} socket calls and {fs_calls} fs calls per MiB, "
               f"{frames_in} frames in and {frames_out} out per MiB, {notifies} notifications, "
               f"{empty} reads would block")
    if mib != BLOB >> 20:
        raise Failure(f"the push accounted {mib} MiB, want {BLOB >> 20}")
    if empty > MAX_EMPTY_READS:
        raise Failure(f"{empty} socket reads would block during the push, want at most "
                      f"{MAX_EMPTY_READS}")
    if not 650 <= frames_in <= 800:
        raise Failure(f"{frames_in} frames received per MiB, want full-sized segments (~727)")
    if notifies * 8 > frames_in + frames_out:
        raise Failure(f"{notifies} notifications per MiB for {frames_in + frames_out} frames")
    if digest_of(pull(Http(port, timeout=600), "counts/push", d, BLOB)) != d:
        raise Failure("the pulled blob differs")


TESTS = {
    "registry-push-counts": (t_push_counts, "test-registry.cfg", 600),
}
