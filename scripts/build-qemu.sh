#!/usr/bin/env bash
# Builds Debian 12's QEMU 7.2 (its source package) with our patch series (qemu-patches/fixes, then
# qemu-patches/rdma-cs) into build/qemu: a minimal x86_64 system emulator, TCG and KVM, and QEMU's own qtests
# (scripts/test-upstream.sh runs its migration-test). About 8 minutes on 2 cores the first time; afterwards only what
# the series changed is rebuilt. Prints the path of qemu-system-x86_64 when done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="$root/build/qemu-src"
build_dir="$root/build/qemu"
log="$root/build/qemu-build.log"

source "$root/scripts/lib/debian-source.sh"
source "$root/scripts/lib/builds.sh"

"$root/scripts/setup.sh" "$root/scripts/apt-packages.txt" "$root/scripts/apt-packages-qemu.txt"

mkdir -p "$root/build"
debian_source_fetch qemu "$source_dir" "$log"
# The series go on the pristine source as commits (work on them there, and export them with export-patches.sh).
mapfile -t series < <(project_series "$root" qemu)
series_apply "$source_dir" "${series[@]}" || exit 1
# The series carries the plugin ABI header for QEMU; it must be the one the plugin is built with.
if ! cmp -s "$root/include/rdma-cs-plugin.h" "$source_dir/include/migration/rdma-cs-plugin.h"; then
  echo "build-qemu: include/rdma-cs-plugin.h differs from the copy in qemu-patches/rdma-cs/; update the patch" >&2
  exit 1
fi

qemu_configure "$source_dir" "$build_dir" "$log"
echo "build-qemu: building (about 8 minutes the first time)" >&2
(cd "$build_dir" && ninja >>"$log" 2>&1) || { tail -n 60 "$log" >&2; echo "build-qemu: the build failed (full log: $log)" >&2; exit 1; }
qemu_link_firmware "$build_dir"
echo "$build_dir/qemu-system-x86_64"
