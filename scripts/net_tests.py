"""QEMU tests and benchmark of the network path (virtio-net driver, network
service, echo server), driven from the host through QEMU's user network.

QEMU gets `-netdev user` with a free host port forwarded to guest port 5000
and a virtio-net-pci device at 00:05.0 (where the boot configurations'
`mmio=` grants expect it). The guest's `netecho` echoes every connection;
the host sends pseudo-random bytes and checks the echo byte for byte. Used
by scripts/qemu.py (`test` with the names in TESTS, `bench`).
"""
import random
import re
import socket
import subprocess
import threading
import time

GUEST_PORT = 5000
# The netecho server of test-net.cfg powers off (PASS) after 6 connections:
# one of 4 MiB, four at once, and an empty one that ends the test once every
# echo was checked (powering off earlier could cut echoes still in flight).
SINGLE_BYTES = 4 << 20
PARALLEL = 4
PARALLEL_BYTES = 1 << 20
BENCH_BYTES = 16 << 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def net_args(host_port, guest_port=GUEST_PORT):
    """The virtio-net device at 00:05.0 on user networking, host_port forwarded."""
    return ["-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{host_port}-:{guest_port}",
            "-device", "virtio-net-pci,netdev=n0,addr=5"]


class Failure(Exception):
    pass


class Guest:
    """QEMU with its serial output collected in the background."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            with self.lock:
                self.buf += chunk

    def output(self):
        with self.lock:
            return self.buf.decode(errors="replace")

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.output()):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise Failure(f"no /{pattern}/ within {timeout} s")

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)


def echo(port, data, chunk=64 * 1024, timeout=120):
    """Sends `data` on a new connection while reading the echo; returns
    (echoed bytes, seconds). The sender closes its half when done."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = bytearray()
    errors = []

    def send():
        try:
            view = memoryview(data)
            for i in range(0, len(data), chunk):
                s.sendall(view[i:i + chunk])
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            errors.append(e)

    t0 = time.time()
    sender = threading.Thread(target=send)
    sender.start()
    try:
        while True:
            b = s.recv(256 * 1024)
            if not b:
                break
            got += b
    except OSError as e:
        errors.append(e)
    sender.join()
    secs = time.time() - t0
    s.close()
    if errors:
        raise Failure(f"connection error after {len(got)} of {len(data)} bytes echoed: {errors[0]}")
    return bytes(got), secs


def check_echo(data, got, what):
    if got == data:
        return
    if len(got) != len(data):
        raise Failure(f"{what}: {len(got)} bytes echoed, sent {len(data)}")
    first = next(i for i in range(len(data)) if got[i] != data[i])
    raise Failure(f"{what}: echo differs from byte {first}")


def t_net(guest, port, log):
    guest.wait_for(r"netecho: listening on port 5000", 60)
    data = random.Random(11).randbytes(SINGLE_BYTES)
    got, secs = echo(port, data)
    check_echo(data, got, "single connection")
    log.append(f"net: {len(data)} bytes echoed byte for byte in {secs:.2f} s "
               f"({len(data) / secs / 1e6:.1f} MB/s each way)")
    blobs = [random.Random(100 + i).randbytes(PARALLEL_BYTES) for i in range(PARALLEL)]
    results = [None] * PARALLEL

    def one(i):
        try:
            results[i] = echo(port, blobs[i])
        except Failure as e:
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(PARALLEL)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(results):
        if isinstance(r, Failure):
            raise Failure(f"parallel connection {i}: {r}")
        check_echo(blobs[i], r[0], f"parallel connection {i}")
    log.append(f"net: {PARALLEL} connections at once echoed {PARALLEL_BYTES} bytes each "
               f"byte for byte in {time.time() - t0:.2f} s")
    got, _ = echo(port, b"")
    check_echo(b"", got, "the closing connection")
    status = guest.wait_exit(60)
    if status != 33:
        raise Failure(f"QEMU exit status {status}, want 33 (netecho's PASS)")
    # The driver tells the device of new buffers once per wake-up, not once
    # per frame (services/virtio-net/server/src/transport.rs): far fewer
    # queue notifications (MMIO writes) than frames.
    m = re.search(r"netecho: driver: (\d+) frames received, (\d+) sent, \d+ interrupts, "
                  r"(\d+) queue notifications", guest.output())
    if m:
        frames, notifies = int(m.group(1)) + int(m.group(2)), int(m.group(3))
        log.append(f"net: {frames} frames, {notifies} queue notifications")
        if notifies * 8 > frames:
            raise Failure(f"{notifies} queue notifications for {frames} frames: "
                          "more than one per 8 frames")


