#!/usr/bin/env bash
# Writes the commits on top of Debian's source in build/qemu-src or build/libvirt-src back to qemu-patches/ or
# libvirt-patches/ (one file per commit, the series replaced), then runs the project's own style check on them:
# QEMU's checkpatch, or libvirt's syntax-check. Work on a series as commits there (git commit --fixup,
# git rebase -i); scripts/build-qemu.sh and build-libvirt.sh re-apply the series from scratch and discard what was
# not exported.
#   scripts/export-patches.sh qemu|libvirt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="${1:-}"
if [[ "$project" != qemu && "$project" != libvirt ]]; then
  echo "usage: scripts/export-patches.sh qemu|libvirt" >&2
  exit 2
fi
source_dir="$root/build/$project-src"
series="$root/$project-patches"
base="$(cd "$source_dir" && git rev-list --max-parents=0 HEAD)"
if [[ -n "$(cd "$source_dir" && git status --porcelain --untracked-files=no)" ]]; then
  echo "export-patches: build/$project-src has uncommitted changes; commit them first" >&2
  exit 1
fi
rm -f "$series"/*.patch
(cd "$source_dir" && git format-patch -q --no-signature --zero-commit -o "$series" "$base")
if [[ "$project" == qemu ]]; then
  (cd "$source_dir" && ./scripts/checkpatch.pl "$series"/*.patch) | grep -E '^(ERROR|WARNING|total)' || true
else
  # syntax-check reads the committed tree (git ls-tree HEAD), so it checks exactly the series
  meson test -C "$root/build/libvirt" --suite syntax-check --no-rebuild -q 2>&1 | grep -E '^(Ok|Fail|.*FAIL)' || true
fi
ls "$series"/*.patch
