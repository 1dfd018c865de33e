"""QEMU tests of REPLY with CONTINUES (abi::reply_flags; kernel/SYSCALLS.md,
"Several CPUs"): a server that answers and computes on gets a halted CPU
woken for its client at once.

  smp-reply-continues   -smp 2: the server (continuer arg=0) answers each
                        of 20 calls with CONTINUES and then computes, never
                        blocking, until the client's next call is queued:
                        every call is found queued (the client ran on the
                        other CPU while the server kept its own), and the
                        kernel sent a wake-up IPI for the replies that
                        found the other CPU halted (its stats' reply_wakes:
                        10 to 20; 19 or 20 on a quiet host, but a reply
                        finds that CPU still busy whenever the host was late
                        to run its vCPU thread: a host at load 6 gave 18).
  smp-reply-continues-one  -smp 1: the same on one CPU: the client runs when
                        the server's quantum ends, and no IPI is ever sent
                        (reply_wakes: 0).

Merged into scripts/qemu.py's TESTS (the entry format of smp_tests.py).
"""

PASS = [
    r"continuer: 20 calls each found queued while the server computed \(never blocked;",
    r"judge: 2/2 verdicts passed; TEST PASS",
]

TESTS = {
    "smp-reply-continues": ("test-continue.cfg", None, 120, PASS + [
        r"cpus: 2 online",
        r"kernel stats: Stats \{.*reply_wakes: (1\d|20) \}"], ["-smp", "2"]),
    "smp-reply-continues-one": ("test-continue.cfg", None, 120, PASS + [
        r"cpus: 1 online",
        r"kernel stats: Stats \{.*reply_wakes: 0 \}"], ["-smp", "1"]),
}
