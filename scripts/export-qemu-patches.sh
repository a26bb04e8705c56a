#!/usr/bin/env bash
# Writes the commits on top of Debian's source in build/qemu-src back to qemu-patches/ (one file per commit, the
# series replaced), and runs QEMU's checkpatch on them. Work on the series as commits there (git commit --fixup,
# git rebase -i); scripts/build-qemu.sh re-applies qemu-patches/ from scratch and discards what was not exported.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="$root/build/qemu-src"
base="$(cd "$source_dir" && git rev-list --max-parents=0 HEAD)"
if [[ -n "$(cd "$source_dir" && git status --porcelain --untracked-files=no)" ]]; then
  echo "export-qemu-patches: build/qemu-src has uncommitted changes; commit them first" >&2
  exit 1
fi
rm -f "$root"/qemu-patches/*.patch
(cd "$source_dir" && git format-patch -q --no-signature --zero-commit -o "$root/qemu-patches" "$base")
(cd "$source_dir" && ./scripts/checkpatch.pl "$root"/qemu-patches/*.patch) | grep -E '^(ERROR|WARNING|total)' || true
ls "$root"/qemu-patches/*.patch
