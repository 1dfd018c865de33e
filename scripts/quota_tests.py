"""QEMU test of quotas through the shell: `quota set` on a top-level
directory and a repository, a put and a blob put over the limit refused
with the limit named (and nothing stored), the usage listing, and after a
reboot the limits and usage still there and still enforced.

Collected in scripts/storage_tests.py's TESTS as `storage-quota` (the shell
driver in scripts/storage_shell.py)."""

from storage_shell import Failure, b64_lines, data_of, expect, no_error, sha256


def t_quota(boot):
    """Limits set, enforced before anything is written, listed with their
    usage, and kept across a reboot."""
    seed = data_of("quota-seed", 3000)
    big = data_of("quota-big", 6000)
    layer = data_of("quota-layer", 70000)
    small_layer = data_of("quota-small", 30000)
    s = boot()
    expect(s.cmd("quota"), r"no quotas set", "no limits on a fresh disk")
    no_error(s.cmd("write /data/a.txt hello"), "write")
    no_error(s.cmd(f"put /data/seed.bin {len(seed)}", data_lines=b64_lines(seed)), "put seed")
    expect(s.cmd("quota set dir /data 8K"), r"(?m)^ok\s*$", "quota set dir")
    expect(s.cmd("quota set repo library/app 64K"), r"(?m)^ok\s*$", "quota set repo")
    listing = s.cmd("quota")
    expect(listing, r"directory /data: 2\.9 KiB of 8\.0 KiB \(36%\), 3005 of 8192 bytes",
           "usage counted when the limit is set")
    expect(listing, r"repository library/app: 0 bytes of 64\.0 KiB \(0%\), 0 of 65536 bytes",
           "an empty repository's usage")

    # Over the directory's limit: refused before any byte is stored.
    out = s.cmd(f"put /data/big.bin {len(big)}", data_lines=b64_lines(big))
    expect(out, r"error: put: quota exceeded: directory /data would store 8\.7 KiB of its "
           r"8\.0 KiB limit", "put over the limit")
    expect(s.cmd("stat /data/big.bin"), r"error: stat: /data/big.bin: not found",
           "nothing stored by the refused put")
    expect(s.cmd("truncate /data/a.txt 100000"), r"error: truncate: quota exceeded: directory "
           r"/data", "truncate growing past the limit")
    # Over the repository's limit.
    d = sha256(layer)
    out = s.cmd(f"blob put library/app {d} {len(layer)}", data_lines=b64_lines(layer))
    expect(out, r"error: blob put: quota exceeded: repository library/app would store "
           r"68\.3 KiB of its 64\.0 KiB limit", "blob put over the limit")
    expect(s.cmd(f"blob stat {d}"), r"error: blob stat: .*not stored", "refused blob not stored")
    ds = sha256(small_layer)
    expect(s.cmd(f"blob put library/app {ds} {len(small_layer)}",
                 data_lines=b64_lines(small_layer)),
           rf"stored blob {ds} \(30000 bytes\)", "blob put within the limit")
    expect(s.cmd("quota"), r"repository library/app: 29\.2 KiB of 64\.0 KiB \(45%\), "
           r"30000 of 65536 bytes", "usage after a blob put")
    expect(s.cmd("quota rm dir /nothing"), r"error: quota rm: no quota is set on /nothing",
           "removing a limit that is not set")
    expect(s.cmd("quota set dir /a/b 1K"), r"error: quota set: invalid path",
           "a limit below the top level")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck")
    s.poweroff()

    s = boot()
    listing = s.cmd("quota")
    expect(listing, r"directory /data: .* 3005 of 8192 bytes", "after reboot: directory limit")
    expect(listing, r"repository library/app: .* 30000 of 65536 bytes",
           "after reboot: repository limit")
    out = s.cmd(f"put /data/big.bin {len(big)}", data_lines=b64_lines(big))
    expect(out, r"error: put: quota exceeded: directory /data", "after reboot: still enforced")
    expect(s.cmd("quota rm dir /data"), r"(?m)^ok\s*$", "quota rm")
    out = s.cmd(f"put /data/big.bin {len(big)}", data_lines=b64_lines(big))
    expect(out, rf"stored {len(big)} bytes in /data/big.bin", "put once the limit is removed")
    listing = s.cmd("quota")
    if "directory /data" in listing:
        raise Failure(f"the removed limit is still listed: {listing!r}")
    expect(s.cmd("fsck"), r"fsck: clean", "fsck after reboot")
    s.poweroff()


TESTS = {
    "storage-quota": (t_quota, "boot.cfg", 300),
}

