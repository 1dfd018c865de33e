"""Builds OCI image layouts offline (no registry, no network), the input of
the registry tests: real gzip'd tar layers, an image config with the
layers' diff_ids, an image manifest per platform and, for several
platforms, an image index. Deterministic from a seed."""
import gzip
import hashlib
import io
import json
import os
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def noise(seed, n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def layer(seed, size):
    """A gzip'd tar holding one file of `size` incompressible bytes; returns
    (compressed bytes, diff_id of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = noise(seed, size)
        info = tarfile.TarInfo(f"data/{seed}.bin")
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    gz = gzip.compress(tar_bytes, mtime=0)
    return gz, "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


class Layout:
    """An OCI layout directory being written."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []

    def blob(self, data, media_type):
        hexd = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.path, "blobs", "sha256", hexd), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + hexd, "size": len(data)}

    def image(self, layers, arch="amd64"):
        """An image manifest over `layers` [(gz, diff_id)]; returns its descriptor."""
        layer_descs = [self.blob(gz, OCI_LAYER) for gz, _ in layers]
        config = {"architecture": arch, "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
                  "config": {}}
        cdesc = self.blob(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": cdesc, "layers": layer_descs}
        desc = self.blob(json.dumps(manifest, sort_keys=True).encode(), OCI_MANIFEST)
        desc["platform"] = {"architecture": arch, "os": "linux"}
        return desc

    def index(self, manifests):
        """An image index over manifest descriptors; returns its descriptor."""
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        return self.blob(json.dumps(idx, sort_keys=True).encode(), OCI_INDEX)

    def tag(self, desc, name):
        d = dict(desc)
        d.pop("platform", None)
        d["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.refs.append(d)
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


def blob_digests(path):
    """Every blob digest of a layout directory."""
    d = os.path.join(path, "blobs", "sha256")
    return sorted("sha256:" + n for n in os.listdir(d))
