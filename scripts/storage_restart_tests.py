"""QEMU tests of deaths and restarts through the shell: a killed client,
group commit across a QEMU kill, a missing disk, a dead content service,
and the supervisor restarting the driver, the block, content and fs
services in the middle of a stream of puts (recovery time reported).
Collected in scripts/storage_tests.py's TESTS."""

import hashlib
import re
import time

from storage_shell import (
    Failure,
    b64_lines,
    data_of,
    decode_get,
    expect,
    no_error,
    sha256,
)


def t_kill(boot):
    """QEMU killed right after acknowledgements: every acknowledged operation
    is there after the journal's recovery at the next mount."""
    data = data_of("kill", 60 * 1024)
    blob = data_of("killblob", 40 * 1024)
    s = boot()
    no_error(s.cmd("write /acked.txt acknowledged"), "write")
    no_error(s.cmd(f"put /acked.bin {len(data)}", data_lines=b64_lines(data)), "put")
    d = sha256(blob)
    expect(s.cmd(f"blob put library/kill {d} {len(blob)}", data_lines=b64_lines(blob)),
           r"stored blob", "blob put")
    no_error(s.cmd("snap create acked"), "snap create")
    s.kill()
    s = boot()
    expect(s.output(), r"block: mounted \d+ blocks, [1-9]\d* transactions replayed", "journal replay")
    expect(s.cmd("cat /acked.txt"), r"acknowledged", "write survived")
    if decode_get(s.cmd("get /acked.bin")) != data:
        raise Failure("put did not survive the kill")
    if decode_get(s.cmd(f"blob get {d}")) != blob:
        raise Failure("blob did not survive the kill")
    expect(s.cmd("snap list"), r"acked logical", "snapshot survived")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after recovery")
    s.poweroff()


def t_group_commit(boot):
    """Four clients put 4 KiB blobs at once, each waiting for its durable
    reply (group commit: the fs service syncs once for the puts queued
    together), beside a 16 MiB upload in 1 MiB requests whose pieces the
    small puts interleave with; QEMU is killed while they put. After booting boot.cfg on the
    same disk, every blob whose put was acknowledged reads back intact and
    fsck is clean."""
    s = boot()
    deadline = time.time() + 150
    while (len(re.findall(r"putter \d: acked sha256:[0-9a-f]{64}", s.output())) < 40
           or "uploader: piece 3 stored" not in s.output()):
        if time.time() > deadline:
            raise Failure("the putters did not get 40 puts acknowledged, or the upload 4 pieces")
        time.sleep(0.05)
    s.kill()
    out = s.output()
    # A long upload (1 MiB requests) does not hold the small puts for its
    # duration: some are acknowledged between its pieces.
    first = out.find("uploader: piece 0 stored")
    last = out.rfind("uploader: piece ")
    between = len(re.findall(r"putter \d: acked", out[first:last]))
    if between == 0:
        raise Failure("no small put was acknowledged while the upload was under way")
    s.log.append(f"{between} small puts acknowledged between the upload's pieces")
    acked = re.findall(r"putter (\d): acked (sha256:([0-9a-f]{64}))", out)
    if "put failed" in out:
        raise Failure("a put failed before the kill")
    clients = {n for n, _, _ in acked}
    if len(clients) != 4:
        raise Failure(f"only clients {sorted(clients)} were acknowledged before the kill")
    s = boot(config="boot.cfg")
    for n, d, hexd in acked:
        data = decode_get(s.cmd(f"blob get {d}"))
        if hashlib.sha256(data).hexdigest() != hexd or len(data) != 4096:
            raise Failure(f"putter {n}'s acknowledged blob {d} did not survive the kill")
    s.log.append(f"{len(acked)} acknowledged blobs of 4 clients read back")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after recovery")
    s.poweroff()


