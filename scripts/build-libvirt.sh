#!/usr/bin/env bash
# Builds Debian 12's libvirt 9.0 (its source package, Debian's own patches applied) with rdma-cs's patch series
# (libvirt-patches/*.patch, applied in name order) into build/libvirt: libvirtd, virsh and the QEMU driver, run from
# the build tree (build/libvirt/run). About 3 minutes on 2 cores the first time; afterwards only what the patches changed
# is rebuilt. Needs the QEMU build's source packages set up (scripts/build-qemu.sh enables deb-src).
# Prints the build directory when done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="$root/build/libvirt-src"
build_dir="$root/build/libvirt"
log="$root/build/libvirt-build.log"

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
if [[ ! -f "$source_dir/meson.build" ]]; then
  echo "build-libvirt: fetching Debian's libvirt source package" >&2
  rm -rf "$source_dir" "$root/build/libvirt-download"
  mkdir -p "$root/build/libvirt-download"
  (cd "$root/build/libvirt-download" && apt-get source -qq libvirt >"$log" 2>&1) || { cat "$log" >&2; exit 1; }
  mv "$(find "$root/build/libvirt-download" -maxdepth 1 -mindepth 1 -type d -name 'libvirt-*' | head -n 1)" "$source_dir"
  rm -rf "$root/build/libvirt-download"
  # Debian's packaging, quilt's state and the keycodemapdb submodule stay out of the tree's history: libvirt's
  # syntax-check reads git's tree, and upstream has none of them in it.
  (cd "$source_dir" && git init -q && printf '/.pc/\n/debian/\n/src/keycodemapdb/\n' >.git/info/exclude && git add -A &&
   git -c user.name=rdmacs -c user.email=rdmacs@localhost commit -qm "Debian source package")
fi

# As for QEMU, the series is applied on the pristine source as commits (see export-patches.sh), which discards what
# was not exported; but only when the series changed, since re-applying it touches libvirt's public header and that
# rebuilds nearly everything (2-3 minutes).
series_stamp="$source_dir/.git/rdmacs-series"
series_hash="$(cat "$root"/libvirt-patches/*.patch 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$series_stamp" 2>/dev/null)" != "$series_hash" ||
      -n "$(cd "$source_dir" && git status --porcelain --untracked-files=no)" ]]; then
  (cd "$source_dir" && git am --abort >/dev/null 2>&1 || true
   git reset -q --hard "$(git rev-list --max-parents=0 HEAD)" && git clean -qfd)
  shopt -s nullglob
  for patch in "$root"/libvirt-patches/*.patch; do
    (cd "$source_dir" && git -c user.name=rdmacs -c user.email=rdmacs@localhost am -q --keep-cr "$patch") ||
      { echo "build-libvirt: $(basename "$patch") does not apply" >&2; exit 1; }
  done
  echo "$series_hash" >"$series_stamp"
fi

# A libvirtd with the QEMU driver and virsh, nothing else: no other drivers, storage backends or optional features.
if [[ ! -f "$build_dir/build.ninja" ]]; then
  options=(-Dsystem=true -Ddriver_qemu=enabled -Ddriver_libvirtd=enabled -Ddriver_remote=enabled -Dyajl=enabled
           -Dqemu_user=libvirt-qemu -Dqemu_group=libvirt-qemu)
  for driver in network lxc vbox esx ch libxl openvz vmware vz hyperv bhyve interface test secrets; do
    options+=("-Ddriver_$driver=disabled")
  done
  for storage in dir fs disk iscsi iscsi_direct lvm mpath rbd scsi vstorage zfs gluster; do
    options+=("-Dstorage_$storage=disabled")
  done
  for feature in docs tests nls polkit apparmor secdriver_apparmor selinux secdriver_selinux wireshark_dissector \
                 libssh libssh2 sasl audit nss login_shell bash_completion firewalld numactl fuse glusterfs libiscsi \
                 curl openwsman sanlock dtrace host_validate udev pciaccess; do
    options+=("-D$feature=disabled")
  done
  (cd "$source_dir" && meson setup "$build_dir" "${options[@]}" >"$log" 2>&1) ||
    { tail -n 40 "$log" >&2; echo "build-libvirt: meson setup failed (log: $log)" >&2; exit 1; }
fi
echo "build-libvirt: building (about 3 minutes the first time)" >&2
(ninja -C "$build_dir" >>"$log" 2>&1) ||
  { tail -n 60 "$log" >&2; echo "build-libvirt: the build failed (full log: $log)" >&2; exit 1; }
echo "$build_dir"
