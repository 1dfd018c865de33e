"""The `registry-protocol` QEMU test: every endpoint of the OCI Distribution
API the registry service serves, and its error cases, spoken byte by byte
from the host (Python standard library only) to the real system: virtio-net,
the network service, the registry HTTP service, the fs service, the disk.

Each scenario is a function taking (port, checks); every check names what
it expected and what it got (scripts/registry_client.py `Checks`), and the
test fails if any check failed. Used by scripts/registry_tests.py.
"""
import http.client
import re
import socket
import threading
import time

import registry_manifests
from registry_client import (OCI_MANIFEST, Checks, Http, Raw, chunk, digest_of, head_bytes,
                             image_manifest, push_blob, push_session)
from storage_shell import Failure, data_of

# The fs service makes upload bytes durable a piece at a time (fs_api::PIECE).
PIECE = 1 << 20
MISSING = digest_of(b"never pushed")


def s_base(port, ck):
    c = Http(port)
    r = c.request("GET", "/v2/")
    ck.answer("GET /v2/", r, 200)
    ck.eq("GET /v2/: API version header", "registry/2.0", r.h("Docker-Distribution-API-Version"))
    ck.answer("HEAD /v2/", c.request("HEAD", "/v2/"), 200)
    ck.answer("GET /v3/", c.request("GET", "/v3/"), 404, "UNSUPPORTED")
    ck.answer("POST /v2/", c.request("POST", "/v2/", body=b""), 405, "UNSUPPORTED")
    # A client that half-closes after its request still gets the answer.
    raw = Raw(port)
    raw.send(head_bytes("GET", "/v2/", {"Connection": "close"}))
    raw.sock.shutdown(socket.SHUT_WR)
    ck.answer("GET /v2/ from a client that half-closed", raw.response(), 200)
    raw.close()
    # Two pipelined requests in one write: two answers, in order.
    raw = Raw(port)
    raw.send(head_bytes("GET", "/v2/", {}) + head_bytes("GET", f"/v2/proto/x/blobs/{MISSING}", {}))
    ck.eq("pipelined requests: statuses in order", (200, 404),
          (raw.response().status, raw.response().status))
    raw.close()