def t_nodisk(boot):
    """No disk attached: the services report it and the shell says so for
    every storage command instead of hanging; poweroff still works."""
    s = boot(disk_attached=False)
    expect(s.cmd("ls /"), r"error: ls: the filesystem is not mounted: block service", "ls")
    expect(s.cmd("df"), r"error: df: the filesystem is not mounted", "df")
    expect(s.cmd("uptime"), r"up \d+\.\d\d s", "the shell goes on")
    expect(s.output(), r"block: no disk", "the block service reported it")
    start = len(s.buf)
    s._send("poweroff\n")
    if s.proc.wait(60) not in (0, 1):
        raise Failure("poweroff without a disk: bad QEMU status")
    s.reader.join(5)
    expect(s.buf[start:].decode(errors="replace"), r"error: storage shutdown: .*\n.*powering off",
           "shutdown error reported, then poweroff")


def t_content_dies(boot):
    """The content service dies (its boot argument makes it exit at its 3rd
    request, as a crash would): the fs service answers each request that
    needs it with a clear error instead of hanging, and goes on serving what
    does not (the namespace, poweroff)."""
    s = boot()
    # Longer than the fs's INLINE_MAX (160 bytes): stored as a chunk by
    # the content service, not inline in the fs tree.
    no_error(s.cmd("write /a.txt " + "hello" * 40), "write while the content service lives")
    expect(s.cmd("cat /a.txt"), r"error: cat: .*content service unreachable",
           "read after the content service died")
    expect(s.output(), r"content: exiting at request 3", "the content service exited")
    expect(s.cmd("write /b.txt " + "more" * 50), r"error: write: .*content service unreachable",
           "write after the content service died")
    expect(s.cmd("ls /"), r"a\.txt", "the namespace is still served")
    expect(s.cmd("stat /a.txt"), r"file, 200 bytes", "stat still served")
    s.poweroff()


def acked_puts_survive(boot, s, acked, reboot_config=None):
    """Every acknowledged put of the stream (`acked`: index -> data) reads
    back and fsck is clean, on shell `s` after the restart and again after
    a reboot on the same disk (with `reboot_config`, if given); powers both
    off."""
    reboot = (lambda: boot(config=reboot_config)) if reboot_config else boot
    for when, shell in (("after the restart", s), ("after reboot", None)):
        shell = shell or reboot()
        for i, data in acked.items():
            if decode_get(shell.cmd(f"get /stream/f{i}.bin")) != data:
                raise Failure(f"{when}: acknowledged put {i} does not read back")
        expect(shell.cmd("fsck"), r"fsck: clean", f"fsck {when}")
        shell.poweroff()


def t_driver_restart(boot):
    """The virtio-blk driver dies (fault injection, requests in flight) in
    the middle of a stream of puts; the supervisor restarts it from the boot
    image, the block service's driver client resends what the dead driver
    held, the shell goes on, every acknowledged put reads back, fsck is
    clean, and again after a reboot."""
    s = boot()
    acked = {}
    died_at = None
    for i in range(80):
        data = data_of(f"restart{i}", 16 * 1024)
        out = s.cmd(f"put /stream/f{i}.bin {len(data)}", data_lines=b64_lines(data))
        if "error:" not in out:
            acked[i] = data
        if died_at is None and "fault injection: dying" in s.output():
            died_at = i
        if died_at is not None and i >= died_at + 4:
            break
    if died_at is None:
        raise Failure("the driver never died during the puts")
    out = s.output()
    expect(out, r"process virtio-blk \(pid 0\) ended: exited with code 0xdead", "the driver died")
    expect(out, r"DMA frames quarantined", "its DMA memory was quarantined")
    expect(out, r"process virtio-blk \(pid 0\) restarted by supervisor \(incarnation 1, [1-9]\d* quarantined DMA frames returned\)",
           "the supervisor restarted it")
    expect(out, r"virtio-blk: ready, 1 disk\(s\), incarnation 1", "the new driver found the disk")
    m = re.search(r"virtio-blk client: the driver is back; request resent after (\d+) ms", out)
    if not m:
        raise Failure("the block service's request was not resent")
    s.log.append(f"driver died during put {died_at}; recovery {m.group(1)} ms; {len(acked)} puts acknowledged")
    if len(acked) < died_at + 4:
        raise Failure(f"only {len(acked)} of {died_at + 5} puts acknowledged")
    acked_puts_survive(boot, s, acked)