def t_net_driver_dies(guest, port, log):
    """The driver panics after 300 frames sent (its boot argument) while a
    transfer runs: the service must report it and answer the waiting
    client, which powers off with PASS when told the network is down."""
    guest.wait_for(r"netecho: listening on port 5000", 60)
    data = random.Random(7).randbytes(SINGLE_BYTES)
    try:
        echo(port, data, timeout=20)
    except (Failure, OSError):
        pass  # the connection stalls or ends when the guest stops: expected
    status = guest.wait_exit(60)
    if status != 33:
        raise Failure(f"QEMU exit status {status}, want 33 (netecho's PASS)")


# name: (function, config, time limit in seconds, patterns in the serial output)
TESTS = {
    "net": (t_net, "test-net.cfg", 240, [
        r"virtio-net: device at 00:05.0, irq \d+, BAR 4 at 0x[0-9a-f]+",
        r"virtio-net: ready, MAC 52:54:00:12:34:56, 64 receive and 64 transmit buffers",
        r"net: 10\.0\.2\.15/24 gateway 10\.0\.2\.2, MAC 52:54:00:12:34:56, "
        r"TCP buffers 128 KiB receive / 128 KiB send per connection",
        r"netecho: connection closed after 4194304 bytes echoed \(1 served\)",
        r"(netecho: connection closed after 1048576 bytes echoed[^\n]*\n[\s\S]*){4}",
        # Several buffers in flight both ways.
        r"netecho: driver: \d+ frames received, \d+ sent, \d+ interrupts, \d+ queue notifications, "
        r"at most ([2-9]|\d\d+) transmit buffers on the device at once",
        r"netcheck: all checks passed",
        r"netecho: served 6 connections; TEST PASS"]),
    "net-driver-dies": (t_net_driver_dies, "test-net-driver-dies.cfg", 120, [
        r"virtio-net: panic at .*fault injection: dying after 300 frames sent",
        r"process virtio-net \(pid 0\) ended",
        r"net: the virtio-net driver died \((send|receive|liveness check): PeerDead\); network down",
        r"netecho: the network is down \(network down \(status 9\)\); TEST PASS"]),
}


def run_test(name, qemu_cmd):
    """Runs network test `name`; `qemu_cmd(config, extra)` builds the QEMU
    command line. Returns (problems, log text)."""
    func, config, limit, patterns = TESTS[name]
    port = free_port()
    guest = Guest(qemu_cmd(config, net_args(port)))
    log = []
    problems = []
    timer = threading.Timer(limit, guest.kill)
    timer.start()
    try:
        func(guest, port, log)
    except Failure as e:
        problems.append(str(e))
    finally:
        timer.cancel()
        guest.kill()
    out = guest.output()
    if "KERNEL PANIC" in out:
        problems.append("kernel panic")
    for pat in patterns:
        if not re.search(pat, out):
            problems.append(f"missing /{pat}/")
    return problems, "\n".join(log) + "\n--- serial ---\n" + out


def bench(qemu_cmd):
    """`net_tcp_MBps`: 16 MiB through one connection to the echo server and
    back (raw TCP through the driver and the network service, no storage),
    counted once: bytes sent / seconds until the last echoed byte. Returns
    (lines, log text)."""
    port = free_port()
    guest = Guest(qemu_cmd("bench-net.cfg", net_args(port)))
    lines = []
    timer = threading.Timer(300, guest.kill)
    timer.start()
    try:
        guest.wait_for(r"netecho: listening on port 5000", 60)
        data = random.Random(5).randbytes(BENCH_BYTES)
        got, secs = echo(port, data, chunk=256 * 1024)
        check_echo(data, got, "bench connection")
        lines.append(f"net_tcp_MBps: {round(len(data) / secs / 1e6)} MB/s")
        echo(port, b"")
        guest.wait_exit(60)
        # Where the network service's cycles went (netecho asks it at the end).
        m = re.search(r"net service cycles: stack (\d+) permille, driver calls (\d+), "
                      r"client calls (\d+), asleep (\d+)", guest.output())
        if m:
            for name, v in zip(("stack", "driver", "calls", "asleep"), m.groups()):
                lines.append(f"net_tcp_{name}_permille: {v} permille")
    except Failure as e:
        lines = []
        print(f"qemu-bench: bench-net.cfg failed: {e}")
    finally:
        timer.cancel()
        guest.kill()
    return lines, guest.output()
