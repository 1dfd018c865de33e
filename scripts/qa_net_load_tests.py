"""QEMU tests of the registry and the network service under many
connections at once.

- qa-registry-slow-clients: 34 clients each send half a request head and
  wait (slowloris): 32 fill every connection slot, two wait in the
  listener's backlog, and a new client sends a whole request. While every
  slot is busy the registry leaves its listener out of the network
  service's `Poll` (`NO_ACCEPT`) and sleeps until its first connection
  timeout, so neither it nor the network service takes more than a few
  per cent of the CPU (from the kernel's per-process accounts, the shell's
  `cpu`); before, the listener was ready at every `Poll` and the two spun
  at full CPU. The head timeout (20 s from a request's first byte)
  answers the slow connections `408 Request Timeout` and closes them, and
  the new client is answered then. The registry
  used to wait in `Poll` with no timeout, so its head timeout fired only
  when some other connection woke it.

Used by scripts/registry_tests.py (TESTS merged into its own).
"""
import re
import select
import socket
import time

from registry_client import Checks, Raw
from storage_shell import Failure

SLOTS = 32
HALF = b"GET /v2/ HTTP/1.1\r\nHost: r\r\n"
# A service that waits takes well under 1 % of the CPU here; one that
# spins, at least a third (each `Poll` answered at once, round after round).
SPIN_SHARE = 0.05


def cpu_accounts(shell):
    """The shell's `cpu`: each account's cycles since boot, and the TSC."""
    out = shell.cmd("cpu")
    acc = {m.group(1): int(m.group(2)) for m in re.finditer(r"(?m)^cpu: (\S+) (\d+)\r?$", out)}
    for name in ("registry", "net", "tsc"):
        if name not in acc:
            raise Failure(f"cpu: no {name!r} account in {out.strip()[-400:]!r}")
    return acc


def guest_seconds(shell):
    """The guest's clock: the shell's `uptime`, in seconds."""
    out = shell.cmd("uptime")
    m = re.search(r"up (\d+\.\d+) s", out)
    if not m:
        raise Failure(f"uptime: {out.strip()!r}")
    return float(m.group(1))


def readable(raws):
    """Indices of the connections the server sent something on (or
    closed) by now, without waiting."""
    ready, _, _ = select.select([r.sock for r in raws], [], [], 0)
    return [i for i, r in enumerate(raws) if r.sock in ready]


def closed_unanswered(raw):
    """True when the server closed `raw` (or reset it) without a byte of an
    answer; bytes that did come are kept in its buffer."""
    raw.sock.settimeout(1)
    try:
        b = raw.sock.recv(65536)
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True
    raw.buf += b
    return not b


def t_slow_clients(shell, port, log):
    ck = Checks(log)
    slow = []
    try:
        # Connected first, the half heads sent together after: QEMU's user
        # network takes host connects one at a time (a burst trickles in
        # over seconds), and the head timeouts should start together.
        # Silent connections are idle ones, which a waiting client may
        # take the slot of: the two beyond the slots connect afterwards.
        # On a loaded host a head can still reach the registry after a
        # client waits, and a connection that has sent the registry nothing
        # for 1 s then looks idle and may be given up (the rule
        # qa-registry-idle-connections tests): such connections are told
        # apart below (closed with no answer), not counted as failures.
        for _ in range(SLOTS):
            slow.append(Raw(port, timeout=90))
        for raw in slow:
            raw.send(HALF)
        sent = guest_seconds(shell)
        for _ in range(2):
            slow.append(Raw(port, timeout=90))
            slow[-1].send(HALF)
        # Every slot taken, two more in the backlog: the registry is full.
        time.sleep(2)
        early = readable(slow)
        given_up = [i for i in early if closed_unanswered(slow[i])]
        if given_up:
            log.append(f"connections given up as idle (their half heads reached the registry "
                       f"late, a loaded host): {given_up}")
        ck.eq("slow clients the server answered or closed at once, other than given up "
              "as idle", [], [i for i in early if i not in given_up])
        before = cpu_accounts(shell)
        new = Raw(port, timeout=90)
        new.send(HALF + b"\r\n")
        time.sleep(4)
        after = cpu_accounts(shell)
        if not given_up:
            ck.eq("the new client is not answered while every slot is mid-request",
                  [], readable([new]))
        else:
            log.append("the new client's wait is not checked: a slot was given up")
        waited = guest_seconds(shell) - sent
        ck.true("that was checked before the head timeout (20 s) could pass",
                waited < 19, f"{waited:.1f} s")
        wall = after["tsc"] - before["tsc"]
        for name in ("registry", "net"):
            share = (after[name] - before[name]) / max(wall, 1)
            log.append(f"{name}: {share * 100:.2f} % of the CPU while full "
                       f"({after[name] - before[name]} of {wall} cycles)")
            ck.true(f"{name} waits, not spins, while every slot is busy "
                    f"(share of the CPU < {SPIN_SHARE:.0%})", share < SPIN_SHARE, f"{share:.4f}")
        # The head timeout frees the slots; the new client is served then.
        new.sock.settimeout(60)
        r = new.response()
        served = guest_seconds(shell) - sent
        log.append(f"the new client answered {r.status}, {served:.1f} s (guest) after the "
                   "slow heads were sent")
        ck.eq("the new client is answered once the head timeout freed slots", 200, r.status)
        told = 0
        for raw in slow:
            try:
                told += raw.response().status == 408
            except (Failure, OSError):
                pass
        ck.eq("slow clients answered 408 Request Timeout", len(slow) - len(given_up), told)
        closed = sum(raw.closed_by_peer(wait=40) for raw in slow)
        ck.eq("slow clients closed by the server (head timeout)", len(slow), closed)
        new.send(b"GET /v2/ HTTP/1.1\r\nHost: r\r\n\r\n")
        ck.eq("the new client's connection keeps working", 200, new.response().status)
        new.close()
    finally:
        for raw in slow:
            raw.close()
    out = shell.cmd("repos")
    ck.true("the shell still answers", re.search(r"no repositories|error:", out), out[-200:])
    ck.done("qa-registry-slow-clients")


TESTS = {
    "qa-registry-slow-clients": (t_slow_clients, "test-registry.cfg", 300),
}
