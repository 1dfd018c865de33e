#!/usr/bin/env bash
# Installs what `make run` / `make test` need on a fresh Debian 12 machine.
# Idempotent and quiet when everything is already there. docker-registry and
# skopeo are the reference registry and client: `make test` has them serve and
# pull the registry tree our filesystem writes.
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in rustc-web cargo-web rust-web-src rust-web-clippy rustfmt-web \
           qemu-system-x86 qemu-utils binutils make python3 \
           docker-registry skopeo; do
  have_pkg "$pkg" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