def s_blobs(port, ck):
    """Monolithic push, HEAD/GET, ranges, unknown blobs, DELETE."""
    c = Http(port)
    repo = "proto/blobs"
    data = data_of("blob-a", 100_000)
    d = digest_of(data)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", body=data)
    ck.answer("monolithic POST ?digest=", r, 201)
    ck.eq("monolithic POST: Location", f"/v2/{repo}/blobs/{d}", r.h("Location"))
    ck.eq("monolithic POST: Docker-Content-Digest", d, r.h("Docker-Content-Digest"))
    bad = data_of("blob-bad", 5000)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest_of(b'other')}", body=bad)
    ck.answer("monolithic POST with the wrong digest", r, 400, "DIGEST_INVALID")
    ck.answer("HEAD of the refused blob's real digest",
              c.request("HEAD", f"/v2/{repo}/blobs/{digest_of(bad)}"), 404)
    r = c.request("HEAD", f"/v2/{repo}/blobs/{d}")
    ck.answer("blob HEAD", r, 200)
    ck.eq("blob HEAD: Content-Length", str(len(data)), r.h("Content-Length"))
    ck.eq("blob HEAD: Docker-Content-Digest", d, r.h("Docker-Content-Digest"))
    ck.eq("blob HEAD: no body", b"", r.body)
    r = c.request("GET", f"/v2/{repo}/blobs/{d}")
    ck.answer("blob GET", r, 200)
    ck.eq("blob GET: body digest", d, digest_of(r.body))
    r = c.request("GET", f"/v2/{repo}/blobs/{d}", headers={"Range": "bytes=1000-1999"})
    ck.answer("blob GET Range 1000-1999", r, 206)
    ck.eq("Range 1000-1999: Content-Range", f"bytes 1000-1999/{len(data)}", r.h("Content-Range"))
    ck.eq("Range 1000-1999: bytes", data[1000:2000], r.body)
    r = c.request("GET", f"/v2/{repo}/blobs/{d}", headers={"Range": "bytes=99990-"})
    ck.answer("blob GET Range 99990-", r, 206)
    ck.eq("Range 99990-: bytes", data[99990:], r.body)
    r = c.request("GET", f"/v2/{repo}/blobs/{d}", headers={"Range": "bytes=-7"})
    ck.eq("Range -7 (suffix): status, bytes", (206, data[-7:]), (r.status, r.body))
    r = c.request("GET", f"/v2/{repo}/blobs/{d}", headers={"Range": f"bytes={len(data)}-"})
    ck.answer("blob GET Range past the end", r, 416)
    ck.eq("Range past the end: Content-Range", f"bytes */{len(data)}", r.h("Content-Range"))
    ck.answer("GET of an unknown blob", c.request("GET", f"/v2/{repo}/blobs/{MISSING}"),
              404, "BLOB_UNKNOWN")
    ck.answer("HEAD of an unknown blob", c.request("HEAD", f"/v2/{repo}/blobs/{MISSING}"), 404)
    ck.answer("GET of the blob from a repository it is not in",
              c.request("GET", f"/v2/proto/elsewhere/blobs/{d}"), 404, "BLOB_UNKNOWN")
    gone = push_blob(c, repo, data_of("blob-del", 3000))
    r = c.request("DELETE", f"/v2/{repo}/blobs/{gone}")
    ck.answer("blob DELETE", r, 202)
    ck.eq("blob DELETE: Docker-Content-Digest", gone, r.h("Docker-Content-Digest"))
    ck.answer("HEAD after DELETE", c.request("HEAD", f"/v2/{repo}/blobs/{gone}"), 404)
    ck.answer("DELETE again", c.request("DELETE", f"/v2/{repo}/blobs/{gone}"), 404, "BLOB_UNKNOWN")
    ck.answer("the other blob still GETs",
              c.request("HEAD", f"/v2/{repo}/blobs/{d}"), 200)


