#!/usr/bin/env bash
# Writes the commits on top of Debian's source in build/qemu-src or build/libvirt-src back to the project's series
# (qemu-patches/fixes and qemu-patches/rdma-cs, or libvirt-patches: one file per commit, each series replaced), with a
# cover letter (0000-cover-letter.patch) made from the series' cover-letter.txt, then runs the project's own style
# check on them: QEMU's checkpatch on each patch, or libvirt's syntax-check. A style error fails the export (the
# series is written either way, so that it can be fixed from there).
#
# Work on a series as commits there (git commit --fixup, git rebase -i --autosquash). In build/qemu-src the branch
# `fixes` marks the end of the first series; to change it, commit on that branch and rebase master onto it.
#   scripts/export-patches.sh qemu|libvirt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/lib/debian-source.sh"
project="${1:-}"
if [[ "$project" != qemu && "$project" != libvirt ]]; then
  echo "usage: scripts/export-patches.sh qemu|libvirt" >&2
  exit 2
fi
source_dir="$root/build/$project-src"
mapfile -t series < <(project_series "$root" "$project")
if [[ -n "$(cd "$source_dir" && git status --porcelain --untracked-files=no)" ]]; then
  echo "export-patches: build/$project-src has uncommitted changes; commit them first" >&2
  exit 1
fi

# cover_letter DIR: fills the cover letter format-patch wrote with cover-letter.txt (its subject, a blank line, its text).
cover_letter() {
  local dir="$1" text="$1/cover-letter.txt" letter="$1/0000-cover-letter.patch"
  if [[ ! -f "$text" ]]; then
    echo "export-patches: $text is missing (the cover letter's subject, a blank line, its text)" >&2
    return 1
  fi
  python3 - "$letter" "$text" <<'PY'
import sys
letter, text = sys.argv[1], sys.argv[2]
subject, _, blurb = open(text).read().partition("\n\n")
body = open(letter).read()
body = body.replace("*** SUBJECT HERE ***", subject.strip()).replace("*** BLURB HERE ***", blurb.strip())
open(letter, "w").write(body)
PY
}

base="$(cd "$source_dir" && git rev-list --max-parents=0 HEAD)"
status=0
for dir in "${series[@]}"; do
  if [[ "$dir" == "${series[-1]}" ]]; then
    end=HEAD
  else
    end="$(basename "$dir")"
    if ! (cd "$source_dir" && git merge-base --is-ancestor "$end" HEAD); then
      echo "export-patches: the branch $end (the end of $(basename "$dir")) is not under HEAD; rebase onto it first" >&2
      exit 1
    fi
  fi
  find "$dir" -maxdepth 1 -name '*.patch' -delete
  (cd "$source_dir" && series_git format-patch -q --no-signature --zero-commit --cover-letter -o "$dir" "$base..$end")
  cover_letter "$dir"
  ls "$dir"/*.patch
  if [[ "$project" == qemu ]]; then
    # checkpatch exits non-zero on errors (warnings alone pass): each patch is checked on its own.
    while read -r patch; do
      if ! report=$(cd "$source_dir" && ./scripts/checkpatch.pl "$patch" 2>&1); then
        status=1
      fi
      printf '%s\n' "$report" | grep -E '^(ERROR|WARNING|total)' | sed "s|^|$(basename "$patch"): |" || true
    done < <(series_patches "$dir")
  fi
  base="$end"
done
series_mark_applied "$source_dir" "${series[@]}"

if [[ "$project" == libvirt ]]; then
  # syntax-check reads the committed tree (git ls-tree HEAD), so it checks exactly the series
  if ! report=$(meson test -C "$root/build/libvirt" --suite syntax-check --no-rebuild -q 2>&1); then
    printf '%s\n' "$report" | grep -E '^(Ok|Fail|.*FAIL)' || true
    status=1
  fi
  printf '%s\n' "$report" | grep -E '^(Ok|Fail|.*FAIL)' || true
fi
if ((status != 0)); then
  echo "export-patches: the style check found errors (above)" >&2
  exit 1
fi
