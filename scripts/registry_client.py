"""A small OCI Distribution client for the registry QEMU tests, on the
Python standard library only (http.client and socket), so that every byte
on the wire is what the test says: keep-alive requests through
http.client, and a raw socket for what http.client cannot do (wait for
`100 Continue`, send a lying `Content-Length`, stop mid-body).

`Checks` records each check as `ok`/`FAIL <what>: expected X, got Y` in the
test log, so a failure names what was expected and what came back.
"""
import hashlib
import http.client
import json
import socket

from storage_shell import Failure

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def h(self, name):
        return self.headers.get(name.lower())

    def code(self):
        """The first error code of a spec error body, else None."""
        try:
            return json.loads(self.body)["errors"][0]["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:120]!r}>"


class Http:
    """One keep-alive connection (reopened when the server closes it)."""

    def __init__(self, port, timeout=180):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None, chunked=False):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers or {},
                              encode_chunked=chunked)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        resp = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        if r.will_close:
            self.close()
        return resp

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Raw:
    """A bare socket: the test writes the bytes and reads answers itself."""

    def __init__(self, port, timeout=180):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        b = self.sock.recv(65536)
        if not b:
            raise Failure(f"connection closed by the server; had {self.buf[:200]!r}")
        self.buf += b

    def response(self, head_only=False):
        """Reads one response (a `100 Continue` counts as one)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if head_only or status in (100, 204) else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Resp(status, headers, body)

    def closed_by_peer(self, wait=30):
        """True when the server closes the connection within `wait` s."""
        self.sock.settimeout(wait)
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True  # reset

    def close(self):
        self.sock.close()


def head_bytes(method, path, headers):
    lines = [f"{method} {path} HTTP/1.1", "Host: registry"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data):
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class Checks:
    """Named checks; failures are collected and reported together."""

    def __init__(self, log):
        self.log = log
        self.failed = []
        self.passed = 0

    def eq(self, what, expected, got):
        if expected == got:
            self.passed += 1
            self.log.append(f"ok   {what}: {got!r}")
            return True
        msg = f"{what}: expected {expected!r}, got {got!r}"
        self.failed.append(msg)
        self.log.append(f"FAIL {msg}")
        return False

    def true(self, what, cond, got):
        """A check that is not an equality: `got` says what was seen."""
        if self.eq(what, True, bool(cond)):
            return True
        self.log.append(f"     (saw {got!r})")
        return False

    def answer(self, what, resp, status, code=None):
        """Status (and the spec error code when `code` is given)."""
        if code is None:
            return self.eq(f"{what}: status", status, resp.status) or self.note(resp)
        return self.eq(f"{what}: status, error code", (status, code),
                       (resp.status, resp.code())) or self.note(resp)

    def note(self, resp):
        self.log.append(f"     (answer {resp!r})")
        return False

    def done(self, what):
        self.log.append(f"{what}: {self.passed} checks passed, {len(self.failed)} failed")
        if self.failed:
            raise Failure(f"{len(self.failed)} checks failed; first: " + "; ".join(self.failed[:5]))


# ---- pushing content ----

def push_blob(c, repo, data):
    """Monolithic upload; returns the digest (raises unless 201)."""
    d = digest_of(data)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", body=data,
                  headers={"Content-Type": "application/octet-stream"})
    if r.status != 201:
        raise Failure(f"monolithic push of {d} to {repo}: {r!r}")
    return d


def push_session(c, repo, data, piece=1 << 20):
    """POST, PATCHes of `piece` bytes, PUT ?digest=; returns the digest."""
    d = digest_of(data)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    if r.status != 202:
        raise Failure(f"session start in {repo}: {r!r}")
    loc = r.h("Location")
    for i in range(0, len(data), piece):
        part = data[i:i + piece]
        r = c.request("PATCH", loc, body=part, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{i}-{i + len(part) - 1}"})
        if r.status != 202:
            raise Failure(f"PATCH at {i} in {repo}: {r!r}")
        loc = r.h("Location")
    r = c.request("PUT", f"{loc}?digest={d}")
    if r.status != 201:
        raise Failure(f"PUT ?digest={d} in {repo}: {r!r}")
    return d


def descriptor(media_type, data, **extra):
    return dict(mediaType=media_type, digest=digest_of(data), size=len(data), **extra)


def image_manifest(config, layers, media_type=OCI_MANIFEST, config_type=OCI_CONFIG,
                   layer_type=OCI_LAYER, **extra):
    """Manifest bytes for config/layer byte strings (canonical JSON)."""
    m = dict(schemaVersion=2, mediaType=media_type,
             config=descriptor(config_type, config),
             layers=[descriptor(layer_type, l) for l in layers], **extra)
    return json.dumps(m, separators=(",", ":"), sort_keys=True).encode()


def index_manifest(children):
    """Index bytes for [(media type, manifest bytes)]."""
    m = dict(schemaVersion=2, mediaType=OCI_INDEX,
             manifests=[descriptor(t, b, platform={"os": "linux", "architecture": a})
                        for (t, b), a in zip(children, ["amd64", "arm64", "s390x", "ppc64le"])])
    return json.dumps(m, separators=(",", ":"), sort_keys=True).encode()