def s_session(port, ck):
    """POST → PATCH (with and without Content-Range) → status → PUT."""
    c = Http(port)
    repo = "proto/session"
    data = data_of("session", 300_000)
    d = digest_of(data)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    ck.answer("session POST", r, 202)
    loc, uuid = r.h("Location"), r.h("Docker-Upload-UUID")
    ck.true("session POST: Location names the upload",
            loc and uuid and loc.startswith(f"/v2/{repo}/blobs/uploads/") and uuid in loc, (loc, uuid))
    ck.eq("session POST: Range", "0-0", r.h("Range"))
    r = c.request("PATCH", loc, body=data[:100_000])
    ck.answer("PATCH without Content-Range", r, 202)
    ck.eq("PATCH without Content-Range: Range", "0-99999", r.h("Range"))
    ck.eq("PATCH: Docker-Upload-UUID", uuid, r.h("Docker-Upload-UUID"))
    loc = r.h("Location") or loc
    r = c.request("PATCH", loc, body=data[100_000:200_000],
                  headers={"Content-Range": "100000-199999"})
    ck.answer("PATCH with Content-Range 100000-199999", r, 202)
    ck.eq("PATCH with Content-Range: Range", "0-199999", r.h("Range"))
    r = c.request("GET", loc)
    ck.answer("session status GET", r, 204)
    ck.eq("session status: Range", "0-199999", r.h("Range"))
    r = c.request("PATCH", loc, body=data[150_000:160_000],
                  headers={"Content-Range": "150000-159999"})
    ck.answer("PATCH at a wrong offset", r, 416, "BLOB_UPLOAD_INVALID")
    ck.eq("wrong-offset PATCH: Range still", "0-199999", r.h("Range"))
    r = c.request("PATCH", loc, body=data[200_000:210_000],
                  headers={"Content-Range": "200000-200009"})
    ck.answer("PATCH whose Content-Length differs from Content-Range", r, 400, "SIZE_INVALID")
    ck.eq("status after the refused PATCHes", "0-199999", c.request("GET", loc).h("Range"))
    r = c.request("PUT", f"{loc}?digest={d}", body=data[200_000:])
    ck.answer("PUT ?digest= with the final body", r, 201)
    ck.eq("PUT: Docker-Content-Digest", d, r.h("Docker-Content-Digest"))
    ck.eq("PUT: Location", f"/v2/{repo}/blobs/{d}", r.h("Location"))
    r = c.request("GET", f"/v2/{repo}/blobs/{d}")
    ck.eq("session blob GETs back", (200, d), (r.status, digest_of(r.body)))
    ck.answer("status of the finished session", c.request("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
    # PUT without a final body.
    data2 = data_of("session2", 50_000)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.h("Location")
    r = c.request("PATCH", loc, body=data2)
    ck.answer("PATCH of the whole blob", r, 202)
    r = c.request("PUT", f"{loc}?digest={digest_of(data2)}")
    ck.answer("PUT ?digest= without a body", r, 201)
    ck.answer("that blob HEADs", c.request("HEAD", f"/v2/{repo}/blobs/{digest_of(data2)}"), 200)
    # A PUT with the wrong digest drops the session.
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.h("Location")
    c.request("PATCH", loc, body=data_of("session3", 1000))
    r = c.request("PUT", f"{loc}?digest={MISSING}")
    ck.answer("PUT with the wrong digest", r, 400, "DIGEST_INVALID")
    ck.answer("the session after a wrong digest", c.request("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.h("Location")
    ck.answer("PUT without ?digest=", c.request("PUT", loc), 400, "DIGEST_INVALID")
    # Cancel.
    c.request("PATCH", loc, body=b"x" * 5000)
    ck.answer("session DELETE (cancel)", c.request("DELETE", loc), 204)
    ck.answer("status of the cancelled session", c.request("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
    ck.answer("PATCH to the cancelled session",
              c.request("PATCH", loc, body=b"y" * 10), 404, "BLOB_UPLOAD_UNKNOWN")
    ck.answer("DELETE of the cancelled session", c.request("DELETE", loc), 404, "BLOB_UPLOAD_UNKNOWN")
    ck.answer("status of an unknown upload id",
              c.request("GET", f"/v2/{repo}/blobs/uploads/00000000deadbeef"), 404,
              "BLOB_UPLOAD_UNKNOWN")
    ck.answer("status of a malformed upload id",
              c.request("GET", f"/v2/{repo}/blobs/uploads/no%20such"), 404, "BLOB_UPLOAD_UNKNOWN")


def s_chunked_and_continue(port, ck):
    """Transfer-Encoding: chunked PATCH; Expect: 100-continue."""
    c = Http(port)
    repo = "proto/chunked"
    data = data_of("chunked", 2 * PIECE + 12345)
    loc = c.request("POST", f"/v2/{repo}/blobs/uploads/").h("Location")
    pieces = (data[i:i + 50_000] for i in range(0, len(data), 50_000))
    r = c.request("PATCH", loc, body=pieces, chunked=True)
    ck.answer("chunked PATCH", r, 202)
    ck.eq("chunked PATCH: Range", f"0-{len(data) - 1}", r.h("Range"))
    r = c.request("PUT", f"{r.h('Location')}?digest={digest_of(data)}")
    ck.answer("PUT after the chunked PATCH", r, 201)
    r = c.request("GET", f"/v2/{repo}/blobs/{digest_of(data)}")
    ck.eq("chunked blob GETs back", digest_of(data), digest_of(r.body))
    # Expect: 100-continue on a PATCH and on a monolithic POST.
    body = data_of("continue", 70_000)
    raw = Raw(port)
    raw.send(head_bytes("POST", f"/v2/{repo}/blobs/uploads/", {"Content-Length": "0"}))
    loc = raw.response().h("Location")
    raw.send(head_bytes("PATCH", loc, {"Content-Length": str(len(body)),
                                        "Expect": "100-continue"}))
    r = raw.response()
    ck.eq("PATCH with Expect: 100-continue: first answer", 100, r.status)
    raw.send(body)
    r = raw.response()
    ck.answer("PATCH after 100 Continue", r, 202)
    ck.eq("PATCH after 100 Continue: Range", f"0-{len(body) - 1}", r.h("Range"))
    raw.send(head_bytes("PUT", f"{loc}?digest={digest_of(body)}", {"Content-Length": "0"}))
    ck.answer("PUT on the same connection", raw.response(), 201)
    body2 = data_of("continue2", 30_000)
    raw.send(head_bytes("POST", f"/v2/{repo}/blobs/uploads/?digest={digest_of(body2)}",
                        {"Content-Length": str(len(body2)), "Expect": "100-continue"}))
    ck.eq("monolithic POST with Expect: first answer", 100, raw.response().status)
    raw.send(body2)
    ck.answer("monolithic POST after 100 Continue", raw.response(), 201)
    # Refused before the body: no 100, the error, and the body is never read.
    raw.send(head_bytes("PATCH", f"/v2/{repo}/blobs/uploads/00000000deadbeef",
                        {"Content-Length": str(1 << 20), "Expect": "100-continue"}))
    r = raw.response()
    ck.answer("PATCH to an unknown session with Expect: no 100, the error", r, 404,
              "BLOB_UPLOAD_UNKNOWN")
    raw.close()


def s_killed_and_resumed(port, ck):
    """A chunked PATCH stopped mid-body (socket closed), resumed from the
    status offset on a new connection."""
    repo = "proto/resume"
    data = data_of("resume", 5 * PIECE)
    sent = 3 * PIECE + 100_000
    c = Http(port)
    loc = c.request("POST", f"/v2/{repo}/blobs/uploads/").h("Location")
    raw = Raw(port)
    raw.send(head_bytes("PATCH", loc, {"Transfer-Encoding": "chunked"}))
    for i in range(0, sent, 64 * 1024):
        raw.send(chunk(data[i:min(i + 64 * 1024, sent)]))
    raw.close()  # no last chunk: the body stops mid-way
    # The service sees the close after it took what was sent: wait until
    # the status stops moving.
    offset, last, deadline = None, -1, time.time() + 120
    while time.time() < deadline:
        r = c.request("GET", loc)
        if r.status != 204:
            break
        offset = int(r.h("Range").split("-")[1]) + 1
        if offset == last:
            break
        last = offset
        time.sleep(2)
    ck.answer("status after the killed PATCH", r, 204)
    ck.true(f"offset after the kill within one piece of the {sent} bytes sent",
            offset is not None and sent - PIECE < offset <= sent, offset)
    if offset is None:
        return
    r = c.request("PATCH", loc, body=data[offset:4 * PIECE],
                  headers={"Content-Range": f"{offset}-{4 * PIECE - 1}"})
    ck.answer("resumed PATCH from the status offset", r, 202)
    r = c.request("PUT", f"{loc}?digest={digest_of(data)}", body=data[4 * PIECE:])
    ck.answer("PUT finishing the resumed upload", r, 201)
    r = c.request("GET", f"/v2/{repo}/blobs/{digest_of(data)}")
    ck.eq("resumed blob GETs back with its digest", digest_of(data), digest_of(r.body))


def s_mount(port, ck):
    c = Http(port)
    data = data_of("mount", 200_000)
    d = push_blob(c, "proto/mount-src", data)
    r = c.request("POST", f"/v2/proto/mount-dst/blobs/uploads/?mount={d}&from=proto/mount-src")
    ck.answer("cross-repository mount", r, 201)
    ck.eq("mount: Location", f"/v2/proto/mount-dst/blobs/{d}", r.h("Location"))
    ck.eq("mount: Docker-Content-Digest", d, r.h("Docker-Content-Digest"))
    r = c.request("GET", f"/v2/proto/mount-dst/blobs/{d}")
    ck.eq("mounted blob GETs from the new repository", (200, d), (r.status, digest_of(r.body)))
    r = c.request("POST", f"/v2/proto/mount-dst2/blobs/uploads/?mount={d}&from=proto/lacks-it")
    ck.answer("mount from a repository that lacks the blob: an upload session", r, 202)
    ck.true("that answer has a Location and Docker-Upload-UUID",
            r.h("Location") and r.h("Docker-Upload-UUID"), r.headers)
    if r.h("Location"):
        ck.answer("cancel that session", c.request("DELETE", r.h("Location")), 204)
    ck.answer("the blob is not in that repository",
              c.request("HEAD", f"/v2/proto/mount-dst2/blobs/{d}"), 404)


def s_bad_input(port, ck):
    """Bad names, bad digests, huge or lying lengths."""
    c = Http(port)
    d = digest_of(b"x")
    for path, what in (("/v2/proto/UPPER/tags/list", "uppercase name"),
                       ("/v2/proto/../etc/tags/list", "name with .."),
                       ("/v2/proto//x/tags/list", "name with an empty component"),
                       ("/v2/-proto/blobs/uploads/", "name starting with a separator")):
        method = "POST" if path.endswith("uploads/") else "GET"
        ck.answer(f"{what} ({method} {path})", c.request(method, path, body=b"" if method == "POST" else None),
                  400, "NAME_INVALID")
    for dig, what in (("sha256:xyz", "short hex"), ("md5:" + "0" * 32, "unsupported algorithm"),
                      ("sha256:" + "A" * 64, "uppercase hex"), ("nodigest", "no algorithm")):
        ck.answer(f"blob GET with a bad digest ({what})",
                  c.request("GET", f"/v2/proto/bad/blobs/{dig}"), 400, "DIGEST_INVALID")
    ck.answer("monolithic POST with a bad digest",
              c.request("POST", "/v2/proto/bad/blobs/uploads/?digest=sha256:zz", body=b"abc"),
              400, "DIGEST_INVALID")
    ck.answer("manifest PUT under an invalid tag",
              c.request("PUT", "/v2/proto/bad/manifests/-tag", body=b"{}",
                        headers={"Content-Type": OCI_MANIFEST}), 400, "MANIFEST_INVALID")
    # A Content-Length beyond the blob limit: 413 before a byte is read.
    raw = Raw(port)
    raw.send(head_bytes("POST", f"/v2/proto/bad/blobs/uploads/?digest={d}",
                        {"Content-Length": str(1 << 50)}))
    ck.answer("monolithic POST with Content-Length 2^50", raw.response(), 413, "SIZE_INVALID")
    ck.eq("the connection is closed after it", True, raw.closed_by_peer())
    raw.close()
    raw = Raw(port)
    raw.send(head_bytes("PATCH", "/v2/proto/bad/blobs/uploads/00000000deadbeef",
                        {"Content-Length": "99999999999999999999999"}))
    ck.eq("Content-Length overflowing u64: status", 400, raw.response().status)
    ck.eq("the connection is closed after it", True, raw.closed_by_peer())
    raw.close()
    raw = Raw(port)
    raw.send(head_bytes("POST", "/v2/proto/bad/blobs/uploads/",
                        {"Content-Length": "5", "Transfer-Encoding": "chunked"}))
    ck.eq("Content-Length and chunked at once: status", 400, raw.response().status)
    raw.close()
    raw = Raw(port)
    raw.send(b"GET /v2/ HTTP/1.1\r\nHost: r\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
    ck.eq("a 20 KB request head: status", 431, raw.response().status)
    raw.close()
    # A lying Content-Length: the body stops short and the connection
    # closes; nothing is stored.
    data = data_of("lying", 300_000)
    ld = digest_of(data)
    raw = Raw(port)
    raw.send(head_bytes("POST", f"/v2/proto/bad/blobs/uploads/?digest={ld}",
                        {"Content-Length": str(len(data))}))
    raw.send(data[:150_000])
    raw.close()
    time.sleep(2)
    ck.answer("blob of the monolithic POST cut short", c.request("HEAD", f"/v2/proto/bad/blobs/{ld}"), 404)
    ck.answer("the registry still answers", c.request("GET", "/v2/"), 200)


def s_concurrent(port, ck):
    """Four connections push at once; each blob and manifest GETs back."""
    results = [None] * 4

    def push(i):
        try:
            c = Http(port)
            repo = f"proto/conc{i}"
            data = data_of(f"conc{i}", 2 * PIECE + 1000 * i)
            d = push_session(c, repo, data, piece=PIECE // 2)
            cfg = f'{{"conc":{i}}}'.encode()
            push_blob(c, repo, cfg)
            m = image_manifest(cfg, [data])
            r = c.request("PUT", f"/v2/{repo}/manifests/latest", body=m,
                          headers={"Content-Type": OCI_MANIFEST})
            results[i] = (d, digest_of(m), r.status)
        except Exception as e:  # reported as this client's result
            results[i] = ("error", repr(e), None)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    c = Http(port)
    for i, res in enumerate(results):
        ck.true(f"client {i}: pushed (session blob, manifest 201)",
                res is not None and res[0] != "error" and res[2] == 201, res)
        if res is None or res[0] == "error":
            continue
        d, md, _ = res
        r = c.request("GET", f"/v2/proto/conc{i}/blobs/{d}")
        ck.eq(f"client {i}: blob GETs back", (200, d), (r.status, digest_of(r.body)))
        r = c.request("GET", f"/v2/proto/conc{i}/manifests/latest")
        ck.eq(f"client {i}: manifest GETs back", (200, md), (r.status, digest_of(r.body)))


SCENARIOS = [s_base, s_blobs, s_session, s_chunked_and_continue, s_killed_and_resumed,
             s_mount, registry_manifests.s_manifests, registry_manifests.s_referrers,
             s_bad_input, s_concurrent, registry_manifests.s_listing]


def uploads_listed(shell, port, ck):
    """An open session shows in the shell's `uploads` (one repository's and
    every repository's) with its bytes; `uploads rm` removes it, after which
    the registry no longer knows it."""
    repo = "proto/session"
    c = Http(port)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc, uuid = r.h("Location"), r.h("Docker-Upload-UUID")
    ck.answer("PATCH of a session left open", c.request("PATCH", loc, body=b"u" * 1234), 202)
    out = shell.cmd(f"uploads {repo}")
    ck.true("`uploads <repo>` lists the open session with its bytes",
            re.search(rf"(?m)^{uuid} 1234 bytes, idle \d+ s$", out), out.strip()[-300:])
    out = shell.cmd("uploads")
    ck.true("`uploads` lists it under its repository",
            re.search(rf"(?m)^{re.escape(repo)} {uuid} 1234 bytes", out), out.strip()[-300:])
    out = shell.cmd(f"uploads rm {repo} {uuid}")
    ck.true("`uploads rm` removes it", re.search(r"(?m)^ok$", out), out.strip()[-200:])
    out = shell.cmd(f"uploads {repo}")
    ck.true("the removed session is no longer listed", uuid not in out, out.strip()[-300:])
    out = shell.cmd("uploads")
    listed = len(re.findall(r"(?m)^\S+ [0-9a-f]{16} \d+ bytes", out))
    ck.true("`uploads` ends with a count line matching the sessions listed (also when none)",
            re.search(rf"(?m)^{listed} open upload sessions$", out), out.strip()[-300:])
    ck.answer("status of the session the shell removed", c.request("GET", loc), 404,
              "BLOB_UPLOAD_UNKNOWN")
    out = shell.cmd(f"uploads rm {repo} {uuid}")
    ck.true("`uploads rm` of a removed session is an error", "ok" not in out.split(), out.strip()[-200:])
    out = shell.cmd(f"uploads rm {repo} xyz")
    ck.true("`uploads rm` of a malformed id is an error", "16 hexadecimal" in out, out.strip()[-200:])


def quota_refused(shell, port, ck):
    """A repository with a quota (set from the shell): a push over it is
    refused DENIED 403 with the limit named, before anything is stored; an
    open session keeps what it held; a push within it passes."""
    repo = "proto/quota"
    c = Http(port)
    out = shell.cmd(f"quota set repo {repo} 100K")
    ck.true("`quota set repo` from the shell", re.search(r"(?m)^ok$", out), out.strip()[-200:])
    big = data_of("quota-big", 150_000)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest_of(big)}", body=big)
    ck.answer("monolithic push over the quota", r, 403, "DENIED")
    ck.true("the refusal names the repository and its limit",
            re.search(rb"quota exceeded: repository proto/quota would store [\d.]+ KiB of its "
                      rb"100\.0 KiB limit", r.body), r.body[:300])
    ck.answer("the refused blob is not stored",
              c.request("HEAD", f"/v2/{repo}/blobs/{digest_of(big)}"), 404)
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    loc = r.h("Location")
    ck.answer("PATCH within the quota", c.request("PATCH", loc, body=b"q" * 60_000), 202)
    r = c.request("PATCH", loc, body=b"q" * 60_000)
    ck.answer("PATCH past the quota", r, 403, "DENIED")
    r = c.request("GET", loc)
    ck.eq("the session keeps what it held", "0-59999", r.h("Range"))
    ck.answer("cancel that session", c.request("DELETE", loc), 204)
    small = data_of("quota-small", 50_000)
    push_blob(c, repo, small)
    ck.answer("a push within the quota", c.request("HEAD", f"/v2/{repo}/blobs/{digest_of(small)}"),
              200)
    out = shell.cmd("quota")
    ck.true("`quota` lists the repository's usage",
            re.search(r"repository proto/quota: .* 50000 of 102400 bytes", out), out.strip()[-300:])
    out = shell.cmd(f"quota rm repo {repo}")
    ck.true("`quota rm repo`", re.search(r"(?m)^ok$", out), out.strip()[-200:])


def t_protocol(shell, port, log):
    """Every endpoint and its error cases (SCENARIOS), then the shell sees
    the content and fsck is clean."""
    ck = Checks(log)
    for s in SCENARIOS:
        log.append(f"--- {s.__name__}: {s.__doc__.splitlines()[0] if s.__doc__ else ''}")
        t0 = time.time()
        try:
            s(port, ck)
        except (Failure, OSError, http.client.HTTPException, ValueError, KeyError) as e:
            ck.failed.append(f"{s.__name__} stopped: {e!r}")
            log.append(f"FAIL {s.__name__} stopped: {e!r}")
        log.append(f"    ({time.time() - t0:.1f} s)")
    # Every session was finished, cancelled or dropped: none is left on disk
    # (a killed one would stay until the abandoned-session cleanup).
    for repo in ("proto/bad", "proto/session", "proto/chunked", "proto/mount-dst2",
                 "proto/conc0"):
        out = shell.cmd(f"ls /docker/registry/v2/repositories/{repo}/_uploads")
        ck.true(f"no upload session left in {repo}",
                re.search(r"(?m)^0 entries|not found|no such", out, re.I), out.strip()[-200:])
    uploads_listed(shell, port, ck)
    quota_refused(shell, port, ck)
    out = shell.cmd("repos")
    ck.true("the shell lists the pushed repositories", "proto/conc3" in out and "proto/tags" in out, out)
    out = shell.cmd("fsck", timeout=600)
    ck.true("fsck is clean", "clean" in out and "error:" not in out, out.strip()[-300:])
    ck.done("registry-protocol")
