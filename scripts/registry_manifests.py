"""Scenarios of the `registry-protocol` QEMU test about manifests and
listings: manifests by tag and digest with their media types, references
that must exist (MANIFEST_BLOB_UNKNOWN), index negotiation, the referrers
API, tags/list and _catalog pagination. Each takes (port, checks); see
scripts/registry_protocol.py.
"""
import json
import re

from registry_client import (DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, OCI_INDEX,
                             OCI_MANIFEST, Http, descriptor, digest_of, image_manifest,
                             index_manifest, push_blob)
from storage_shell import data_of

ARTIFACT_SIG = "application/vnd.example.signature.v1"
ARTIFACT_SBOM = "application/vnd.example.sbom.v1"


def push_image(c, repo, seed, arch="amd64"):
    """Config and one layer pushed; returns the manifest bytes (not pushed)."""
    config = json.dumps({"architecture": arch, "os": "linux", "seed": seed}).encode()
    layer = data_of(f"layer-{seed}", 20_000)
    push_blob(c, repo, config)
    push_blob(c, repo, layer)
    return image_manifest(config, [layer])


def s_manifests(port, ck):
    c = Http(port)
    repo = "proto/manifests"
    m = push_image(c, repo, "m1")
    md = digest_of(m)
    r = c.request("PUT", f"/v2/{repo}/manifests/v1", body=m, headers={"Content-Type": OCI_MANIFEST})
    ck.answer("manifest PUT by tag", r, 201)
    ck.eq("manifest PUT: Docker-Content-Digest", md, r.h("Docker-Content-Digest"))
    ck.eq("manifest PUT: Location", f"/v2/{repo}/manifests/{md}", r.h("Location"))
    for ref in ("v1", md):
        r = c.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        ck.answer(f"manifest GET {ref[:16]}", r, 200)
        ck.eq(f"manifest GET {ref[:16]}: Content-Type", OCI_MANIFEST, r.h("Content-Type"))
        ck.eq(f"manifest GET {ref[:16]}: Docker-Content-Digest", md, r.h("Docker-Content-Digest"))
        ck.eq(f"manifest GET {ref[:16]}: body", m, r.body)
        r = c.request("HEAD", f"/v2/{repo}/manifests/{ref}")
        ck.eq(f"manifest HEAD {ref[:16]}: status, Content-Length, digest, body",
              (200, str(len(m)), md, b""),
              (r.status, r.h("Content-Length"), r.h("Docker-Content-Digest"), r.body))
    # Docker schema 2, stored and served with its own media type.
    cfg = b'{"architecture":"amd64","os":"linux","docker":true}'
    layer = data_of("docker-layer", 10_000)
    push_blob(c, repo, cfg)
    push_blob(c, repo, layer)
    dm = image_manifest(cfg, [layer], DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
    r = c.request("PUT", f"/v2/{repo}/manifests/{digest_of(dm)}", body=dm,
                  headers={"Content-Type": DOCKER_MANIFEST})
    ck.answer("Docker schema-2 manifest PUT by digest", r, 201)
    r = c.request("GET", f"/v2/{repo}/manifests/{digest_of(dm)}",
                  headers={"Accept": f"{DOCKER_MANIFEST}, {OCI_MANIFEST}"})
    ck.eq("Docker manifest GET: status, Content-Type, digest",
          (200, DOCKER_MANIFEST, digest_of(dm)),
          (r.status, r.h("Content-Type"), r.h("Docker-Content-Digest")))
    r = c.request("PUT", f"/v2/{repo}/manifests/{digest_of(b'x')}", body=m,
                  headers={"Content-Type": OCI_MANIFEST})
    ck.answer("manifest PUT under a digest that is not its own", r, 400, "DIGEST_INVALID")
    r = c.request("PUT", f"/v2/{repo}/manifests/v2", body=b"{not json",
                  headers={"Content-Type": OCI_MANIFEST})
    ck.answer("manifest PUT of bad JSON", r, 400, "MANIFEST_INVALID")
    ck.answer("GET of an unknown tag", c.request("GET", f"/v2/{repo}/manifests/nope"),
              404, "MANIFEST_UNKNOWN")
    ck.answer("GET of a manifest in an unknown repository",
              c.request("GET", "/v2/proto/no-such-repo/manifests/v1"), 404)
    # A manifest naming a missing layer is refused, and leaves no tag.
    missing = image_manifest(cfg, [layer, data_of("never-pushed-layer", 100)])
    r = c.request("PUT", f"/v2/{repo}/manifests/broken", body=missing,
                  headers={"Content-Type": OCI_MANIFEST})
    ck.answer("manifest naming a missing layer", r, 400, "MANIFEST_BLOB_UNKNOWN")
    ck.answer("its tag was not created", c.request("GET", f"/v2/{repo}/manifests/broken"),
              404, "MANIFEST_UNKNOWN")
    r = c.request("PUT", f"/v2/{repo}/manifests/nocfg", headers={"Content-Type": OCI_MANIFEST},
                  body=image_manifest(b'{"missing":"config"}', [layer]))
    ck.answer("manifest naming a missing config", r, 400, "MANIFEST_BLOB_UNKNOWN")
    # Indexes: children must exist; served only to clients that accept them.
    arm = push_image(c, repo, "m1-arm", arch="arm64")
    idx = index_manifest([(OCI_MANIFEST, m), (OCI_MANIFEST, arm)])
    r = c.request("PUT", f"/v2/{repo}/manifests/multi", body=idx, headers={"Content-Type": OCI_INDEX})
    ck.answer("index with a child not pushed yet", r, 400, "MANIFEST_BLOB_UNKNOWN")
    r = c.request("PUT", f"/v2/{repo}/manifests/{digest_of(arm)}", body=arm,
                  headers={"Content-Type": OCI_MANIFEST})
    ck.answer("the child manifest PUT by digest", r, 201)
    r = c.request("PUT", f"/v2/{repo}/manifests/multi", body=idx, headers={"Content-Type": OCI_INDEX})
    ck.answer("index with every child present", r, 201)
    r = c.request("GET", f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_INDEX})
    ck.eq("index GET with Accept: index: status, Content-Type, digest",
          (200, OCI_INDEX, digest_of(idx)),
          (r.status, r.h("Content-Type"), r.h("Docker-Content-Digest")))
    r = c.request("GET", f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_MANIFEST})
    ck.answer("index GET by a client accepting only image manifests", r, 404, "MANIFEST_UNKNOWN")
    # DELETE by tag and by digest.
    r = c.request("PUT", f"/v2/{repo}/manifests/v-del", body=m, headers={"Content-Type": OCI_MANIFEST})
    r = c.request("DELETE", f"/v2/{repo}/manifests/v-del")
    ck.answer("manifest DELETE by tag", r, 202)
    ck.eq("DELETE by tag: Docker-Content-Digest", md, r.h("Docker-Content-Digest"))
    ck.answer("the deleted tag", c.request("GET", f"/v2/{repo}/manifests/v-del"), 404,
              "MANIFEST_UNKNOWN")
    ck.answer("tag v1 of the same manifest still there",
              c.request("HEAD", f"/v2/{repo}/manifests/v1"), 200)
    r = c.request("DELETE", f"/v2/{repo}/manifests/{digest_of(dm)}")
    ck.answer("manifest DELETE by digest", r, 202)
    ck.eq("DELETE by digest: Docker-Content-Digest", digest_of(dm), r.h("Docker-Content-Digest"))
    ck.answer("GET after DELETE by digest",
              c.request("GET", f"/v2/{repo}/manifests/{digest_of(dm)}"), 404, "MANIFEST_UNKNOWN")
    ck.answer("DELETE of an unknown manifest",
              c.request("DELETE", f"/v2/{repo}/manifests/{digest_of(b'none')}"), 404,
              "MANIFEST_UNKNOWN")