def service_restart(boot, service, failure_re, reboot_config=None):
    """A storage service dies (fault injection by its boot argument) in the
    middle of a stream of puts; the supervisor restarts it from the boot
    image. The put in flight fails once with a clear error (matching
    `failure_re`) and changes nothing; the next puts work, every
    acknowledged put reads back, fsck is clean, and again after a reboot."""
    s = boot()
    acked = {}
    failed = []
    died_at = None
    recovery = None
    for i in range(60):
        data = data_of(f"{service}{i}", 16 * 1024)
        t0 = time.monotonic()
        out = s.cmd(f"put /stream/f{i}.bin {len(data)}", data_lines=b64_lines(data))
        if "error:" in out:
            failed.append((i, out.strip().splitlines()[-1]))
            # Not part of the recovery time: the test's own wait.
            t_settle = time.monotonic()
            s.settle()
            failed_at = t0 + (time.monotonic() - t_settle)
        else:
            acked[i] = data
            if failed and recovery is None:
                recovery = time.monotonic() - failed_at
        if died_at is None and f"{service}: exiting at request" in s.output():
            died_at = i
        if died_at is not None and i >= died_at + 4:
            break
    if died_at is None:
        raise Failure(f"the {service} service never died during the puts")
    out = s.output()
    expect(out, rf"process {service} \(pid \d+\) restarted by supervisor \(incarnation 1",
           f"the supervisor restarted the {service} service")
    if len(failed) > 1:
        raise Failure(f"more than one put failed around the restart: {failed}")
    for i, line in failed:
        if not re.search(failure_re, line):
            raise Failure(f"put {i} failed without a clear reason: {line!r}")
        # The failed put left nothing behind.
        expect(s.cmd(f"stat /stream/f{i}.bin"), r"error: ", f"failed put {i} left no file")
    s.log.append(f"{service} died during put {died_at}; {len(failed)} put failed; "
                 f"recovery (failed put to the next acknowledged one) "
                 f"{recovery * 1000 if recovery else 0:.0f} ms; {len(acked)} puts acknowledged")
    if len(acked) < died_at + 3:
        raise Failure(f"only {len(acked)} puts acknowledged by put {died_at + 4}")
    acked_puts_survive(boot, s, acked, reboot_config)


def t_content_restart(boot):
    """The content service dies at its 20th request, mid-stream (see
    `service_restart`). A small put is one content call (`store_whole`),
    as is a get, so the reboot's reads would reach the boot-time
    incarnation's 20th request and fire the fault hook again: the reboot
    runs the plain boot.cfg."""
    service_restart(boot, "content", r"error: .*content service", "boot.cfg")


def t_block_restart(boot):
    """The block service dies at its 150th request, mid-stream; the fs
    mounts again over the new one (see `service_restart`). A small put
    makes ~3 block calls now (no begin, the content service's writes ride
    on the fs's commit), so the reboot's mount, reads and fsck would reach
    the boot-time incarnation's 150th request and fire the fault hook
    again: the reboot runs the plain boot.cfg."""
    service_restart(boot, "block", r"error: .*(block service|service died)", "boot.cfg")


def t_fs_restart(boot):
    """The fs service dies at its 40th request, mid-stream; the shell's next
    call reaches the new one (see `service_restart`)."""
    service_restart(boot, "fs", r"error: .*(unreachable|service died)")


TESTS = {
    "storage-kill": (t_kill, "boot.cfg", 200),
    "storage-group-commit": (t_group_commit, "test-storage-group.cfg", 400),
    "storage-nodisk": (t_nodisk, "boot.cfg", 100),
    "storage-content-dies": (t_content_dies, "test-storage-content-dies.cfg", 120),
    "storage-driver-restart": (t_driver_restart, "test-storage-driver-restart.cfg", 400),
    "storage-content-restart": (t_content_restart, "test-storage-content-restart.cfg", 400),
    "storage-block-restart": (t_block_restart, "test-storage-block-restart.cfg", 400),
    "storage-fs-restart": (t_fs_restart, "test-storage-fs-restart.cfg", 400),
}
