#!/usr/bin/env bash
# Builds Debian 12's libvirt 9.0 (its source package, Debian's own patches applied) with rdma-cs's patch series
# (libvirt-patches/*.patch, applied in name order) into build/libvirt: libvirtd, virsh and the QEMU driver, run from
# the build tree (build/libvirt/run), and libvirt's unit tests (scripts/test-upstream.sh runs those our series touches).
# About 7 minutes on 2 cores the first time; afterwards only what the series changed is rebuilt. Prints the build directory when done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="$root/build/libvirt-src"
build_dir="$root/build/libvirt"
log="$root/build/libvirt-build.log"

source "$root/scripts/lib/debian-source.sh"
source "$root/scripts/lib/builds.sh"

"$root/scripts/setup.sh" "$root/scripts/apt-packages.txt" "$root/scripts/apt-packages-qemu.txt" \
  "$root/scripts/apt-packages-libvirt.txt"

# libvirtd resolves its compiled-in QEMU user before it reads qemu.conf, so the user must exist even when qemu.conf runs
# QEMU as root (Debian's libvirt-daemon-system creates it the same way).
if ! getent passwd libvirt-qemu >/dev/null; then
  sudo=""
  if ((EUID != 0)); then
    sudo="sudo"
  fi
  getent group libvirt-qemu >/dev/null || $sudo groupadd -r libvirt-qemu
  $sudo useradd -r -g libvirt-qemu -d /var/lib/libvirt -M -s /usr/sbin/nologin libvirt-qemu
fi

mkdir -p "$root/build"
# Debian's packaging, quilt's state and the keycodemapdb submodule stay out of the tree's history: libvirt's
# syntax-check reads git's tree, and upstream has none of them in it.
debian_source_fetch libvirt "$source_dir" "$log" /.pc/ /debian/ /src/keycodemapdb/
mapfile -t series < <(project_series "$root" libvirt)
series_apply "$source_dir" "${series[@]}" || exit 1

libvirt_configure "$source_dir" "$build_dir" "$log"
echo "build-libvirt: building (about 7 minutes the first time)" >&2
(ninja -C "$build_dir" >>"$log" 2>&1) ||
  { tail -n 60 "$log" >&2; echo "build-libvirt: the build failed (full log: $log)" >&2; exit 1; }
echo "$build_dir"
