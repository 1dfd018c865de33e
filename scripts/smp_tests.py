"""QEMU tests of the kernel on more than one CPU (kernel/src/smp.rs).

Each boots with an explicit -smp (whatever SMP says for the other tests):
  smp-spinners   -smp 2: `cpus: 2 online`; two spinners that never yield
                 are scheduled more cycles together than the wall (the
                 kernel's accounts: both CPUs busy at once); a spinner that
                 runs on the other CPU is ended and restarted 20 times, each
                 stop logged by the kernel, its frames freed once that CPU
                 left its tables, and the kernel goes on (PASS from the
                 judge, no panic).
  smp-one        -smp 1: the boot test on one CPU (`cpus: 1 online`), as
                 before SMP.
  smp-four       -smp 4: four CPUs come up (the kernel's MAX_CPUS) and three
                 pingpong clients against one server all get their replies.

Merged into scripts/qemu.py's TESTS (same entry format: config, input,
seconds, patterns, extra QEMU arguments); COUNTS gives patterns whose
number of lines must lie in a range.
"""

TESTS = {
    "smp-spinners": ("test-smp.cfg", None, 120, [
        r"cpus: 2 online",
        r"smpcheck: over 50 ticks the spinners were scheduled \d+ \+ \d+ Mcycles in a wall of \d+ "
        r"Mcycles \(machine \d+ Mcycles, 2 CPU-walls\): both ran at once: true",
        r"smpcheck: spinB ended while running and restarted 20 times; running after: true",
        r"judge: 1/1 verdicts passed; TEST PASS"], ["-smp", "2"]),
    "smp-one": ("test-boot.cfg", None, 60, [
        r"cpus: 1 online", r"bootcheck: 3/3 services answered", r"TEST PASS"], ["-smp", "1"]),
    "smp-four": ("test-pingpong.cfg", None, 120, [
        r"cpus: 4 online",
        r"pingpong: sent 10000 received 10000 matching replies", r"judge: 3/3 verdicts passed; TEST PASS"],
        ["-smp", "4"]),
}

# name: [(pattern, least, most lines)], checked by scripts/qemu.py after
# the patterns. smpcheck kills spinB 20 times, each after giving the other
# CPU 3 ticks to pick it up (a wake-up IPI, or that CPU's own tick): all
# but a host stall longer than that find it running there (20 of 20 on a
# quiet host), and each such stop has that CPU free the frames once it
# left them (spinA's kill adds one such line if another CPU still had
# spinA's tables loaded then). The floor is a quarter: a loaded CI host
# stalls a vCPU thread for 30 ms more often than a quiet one, and a
# kill that finds spinB not running takes the other path, which the
# `death` test covers.
COUNTS = {
    "smp-spinners": [
        (r"process spinB \(pid 2\) was running on cpu \d: stopped there at its next kernel entry",
         5, 20),
        (r"cpu \d: left an ended process's tables; its \d+ frames freed", 5, 21),
    ],
}
