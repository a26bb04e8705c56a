#!/usr/bin/env bash
# Puts the kernel of Debian 12's linux-image-amd64 into build/linux/vmlinuz, for the Linux test guest (an initramfs
# holding tests/guest/memcheck-init.c and nothing else). The package is downloaded, not installed, and only the kernel
# is taken out of it. Idempotent: nothing happens when build/linux/vmlinuz is there.
#   scripts/fetch-linux-kernel.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build/linux"
if [[ -s "$out/vmlinuz" ]]; then
  exit 0
fi
mkdir -p "$out"
work="$(mktemp -d)"
# apt-get download fetches as the _apt user when it can write where it downloads to (else it warns and fetches as root).
if id _apt > /dev/null 2>&1; then chown _apt "$work"; else chmod 755 "$work"; fi
trap 'rm -rf "$work"' EXIT
# linux-image-amd64 is a metapackage: the kernel is in the versioned package it depends on.
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]]; then
  apt-get update -qq
fi
package="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
if [[ -z "$package" ]]; then
  echo "fetch-linux-kernel: apt knows no kernel package behind linux-image-amd64 (apt-get update?)" >&2
  exit 1
fi
echo "fetch-linux-kernel: downloading $package (about 70 MB; the kernel is taken out, nothing is installed)" >&2
(cd "$work" && apt-get download -qq "$package")
dpkg-deb --fsys-tarfile "$work"/*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*'
kernel="$(ls "$work"/boot/vmlinuz-*)"
cp "$kernel" "$out/vmlinuz.partial"
echo "${package}" > "$out/vmlinuz.package"
mv "$out/vmlinuz.partial" "$out/vmlinuz"   # last, so that an interrupted run is not taken for a finished one
echo "fetch-linux-kernel: build/linux/vmlinuz is $(basename "$kernel")" >&2
