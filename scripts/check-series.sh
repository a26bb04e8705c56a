#!/usr/bin/env bash
# Checks that a patch series is bisectable: for every commit of the series in build/qemu-src or build/libvirt-src,
# in order, the style check (QEMU's checkpatch on that patch; libvirt's syntax-check), a build, and the upstream tests
# our series touches, each on the tree as it is at that commit. Builds in a tree of its own (build/<project>-series-src
# and build/<project>-series), incrementally from one commit to the next: the first commit costs a full build (about
# 7 minutes), the next ones what they change. Stops at the first failure, naming the commit.
#   scripts/check-series.sh qemu [migration-test arguments; default: the precopy cases, rdma-cs ones included]
#   scripts/check-series.sh libvirt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/lib/debian-source.sh"
source "$root/scripts/lib/builds.sh"
project="${1:-}"
shift || true
if [[ "$project" != qemu && "$project" != libvirt ]]; then
  echo "usage: scripts/check-series.sh qemu|libvirt [migration-test arguments]" >&2
  exit 2
fi
source_dir="$root/build/$project-src"
work_dir="$root/build/$project-series-src"
build_dir="$root/build/$project-series"
log="$root/build/$project-series.log"
[[ -d "$source_dir/.git" ]] || { echo "check-series: build $project first (scripts/build-$project.sh)" >&2; exit 1; }

base="$(cd "$source_dir" && git rev-list --max-parents=0 HEAD)"
mapfile -t commits < <(cd "$source_dir" && git rev-list --reverse "$base..HEAD")
if [[ ! -d "$work_dir" ]]; then
  (cd "$source_dir" && git worktree prune && git worktree add -q --detach "$work_dir" "$base")
fi

qemu_tests=("$@")
if ((${#qemu_tests[@]} == 0)); then
  qemu_tests=(-p /x86_64/migration/precopy/unix/plain -p /x86_64/migration/precopy/tcp/plain -p /x86_64/migration/precopy/rdma-cs)
fi

check_commit() {
  local commit="$1"
  (cd "$work_dir" && git checkout -q --detach "$commit")
  case "$project" in
    qemu)
      (cd "$work_dir" && git format-patch -1 --stdout "$commit" | ./scripts/checkpatch.pl -q -) || return 1
      qemu_configure "$work_dir" "$build_dir" "$log" || return 1
      (cd "$build_dir" && ninja qemu-system-x86_64 tests/qtest/migration-test >>"$log" 2>&1) ||
        { tail -n 30 "$log" >&2; return 1; }
      qemu_link_firmware "$build_dir"
      # the rdma-cs cases exist from the last patch on; before it, -p of a missing path runs nothing
      (cd "$build_dir" && QTEST_QEMU_BINARY=./qemu-system-x86_64 QTEST_RDMA_CS_PLUGIN="$root/build/cmake/librdmacs-qemu.so" \
         ./tests/qtest/migration-test -q "${qemu_tests[@]}") || return 1
      ;;
    libvirt)
      libvirt_configure "$work_dir" "$build_dir" "$log" || return 1
      (ninja -C "$build_dir" >>"$log" 2>&1) || { tail -n 30 "$log" >&2; return 1; }
      meson test -C "$build_dir" --no-rebuild -q --suite syntax-check >>"$log" 2>&1 || { echo "syntax-check failed" >&2; return 1; }
      meson test -C "$build_dir" --no-rebuild -q qemucapabilitiestest qemumigparamstest qemuxml2argvtest virshtest ||
        return 1
      ;;
  esac
}

for commit in "${commits[@]}"; do
  subject="$(cd "$source_dir" && git log -1 --format=%s "$commit")"
  started=$SECONDS
  if ! check_commit "$commit"; then
    echo "check-series: FAILED at ${commit:0:12} $subject (log: $log)" >&2
    exit 1
  fi
  echo "check-series: ok ${commit:0:12} $subject ($((SECONDS - started)) s)" >&2
done
echo "check-series: all ${#commits[@]} commits of the $project series pass" >&2