def s_referrers(port, ck):
    c = Http(port)
    repo = "proto/referrers"
    subj = push_image(c, repo, "subject")
    sd = digest_of(subj)
    c.request("PUT", f"/v2/{repo}/manifests/app", body=subj, headers={"Content-Type": OCI_MANIFEST})
    empty = b"{}"
    push_blob(c, repo, empty)
    refs = {}
    for kind, seed in ((ARTIFACT_SIG, "sig"), (ARTIFACT_SBOM, "sbom")):
        layer = data_of(f"artifact-{seed}", 700)
        push_blob(c, repo, layer)
        body = image_manifest(empty, [layer], config_type="application/vnd.oci.empty.v1+json",
                              layer_type=kind, artifactType=kind,
                              subject=descriptor(OCI_MANIFEST, subj),
                              annotations={"org.example.kind": seed})
        r = c.request("PUT", f"/v2/{repo}/manifests/{digest_of(body)}", body=body,
                      headers={"Content-Type": OCI_MANIFEST})
        ck.answer(f"{seed} manifest with a subject PUT", r, 201)
        ck.eq(f"{seed} PUT: OCI-Subject", sd, r.h("OCI-Subject"))
        refs[kind] = digest_of(body)
    r = c.request("GET", f"/v2/{repo}/referrers/{sd}")
    ck.answer("referrers GET", r, 200)
    ck.eq("referrers: Content-Type", OCI_INDEX, r.h("Content-Type"))
    got = sorted((m["digest"], m.get("artifactType")) for m in r.json().get("manifests", []))
    ck.eq("referrers: digests and artifact types", sorted((d, k) for k, d in refs.items()), got)
    r = c.request("GET", f"/v2/{repo}/referrers/{sd}?artifactType={ARTIFACT_SIG}")
    ck.answer("referrers GET ?artifactType=", r, 200)
    ck.eq("filtered referrers", [refs[ARTIFACT_SIG]], [m["digest"] for m in r.json()["manifests"]])
    ck.eq("filtered referrers: OCI-Filters-Applied", "artifactType", r.h("OCI-Filters-Applied"))
    r = c.request("GET", f"/v2/{repo}/referrers/{digest_of(b'no subject')}")
    ck.eq("referrers of a digest nobody refers to", (200, []),
          (r.status, r.json().get("manifests") if r.status == 200 else r.body))
    ck.answer("referrers of a bad digest", c.request("GET", f"/v2/{repo}/referrers/sha256:zz"),
              400, "DIGEST_INVALID")


