#!/usr/bin/env bash
# Builds Debian 12's QEMU 7.2 (its source package) with rdma-cs's patch series (qemu-patches/*.patch, applied in
# name order) into build/qemu: a minimal x86_64 system emulator, TCG and KVM. About 3 minutes on 2 cores the first
# time; afterwards only what the patches changed is rebuilt. Prints the path of qemu-system-x86_64 when done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="$root/build/qemu-src"
build_dir="$root/build/qemu"
log="$root/build/qemu-build.log"
sudo=""
if ((EUID != 0)); then
  sudo="sudo"
fi

"$root/scripts/setup.sh" "$root/scripts/apt-packages.txt" "$root/scripts/apt-packages-qemu.txt"

# The source package needs a deb-src entry; add one beside the machine's own deb entries, from the same mirrors.
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "build-qemu: enabling source packages in the configured Debian mirrors" >&2
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    $sudo sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
  else
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $sudo tee /etc/apt/sources.list.d/rdmacs-deb-src.list >/dev/null
  fi
  $sudo apt-get update -qq
fi

mkdir -p "$root/build"
if [[ ! -x "$source_dir/configure" ]]; then
  echo "build-qemu: fetching Debian's QEMU source package" >&2
  rm -rf "$source_dir" "$root/build/qemu-download"
  mkdir -p "$root/build/qemu-download"
  (cd "$root/build/qemu-download" && apt-get source -qq qemu >"$log" 2>&1) || { cat "$log" >&2; exit 1; }
  mv "$(find "$root/build/qemu-download" -maxdepth 1 -mindepth 1 -type d -name 'qemu-*' | head -n 1)" "$source_dir"
  rm -rf "$root/build/qemu-download"
  (cd "$source_dir" && git init -q && git add -A && git -c user.name=rdmacs -c user.email=rdmacs@localhost commit -qm "Debian source package")
fi

# Apply the series on the pristine source each time, as commits, so that editing a patch rebuilds from it (and work
# on the series is done as commits in build/qemu-src, exported by scripts/export-patches.sh qemu). This discards
# anything not exported.
(cd "$source_dir" && git am --abort >/dev/null 2>&1 || true
 git reset -q --hard "$(git rev-list --max-parents=0 HEAD)" && git clean -qfdx)
shopt -s nullglob
for patch in "$root"/qemu-patches/*.patch; do
  (cd "$source_dir" && git -c user.name=rdmacs -c user.email=rdmacs@localhost am -q --keep-cr "$patch") ||
    { echo "build-qemu: $(basename "$patch") does not apply" >&2; exit 1; }
done
# The series carries the plugin ABI header for QEMU; it must be the one the plugin is built with.
if [[ -f "$source_dir/include/migration/rdma-cs-plugin.h" ]] &&
   ! cmp -s "$root/include/rdma-cs-plugin.h" "$source_dir/include/migration/rdma-cs-plugin.h"; then
  echo "build-qemu: include/rdma-cs-plugin.h differs from the copy in qemu-patches/; update the patch" >&2
  exit 1
fi

if [[ ! -f "$build_dir/build.ninja" ]]; then
  mkdir -p "$build_dir"
  (cd "$build_dir" && "$source_dir/configure" --target-list=x86_64-softmmu --without-default-features \
      --enable-tcg --enable-kvm --enable-fdt=system --disable-docs --disable-install-blobs >"$log" 2>&1) \
    || { cat "$log" >&2; echo "build-qemu: configure failed" >&2; exit 1; }
fi
echo "build-qemu: building (about 3 minutes the first time)" >&2
(cd "$build_dir" && ninja >>"$log" 2>&1) || { tail -n 60 "$log" >&2; echo "build-qemu: the build failed (full log: $log)" >&2; exit 1; }
echo "$build_dir/qemu-system-x86_64"
