"""The `registry-powercut` QEMU test and the registry benchmark (`make
bench`: net_push_MBps, net_pull_MBps, net_push_MBps_4clients,
net_small_blob_ops). Used by scripts/registry_tests.py and scripts/qemu.py.
"""
import random
import re
import sys
import threading
import time

import net_tests
import storage_shell
from registry_client import (OCI_MANIFEST, Checks, Http, Raw, digest_of, head_bytes,
                             image_manifest, push_blob, push_session)
from storage_shell import Failure, data_of

PIECE = 1 << 20


def t_powercut(boot, port, log):
    """A power cut during a push: QEMU is SIGKILLed while an upload session
    holds acknowledged PATCHes and another PATCH is in flight; the system
    boots again on the same disk (same configuration). The client asks the
    session's status and must be told at least the acknowledged bytes,
    resumes from the reported offset and finishes; every blob and the
    manifest acknowledged before the cut read back with their digests;
    fsck is clean.

    What this proves: SIGKILL of QEMU loses nothing QEMU already wrote to
    the disk image (the host keeps it), so it checks the service-level
    durability contract (a 202 or 201 is sent only after the fs service
    made the bytes durable, and a restarted fs service rebuilds sessions
    from disk), not the disk's own write ordering or flush semantics.
    """
    ck = Checks(log)
    shell = boot()
    c = Http(port)
    repo = "cut/app"
    acked = {}
    for i in range(3):
        data = data_of(f"cut-blob{i}", 300_000 + i)
        acked[push_blob(c, repo, data)] = data
    big = data_of("cut-big", 3 * PIECE + 77)
    acked[push_session(c, repo, big)] = big
    cfg = b'{"architecture":"amd64","os":"linux","cut":1}'
    acked[push_blob(c, repo, cfg)] = cfg
    manifest = image_manifest(cfg, [big])
    r = c.request("PUT", f"/v2/{repo}/manifests/v1", body=manifest,
                  headers={"Content-Type": OCI_MANIFEST})
    ck.answer("manifest PUT before the cut", r, 201)
    # The session: two PATCHes acknowledged, a third in flight.
    data = data_of("cut-session", 6 * PIECE)
    loc = c.request("POST", f"/v2/{repo}/blobs/uploads/").h("Location")
    acknowledged = 0
    for end in (PIECE, 3 * PIECE):
        r = c.request("PATCH", loc, body=data[acknowledged:end],
                      headers={"Content-Range": f"{acknowledged}-{end - 1}"})
        if not ck.answer(f"PATCH {acknowledged}-{end - 1} before the cut", r, 202):
            raise Failure("the session could not be set up")
        acknowledged = end
    # Acknowledged a moment before the cut: no time for a lazy flush.
    last = data_of("cut-last", 200_000)
    acked[push_blob(c, repo, last)] = last
    manifest2 = image_manifest(cfg, [last])
    r = c.request("PUT", f"/v2/{repo}/manifests/v2", body=manifest2,
                  headers={"Content-Type": OCI_MANIFEST})
    ck.answer("manifest PUT just before the cut", r, 201)
    c.close()
    raw = Raw(port)
    raw.send(head_bytes("PATCH", loc, {"Content-Range": f"{3 * PIECE}-{6 * PIECE - 1}",
                                        "Content-Length": str(3 * PIECE)}))
    in_flight = PIECE + PIECE // 2
    raw.send(data[3 * PIECE:3 * PIECE + in_flight])
    time.sleep(0.5)  # let the service be busy appending
    log.append(f"power cut: SIGKILL of QEMU with {acknowledged} bytes acknowledged "
               f"and {in_flight} more sent in a PATCH not yet answered")
    shell.kill()
    raw.close()

    shell = boot()
    c = Http(port)
    r = c.request("GET", loc)
    ck.answer("session status after the reboot", r, 204)
    offset = int(r.h("Range").split("-")[1]) + 1 if r.status == 204 else None
    ck.true(f"reported offset >= the {acknowledged} acknowledged bytes and <= what was sent",
            offset is not None and acknowledged <= offset <= 3 * PIECE + in_flight, offset)
    if offset is not None:
        r = c.request("PATCH", loc, body=data[offset:5 * PIECE],
                      headers={"Content-Range": f"{offset}-{5 * PIECE - 1}"})
        ck.answer(f"resumed PATCH from offset {offset}", r, 202)
        r = c.request("PUT", f"{loc}?digest={digest_of(data)}", body=data[5 * PIECE:])
        ck.answer("PUT finishing the resumed session", r, 201)
        r = c.request("GET", f"/v2/{repo}/blobs/{digest_of(data)}")
        ck.eq("the resumed blob GETs back", (200, digest_of(data)), (r.status, digest_of(r.body)))
    for d, blob in acked.items():
        r = c.request("GET", f"/v2/{repo}/blobs/{d}")
        ck.eq(f"blob {d[:19]} acknowledged before the cut", (200, d), (r.status, digest_of(r.body)))
    r = c.request("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    ck.eq("manifest v1 acknowledged before the cut", (200, manifest), (r.status, r.body))
    r = c.request("GET", f"/v2/{repo}/manifests/v2", headers={"Accept": OCI_MANIFEST})
    ck.eq("manifest v2 acknowledged just before the cut", (200, manifest2), (r.status, r.body))
    out = shell.cmd("fsck", timeout=600)
    ck.true("fsck is clean", "clean" in out and "error:" not in out, out.strip()[-300:])
    ck.done("registry-powercut")


t_powercut.reboots = True


# ---- the benchmark ----

BENCH_BLOB = 64 << 20
SMALL_BLOB = 4096
SMALL_OPS = 100


def push_streamed(c, repo, data):
    """What skopeo does for a layer: POST, one PATCH with the whole blob, PUT."""
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    if r.status != 202:
        raise Failure(f"bench: session start: {r!r}")
    r = c.request("PATCH", r.h("Location"), body=data,
                  headers={"Content-Type": "application/octet-stream"})
    if r.status != 202:
        raise Failure(f"bench: PATCH of {len(data)} bytes: {r!r}")
    r = c.request("PUT", f"{r.h('Location')}?digest={digest_of(data)}")
    if r.status != 201:
        raise Failure(f"bench: PUT: {r!r}")


def pull(c, repo, d, size):
    r = c.request("GET", f"/v2/{repo}/blobs/{d}")
    if r.status != 200 or len(r.body) != size:
        raise Failure(f"bench: GET {d}: {r.status}, {len(r.body)} bytes")
    return r.body


def parallel(fn, n):
    """Runs fn(i) in n threads at once; returns the wall time."""
    errors = []

    def run(i):
        try:
            fn(i)
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    secs = time.perf_counter() - t0
    if errors:
        raise Failure(f"bench: {errors[0]}")
    return secs


def note(log, msg):
    """Progress of the benchmark, also on stderr (it runs for minutes)."""
    log.append(msg)
    print(f"qemu-bench: registry: {msg}", file=sys.stderr, flush=True)


def cpu_of(shell, kind, start, lines, name):
    """The registry's `registry: cpu KIND` line of the transfer just timed
    (services/registry-http/server/src/accounts.rs): where its time went,
    from the kernel's per-process CPU accounts, as a descriptive line
    `NAME_cpu:`, and its deterministic counts as figures. Returns where the
    next search starts."""
    try:
        at = shell.wait_for(f"registry: cpu {kind} ".encode(), start, 30)
    except Failure:
        return start
    text = shell.buf[at:shell.buf.find(b"\n", at)].decode(errors="replace").strip()
    lines.append(f"{name}_cpu: {text}")
    m = re.search(r"per MiB: (\d+) socket calls, (\d+) fs calls", text)
    if m:
        lines.append(f"{name}_socket_calls_per_mib: {m.group(1)} calls")
        lines.append(f"{name}_fs_calls_per_mib: {m.group(2)} calls")
    return at


def bench(qemu_cmd):
    """The registry over the network, timed on the HTTP side only (after the
    boot): `net_push_MBps`/`net_pull_MBps` for a 64 MiB blob with one client
    (a POST, one streamed PATCH, the PUT that verifies the digest; one GET),
    `net_push_MBps_4clients`/`net_pull_MBps_4clients` with four connections
    at once (four different 64 MiB blobs, total MB/s), `net_small_blob_ops`
    (a 4 KiB blob POSTed with its digest + a manifest PUT naming it, per
    second, one connection). MB = 10^6 bytes. Returns (lines, log text)."""
    port = net_tests.free_port()
    disk = storage_shell.fresh_disk("bench-registry", 1536)
    log, lines, shell = [], [], None
    # Made before the boot, so the guest is not left idle meanwhile.
    blobs = [random.Random(i).randbytes(BENCH_BLOB) for i in range(5)]
    digests = [digest_of(b) for b in blobs]
    try:
        shell = storage_shell.Shell(
            qemu_cmd("test-registry.cfg", storage_shell.disk_args(disk) + net_tests.net_args(port)),
            log)
        timer = threading.Timer(1500, shell.kill)
        timer.start()
        at = shell.wait_for(b"registry: serving", 0, 180)
        c = Http(port, timeout=600)
        t0 = time.perf_counter()
        push_streamed(c, "bench/one", blobs[0])
        secs = time.perf_counter() - t0
        lines.append(f"net_push_MBps: {round(BENCH_BLOB / secs / 1e6)} MB/s")
        note(log, f"{lines[-1]} ({secs:.1f} s)")
        at = cpu_of(shell, "push", at, lines, "net_push")
        t0 = time.perf_counter()
        body = pull(c, "bench/one", digests[0], BENCH_BLOB)
        secs = time.perf_counter() - t0
        if digest_of(body) != digests[0]:
            raise Failure("bench: the pulled blob differs")
        lines.append(f"net_pull_MBps: {round(BENCH_BLOB / secs / 1e6)} MB/s")
        note(log, f"{lines[-1]} ({secs:.1f} s)")
        at = cpu_of(shell, "pull", at, lines, "net_pull")
        del body
        secs = parallel(lambda i: push_streamed(Http(port, timeout=900), f"bench/p{i}",
                                                blobs[i + 1]), 4)
        lines.append(f"net_push_MBps_4clients: {round(4 * BENCH_BLOB / secs / 1e6)} MB/s")
        note(log, f"{lines[-1]} ({secs:.1f} s)")
        got = [None] * 4

        def pull_one(i):
            got[i] = digest_of(pull(Http(port, timeout=900), f"bench/p{i}", digests[i + 1],
                                    BENCH_BLOB))

        secs = parallel(pull_one, 4)
        if got != digests[1:]:
            raise Failure("bench: a blob pulled by four clients differs")
        lines.append(f"net_pull_MBps_4clients: {round(4 * BENCH_BLOB / secs / 1e6)} MB/s")
        note(log, f"{lines[-1]} ({secs:.1f} s)")
        at = cpu_of(shell, "pull", at, lines, "net_pull_4clients")
        # A new connection: the first sat idle past the service's idle
        # timeout while the four clients ran.
        c = Http(port, timeout=600)
        cfg = b'{"architecture":"amd64","os":"linux","bench":1}'
        push_blob(c, "bench/small", cfg)
        small = [data_of(f"small{i}", SMALL_BLOB) for i in range(SMALL_OPS)]
        t0 = time.perf_counter()
        for i, b in enumerate(small):
            push_blob(c, "bench/small", b)
            r = c.request("PUT", f"/v2/bench/small/manifests/s{i}", body=image_manifest(cfg, [b]),
                          headers={"Content-Type": OCI_MANIFEST})
            if r.status != 201:
                raise Failure(f"bench: manifest PUT s{i}: {r!r}")
        secs = time.perf_counter() - t0
        lines.append(f"net_small_blob_ops: {round(SMALL_OPS / secs)} ops/s")
        note(log, f"{lines[-1]} ({secs:.1f} s)")
        timer.cancel()
        shell.poweroff()
    except (Failure, OSError) as e:
        print(f"qemu-bench: registry bench failed: {e}")
        log.append(f"failed: {e}")
    finally:
        if shell is not None:
            shell.kill()
    return lines, "\n".join(log) + "\n--- serial ---\n" + (shell.output() if shell else "")