def follow(c, path, key, what, ck):
    """Pages through a listing by its Link headers; returns all entries."""
    seen, pages = [], 0
    while path and pages < 50:
        r = c.request("GET", path)
        if not ck.answer(f"{what} page {pages}", r, 200):
            return seen
        seen += r.json()[key] or []
        link = r.h("Link")
        m = re.match(r'<([^>]+)>;\s*rel="next"', link or "")
        path = m.group(1) if m else None
        pages += 1
    return seen


def s_listing(port, ck):
    c = Http(port)
    repo = "proto/tags"
    m = push_image(c, repo, "tagged")
    tags = [f"t{i}" for i in range(7)]
    for t in tags:
        c.request("PUT", f"/v2/{repo}/manifests/{t}", body=m, headers={"Content-Type": OCI_MANIFEST})
    r = c.request("GET", f"/v2/{repo}/tags/list")
    ck.answer("tags/list", r, 200)
    ck.eq("tags/list: name and tags", {"name": repo, "tags": tags}, r.json())
    r = c.request("GET", f"/v2/{repo}/tags/list?n=3")
    ck.eq("tags/list?n=3: tags", tags[:3], r.json()["tags"])
    ck.eq("tags/list?n=3: Link", f'</v2/{repo}/tags/list?n=3&last=t2>; rel="next"', r.h("Link"))
    r = c.request("GET", f"/v2/{repo}/tags/list?n=3&last=t5")
    ck.eq("tags/list?n=3&last=t5: tags, Link", (["t6"], None), (r.json()["tags"], r.h("Link")))
    ck.eq("tags/list followed by Link with n=2", tags,
          follow(c, f"/v2/{repo}/tags/list?n=2", "tags", "tags n=2", ck))
    ck.answer("tags/list of an unknown repository",
              c.request("GET", "/v2/proto/no-such-repo/tags/list"), 404, "NAME_UNKNOWN")
    ck.answer("tags/list?n=abc", c.request("GET", f"/v2/{repo}/tags/list?n=abc"), 400)
    r = c.request("GET", "/v2/_catalog")
    ck.answer("_catalog", r, 200)
    full = r.json()["repositories"]
    ck.true("_catalog lists the repositories pushed so far",
            {"proto/tags", "proto/blobs", "proto/manifests"} <= set(full), full)
    ck.eq("_catalog is sorted", sorted(full), full)
    ck.eq("_catalog followed by Link with n=2", full,
          follow(c, "/v2/_catalog?n=2", "repositories", "_catalog n=2", ck))
    r = c.request("GET", "/v2/_catalog?n=1")
    ck.eq("_catalog?n=1: one entry and a Link", (full[:1], True),
          (r.json()["repositories"], bool(r.h("Link"))))
