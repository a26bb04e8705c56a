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
ls "$series"/*.patch
# The series is written either way (so that it can be fixed from there); a style error makes this script fail.
if [[ "$project" == qemu ]]; then
  # checkpatch exits non-zero on errors (warnings alone pass): each patch is checked on its own.
  status=0
  for patch in "$series"/*.patch; do
    if ! report=$(cd "$source_dir" && ./scripts/checkpatch.pl "$patch" 2>&1); then
      status=1
    fi
    printf '%s\n' "$report" | grep -E '^(ERROR|WARNING|total)' | sed "s|^|$(basename "$patch"): |" || true
  done
  if (( status != 0 )); then
    echo "export-patches: checkpatch found errors (above)" >&2
    exit 1
  fi
else
  # syntax-check reads the committed tree (git ls-tree HEAD), so it checks exactly the series
  if ! report=$(meson test -C "$root/build/libvirt" --suite syntax-check --no-rebuild -q 2>&1); then
    printf '%s\n' "$report" | grep -E '^(Ok|Fail|.*FAIL)' || true
    echo "export-patches: libvirt's syntax-check failed (above)" >&2
    exit 1
  fi
  printf '%s\n' "$report" | grep -E '^(Ok|Fail|.*FAIL)' || true
fi
