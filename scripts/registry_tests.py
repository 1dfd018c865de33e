"""QEMU tests of the registry over the network: skopeo, the real registry
client, pushes OCI images built offline (scripts/oci_layout.py) into the
system through QEMU's user network, pulls them back and checks every
digest; the shell beside it sees the same content and fsck stays clean
(registry-push-pull). registry-protocol speaks every endpoint and its
error cases byte by byte (scripts/registry_protocol.py); registry-powercut
kills QEMU mid-push and resumes after a reboot (scripts/registry_powercut.py,
which also holds the `make bench` figures of the registry).

Used by scripts/qemu.py (`test` with the names in TESTS).
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import net_tests
import oci_layout
import qa_net_load_tests
import qa_registry_tests
import registry_powercut
import registry_protocol
import registry_pull
import registry_push_counts
import storage_shell
from storage_shell import Failure, expect, no_error

SKOPEO = ["skopeo", "--insecure-policy"]


def skopeo(args, log, timeout=600):
    cmd = SKOPEO + args
    log.append("host$ " + " ".join(cmd))
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    secs = time.time() - t0
    out = (p.stdout + p.stderr).strip()
    if out:
        log.append(out[-3000:])
    if p.returncode != 0:
        raise Failure(f"skopeo {args[0]} failed ({p.returncode}): {out[-600:]}")
    return p.stdout, secs


def build_images(work):
    """Two images sharing a base layer, and a two-platform index."""
    base = oci_layout.layer(1, 1 << 20)
    app = oci_layout.layer(2, 300_000)
    other = oci_layout.layer(3, 200_000)
    lay = oci_layout.Layout(os.path.join(work, "src"))
    img1 = lay.image([base, app])
    lay.tag(img1, "1")
    img2 = lay.image([base, other])
    lay.tag(img2, "2")
    arm = lay.image([base, oci_layout.layer(4, 100_000)], arch="arm64")
    idx = lay.index([img1, arm])
    lay.tag(idx, "multi")
    return lay.path, {"1": img1, "2": img2, "multi": idx}


def pulled_manifest_digest(path):
    with open(os.path.join(path, "index.json")) as f:
        return json.load(f)["manifests"][0]["digest"]


def t_push_pull(shell, port, log):
    """skopeo pushes a plain image, a second image sharing its base layer
    into another repository, and a multi-platform index; pulls each back
    with --preserve-digests and compares every blob; deletes a manifest,
    runs registry GC and pulls what remains."""
    reg = f"127.0.0.1:{port}"
    work = tempfile.mkdtemp(prefix="registry-test-")
    try:
        src, refs = build_images(work)
        _, secs = skopeo(["copy", "--dest-tls-verify=false", f"oci:{src}:1",
                          f"docker://{reg}/app:1"], log)
        log.append(f"registry: pushed app:1 in {secs:.1f} s")
        skopeo(["copy", "--dest-tls-verify=false", f"oci:{src}:2",
                f"docker://{reg}/other/app:2"], log)
        skopeo(["copy", "--all", "--dest-tls-verify=false", f"oci:{src}:multi",
                f"docker://{reg}/app:multi"], log)
        out, _ = skopeo(["inspect", "--raw", "--tls-verify=false", f"docker://{reg}/app:1"], log)
        if json.loads(out)["layers"][0]["digest"] is None:
            raise Failure("inspect: no layers")
        out, _ = skopeo(["list-tags", "--tls-verify=false", f"docker://{reg}/app"], log)
        tags = sorted(json.loads(out)["Tags"])
        if tags != ["1", "multi"]:
            raise Failure(f"list-tags app: {tags}")
        for repo, tag in [("app", "1"), ("other/app", "2"), ("app", "multi")]:
            dst = os.path.join(work, f"pull-{tag}")
            _, secs = skopeo(["copy", "--all", "--preserve-digests", "--src-tls-verify=false",
                              f"docker://{reg}/{repo}:{tag}", f"oci:{dst}:{tag}"], log)
            got = pulled_manifest_digest(dst)
            if got != refs[tag]["digest"]:
                raise Failure(f"{repo}:{tag}: pulled manifest {got}, pushed {refs[tag]['digest']}")
            for d in oci_layout.blob_digests(dst):
                if d not in oci_layout.blob_digests(src):
                    raise Failure(f"{repo}:{tag}: pulled blob {d} was never pushed")
            log.append(f"registry: pulled {repo}:{tag} byte-identical in {secs:.1f} s")
        # The shell sees the same content, and the store is consistent.
        out = shell.cmd("repos")
        expect(out, r"(?m)^app$", "repos")
        expect(out, r"(?m)^other/app$", "repos")
        out = shell.cmd("tags app")
        expect(out, r"(?m)^multi$", "tags app")
        # Deleting a manifest by digest: it is gone, the other tags still pull.
        skopeo(["delete", "--tls-verify=false", f"docker://{reg}/app@{refs['multi']['digest']}"], log)
        out = shell.cmd("tags app")
        if "multi" in out:
            raise Failure(f"tags after delete: {out!r}")
        # Registry GC: within the grace period nothing goes; with none, the
        # deleted index's manifest and the layer only its arm64 child named
        # go, and everything tagged still pulls.
        out = shell.cmd("gc --registry --dry-run", timeout=300)
        expect(out, r"would remove 0 of \d+ manifests, 0 of \d+ blobs", "gc --registry --dry-run")
        out = shell.cmd("gc --registry --grace 0", timeout=300)
        no_error(out, "gc --registry")
        expect(out, r"removed [1-9]\d* of \d+ manifests, [1-9]\d* of \d+ blobs", "gc --registry")
        dst = os.path.join(work, "after-delete")
        skopeo(["copy", "--preserve-digests", "--src-tls-verify=false",
                f"docker://{reg}/app:1", f"oci:{dst}:1"], log)
        out = shell.cmd("fsck", timeout=300)
        no_error(out, "fsck")
        expect(out, r"clean", "fsck")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# name: (function, config, time limit in seconds). A function takes
# (shell, port, log); one with `reboots` set takes (boot, port, log), where
# boot() starts the system again on the same disk and port; `disk_mib` set
# on a function gives its disk's size (default 256 MiB).
TESTS = {
    "registry-push-pull": (t_push_pull, "test-registry.cfg", 900),
    "registry-protocol": (registry_protocol.t_protocol, "test-registry.cfg", 1200),
    "registry-powercut": (registry_powercut.t_powercut, "test-registry.cfg", 1200),
    **registry_pull.TESTS,
    **registry_push_counts.TESTS,
    **qa_registry_tests.TESTS,
    **qa_net_load_tests.TESTS,
}


def run_test(name, qemu_cmd):
    """Boots `name`'s configuration on a fresh disk with a forwarded port;
    returns (problems, log text)."""
    func, config, limit = TESTS[name]
    port = net_tests.free_port()
    disk = storage_shell.fresh_disk(name, getattr(func, "disk_mib", 256))
    log = []
    problems = []
    shells = []

    def boot():
        if shells:
            shells[-1].kill()
        shells.append(storage_shell.Shell(
            qemu_cmd(config, storage_shell.disk_args(disk) + net_tests.net_args(port)), log))
        shells[-1].wait_for(b"registry: serving", 0, 180)
        return shells[-1]

    # The whole test, boots included, ends within its limit.
    watchdog = threading.Timer(limit, lambda: shells and shells[-1].kill())
    watchdog.start()
    try:
        if getattr(func, "reboots", False):
            func(boot, port, log)
        else:
            func(boot(), port, log)
        shells[-1].poweroff()
    except (Failure, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
        problems.append(str(e))
    finally:
        watchdog.cancel()
        for shell in shells:
            shell.kill()
    serial = "\n--- next boot ---\n".join(s.output() for s in shells)
    for bad in ("panic", "page fault", "general protection"):
        if bad in serial.lower():
            problems.append(f"serial output mentions {bad!r}")
    return problems, "\n".join(log) + "\n--- serial ---\n" + serial
