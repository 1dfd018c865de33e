"""A disk whose writes the crash harness controls: an NBD server in memory.

QEMU attaches it with `-drive driver=nbd,server.type=unix,...,cache=writeback`
and sends the guest's writes and flushes to it as NBD requests. The image is
the durable base plus the list of writes not yet flushed:

- READ answers from the current image (base + every pending write);
- WRITE appends to the pending list (with the FUA flag it is durable at once);
- FLUSH makes every pending write durable, in order.

At a cut (`PowerCut`) the pending writes are dropped, kept, kept in part in
another order, or torn at 512-byte sectors, as a seeded choice; the result
is the durable image the next boot sees. A trigger can freeze the server
after the n-th write or flush request: it stops answering, so the harness
cuts at a point that does not depend on timing.

Protocol: the fixed newstyle handshake, NBD_OPT_EXPORT_NAME and NBD_OPT_GO
(simple replies only: structured replies and everything else answer
NBD_REP_ERR_UNSUP), commands READ, WRITE (+FUA), FLUSH, DISC
(https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md).
Hand-written because the harness may use the Python standard library only.
"""
import os
import socket
import struct
import threading

SECTOR = 512
NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES = 1, 2
OPT_EXPORT_NAME, OPT_ABORT, OPT_GO = 1, 2, 7
REP_ACK, REP_INFO, REP_ERR_UNSUP = 1, 3, (1 << 31) + 1
INFO_EXPORT = 0
TFLAG_HAS_FLAGS, TFLAG_SEND_FLUSH, TFLAG_SEND_FUA = 1, 4, 8
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
CMD_FLAG_FUA = 1
EIO, EINVAL, ENOSPC = 5, 22, 28

CUT_MODES = ("drop", "keep", "prefix", "reorder", "torn")


def _recv(conn, n):
    out = bytearray()
    while len(out) < n:
        b = conn.recv(n - len(out))
        if not b:
            raise EOFError
        out += b
    return bytes(out)


class NbdDisk:
    """An in-memory disk of `size` bytes served on a unix socket."""

    def __init__(self, path, size, image=None, export="crash"):
        self.path, self.size, self.export = path, size, export
        self.durable = bytearray(image) if image is not None else bytearray(size)
        assert len(self.durable) == size
        self.current = bytearray(self.durable)
        self.pending = []  # [(offset, bytes)] not yet flushed, in order
        self.lock = threading.Lock()
        self.counts = {"read": 0, "write": 0, "flush": 0, "fua": 0}
        self.trigger = None  # requests (writes and flushes) left before freezing
        self.trigger_flushes_only = False
        self.faults = []  # injected errors: {"cmd", "once", "start", "end", "hits"}
        self.frozen = threading.Event()
        self.conn_done = threading.Event()
        self.conn_done.set()
        self.error = None
        if os.path.exists(path):
            os.remove(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        threading.Thread(target=self._accept, daemon=True).start()

    # ---- control by the harness ----

    def arm(self, n, flushes_only=False):
        """Freeze the server at the n-th write/flush request from now (n >= 1),
        or at the n-th flush: then every write since the last flush is pending."""
        with self.lock:
            self.trigger = n
            self.trigger_flushes_only = flushes_only

    def inject(self, cmd, once, start=0, end=None):
        """Fail `cmd` requests ("read", "write", "flush") touching bytes
        [start, end) with EIO, once or always, from now on."""
        with self.lock:
            self.faults.append({"cmd": cmd, "once": once, "start": start,
                                "end": self.size if end is None else end, "hits": 0})

    def _fault(self, cmd, off, length):
        name = {CMD_READ: "read", CMD_WRITE: "write", CMD_FLUSH: "flush"}.get(cmd)
        for f in self.faults:
            if f["cmd"] == name and (cmd == CMD_FLUSH or off < f["end"] and off + length > f["start"]):
                f["hits"] += 1
                if f["once"]:
                    self.faults.remove(f)
                return True
        return False

    def disarm(self):
        with self.lock:
            self.trigger = None

    def cut(self, rng, mode):
        """Power cut: decides the fate of the pending writes (mode in
        CUT_MODES), makes the result durable and returns a short description.
        Call after QEMU is dead."""
        self.conn_done.wait(10)
        with self.lock:
            pending = self.pending
            image = self.durable
            kept = 0
            if mode == "keep":
                order = [(o, d) for o, d in pending]
            elif mode == "drop":
                order = []
            elif mode == "prefix":
                # Writes reach the media in order; the one at the cut is torn.
                k = rng.randint(0, len(pending)) if pending else 0
                order = list(pending[:k])
                if k < len(pending):
                    order += self._torn_sectors(rng, *pending[k])
            elif mode == "reorder":
                order = [w for w in pending if rng.random() < 0.5]
                rng.shuffle(order)
            else:  # torn: every sector of every write independently, any order
                order = []
                for w in pending:
                    order += self._torn_sectors(rng, *w)
                rng.shuffle(order)
            for off, data in order:
                image[off:off + len(data)] = data
                kept += len(data)
            self.current = bytearray(image)
            self.pending = []
            self.trigger = None
            self.faults = []
            self.frozen.clear()
            return f"{mode}: {len(pending)} unflushed writes, {kept} bytes kept"

    @staticmethod
    def _torn_sectors(rng, off, data):
        out = []
        for s in range(0, len(data), SECTOR):
            if rng.random() < 0.5:
                out.append((off + s, data[s:s + SECTOR]))
        return out

    def image(self):
        with self.lock:
            return bytes(self.durable)

    def set_image(self, image):
        with self.lock:
            self.durable = bytearray(image)
            self.current = bytearray(image)
            self.pending = []

    def close(self):
        try:
            self.sock.close()
        finally:
            if os.path.exists(self.path):
                os.remove(self.path)

    # ---- the server ----

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conn_done.clear()
            try:
                self._serve(conn)
            except (EOFError, OSError):
                pass
            except Exception as e:  # a protocol surprise: reported by the harness
                self.error = f"nbd server: {e!r}"
            finally:
                conn.close()
                self.conn_done.set()

    def _option_reply(self, conn, opt, rtype, data=b""):
        conn.sendall(struct.pack(">QIII", REPLY_MAGIC, opt, rtype, len(data)) + data)

    def _serve(self, conn):
        conn.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
        (cflags,) = struct.unpack(">I", _recv(conn, 4))
        tflags = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_FUA
        while True:
            magic, opt, length = struct.unpack(">QII", _recv(conn, 16))
            if magic != IHAVEOPT:
                raise ValueError(f"option magic {magic:#x}")
            data = _recv(conn, length)
            if opt == OPT_EXPORT_NAME:
                reply = struct.pack(">QH", self.size, tflags)
                if not cflags & FLAG_NO_ZEROES:
                    reply += bytes(124)
                conn.sendall(reply)
                break
            if opt == OPT_GO:
                info = struct.pack(">HQH", INFO_EXPORT, self.size, tflags)
                self._option_reply(conn, opt, REP_INFO, info)
                self._option_reply(conn, opt, REP_ACK)
                break
            if opt == OPT_ABORT:
                self._option_reply(conn, opt, REP_ACK)
                return
            self._option_reply(conn, opt, REP_ERR_UNSUP)
        self._transmission(conn)

    def _transmission(self, conn):
        while True:
            magic, flags, cmd, handle, off, length = struct.unpack(">IHHQQI", _recv(conn, 28))
            if magic != REQUEST_MAGIC:
                raise ValueError(f"request magic {magic:#x}")
            data = _recv(conn, length) if cmd == CMD_WRITE else b""
            if cmd == CMD_DISC:
                return
            if cmd in (CMD_WRITE, CMD_FLUSH) and self._tick(cmd):
                # Frozen: this request is never answered. A write is in the
                # device's cache (pending); an unanswered flush did nothing.
                if cmd == CMD_WRITE and off + length <= self.size:
                    with self.lock:
                        self.current[off:off + length] = data
                        self.pending.append((off, data))
                self.frozen.set()
                while True:  # until QEMU dies and the socket closes
                    if not conn.recv(65536):
                        return
            err, payload = 0, b""
            with self.lock:
                if self._fault(cmd, off, length):
                    err = EIO
                elif off + length > self.size and cmd in (CMD_READ, CMD_WRITE):
                    err = EINVAL if cmd == CMD_READ else ENOSPC
                elif cmd == CMD_READ:
                    self.counts["read"] += 1
                    payload = bytes(self.current[off:off + length])
                elif cmd == CMD_WRITE:
                    self.counts["write"] += 1
                    self.current[off:off + length] = data
                    if flags & CMD_FLAG_FUA:
                        self.counts["fua"] += 1
                        self._flush_locked()
                        self.durable[off:off + length] = data
                    else:
                        self.pending.append((off, data))
                elif cmd == CMD_FLUSH:
                    self.counts["flush"] += 1
                    self._flush_locked()
                else:
                    err = EINVAL
            conn.sendall(struct.pack(">IIQ", SIMPLE_REPLY_MAGIC, err, handle) + payload)

    def _flush_locked(self):
        for off, data in self.pending:
            self.durable[off:off + len(data)] = data
        self.pending = []

    def _tick(self, cmd):
        with self.lock:
            if self.trigger is None or (self.trigger_flushes_only and cmd != CMD_FLUSH):
                return False
            self.trigger -= 1
            if self.trigger > 0:
                return False
            self.trigger = None
            return True


def self_test():
    """`python3 scripts/nbd_disk.py`: a client in this process speaks the
    protocol to the server and checks what survives each kind of cut."""
    import random
    import tempfile

    def request(c, cmd, off=0, data=b"", length=None, flags=0, handle=[0]):
        handle[0] += 1
        n = len(data) if length is None else length
        c.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd, handle[0], off, n) + data)
        if cmd == CMD_DISC:
            return None
        magic, err, h = struct.unpack(">IIQ", _recv(c, 16))
        assert magic == SIMPLE_REPLY_MAGIC and h == handle[0], (magic, h)
        assert err == 0, err
        return _recv(c, n) if cmd == CMD_READ else b""

    def connect(path):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        nbdmagic, opt, hflags = struct.unpack(">QQH", _recv(c, 18))
        assert (nbdmagic, opt) == (NBDMAGIC, IHAVEOPT) and hflags & FLAG_FIXED_NEWSTYLE
        c.sendall(struct.pack(">I", FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
        name = b"crash"
        c.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 4 + len(name) + 2)
                  + struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        replies = []
        while True:
            magic, opt, rtype, n = struct.unpack(">QIII", _recv(c, 20))
            assert magic == REPLY_MAGIC and opt == OPT_GO
            replies.append((rtype, _recv(c, n)))
            if rtype == REP_ACK:
                break
        info = [d for t, d in replies if t == REP_INFO][0]
        _, size, tflags = struct.unpack(">HQH", info)
        assert tflags & TFLAG_SEND_FLUSH
        return c, size

    with tempfile.TemporaryDirectory() as tmp:
        disk = NbdDisk(os.path.join(tmp, "t.sock"), 1 << 20)
        a, b = b"A" * 4096, b"B" * 4096
        for mode, want in (("drop", {0: a, 1: bytes(4096)}), ("keep", {0: a, 1: b})):
            c, size = connect(disk.path)
            assert size == 1 << 20
            request(c, CMD_WRITE, 0, a)
            request(c, CMD_FLUSH)
            request(c, CMD_WRITE, 4096, b)
            assert request(c, CMD_READ, 4096, length=4096) == b, "a read sees pending writes"
            request(c, CMD_DISC)
            c.close()
            disk.cut(random.Random(1), mode)
            img = disk.image()
            for blk, data in want.items():
                assert img[blk * 4096:(blk + 1) * 4096] == data, (mode, blk)
            disk.set_image(bytes(1 << 20))
        c, _ = connect(disk.path)
        request(c, CMD_WRITE, 0, b"C" * 65536)
        request(c, CMD_DISC)
        c.close()
        disk.cut(random.Random(2), "torn")
        img = disk.image()
        kept = sum(img[s:s + SECTOR] == b"C" * SECTOR for s in range(0, 65536, SECTOR))
        assert 0 < kept < 128, f"torn kept {kept} of 128 sectors"
        assert all(img[s:s + SECTOR] in (b"C" * SECTOR, bytes(SECTOR)) for s in range(0, 65536, SECTOR))
        c, _ = connect(disk.path)
        request(c, CMD_WRITE, 0, b"D" * 512, flags=CMD_FLAG_FUA)
        request(c, CMD_DISC)
        c.close()
        disk.cut(random.Random(3), "drop")
        assert disk.image()[:512] == b"D" * 512, "a FUA write survives a cut"
        disk.close()
    print("nbd_disk self-test: ok (handshake, read of pending writes, drop, keep, torn, FUA)")


if __name__ == "__main__":
    self_test()
