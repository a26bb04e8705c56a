# Sourced by scripts/build-qemu.sh, build-libvirt.sh, export-patches.sh and check-series.sh: Debian's source package
# of a project, kept as a git tree whose first commit is Debian's source and whose next commits are our patch series.
#
# A project's series live in directories of *.patch files (applied in name order; 0000-cover-letter.patch is the
# cover letter, not applied). A project may have more than one series, each based on the one before: in the source
# tree, a branch named after each series' directory marks its last commit, except the last series, which ends at HEAD.

# The one identity the series are written under (author, committer and Signed-off-by).
readonly SERIES_IDENTITY_NAME="rdma-cs developers"
readonly SERIES_IDENTITY_EMAIL="rdma-cs@localhost"

series_git() {
  git -c user.name="$SERIES_IDENTITY_NAME" -c user.email="$SERIES_IDENTITY_EMAIL" "$@"
}

# Adds deb-src entries beside the machine's deb entries (same mirrors) if there are none.
debian_source_enable() {
  local sudo=""
  ((EUID == 0)) || sudo="sudo"
  if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "debian-source: enabling source packages in the configured Debian mirrors" >&2
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      $sudo sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
    else
      sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $sudo tee /etc/apt/sources.list.d/rdmacs-deb-src.list >/dev/null
    fi
    $sudo apt-get update -qq
  fi
}

# debian_source_fetch PACKAGE SOURCE_DIR LOG [EXCLUDED...]: fetches the source package into SOURCE_DIR as a git tree
# with one commit, unless it is there already. EXCLUDED paths (git exclude patterns) stay out of its history.
debian_source_fetch() {
  local package="$1" source_dir="$2" log="$3"
  shift 3
  [[ -d "$source_dir/.git" ]] && return 0
  debian_source_enable
  echo "debian-source: fetching Debian's $package source package" >&2
  local download="$source_dir.download"
  rm -rf "$source_dir" "$download"
  mkdir -p "$download"
  (cd "$download" && apt-get source -qq "$package" >"$log" 2>&1) || { cat "$log" >&2; return 1; }
  mv "$(find "$download" -maxdepth 1 -mindepth 1 -type d -name "$package-*" | head -n 1)" "$source_dir"
  rm -rf "$download"
  (cd "$source_dir" && git init -q && printf '%s\n' "$@" >>.git/info/exclude && git add -A &&
   series_git commit -qm "Debian source package")
}

# The patches of a series directory, in the order they apply (the cover letter is not one).
series_patches() {
  local patch
  for patch in "$1"/*.patch; do
    [[ -e "$patch" && "$(basename "$patch")" != 0000-cover-letter.patch ]] && printf '%s\n' "$patch"
  done
}

# series_apply SOURCE_DIR SERIES_DIR...: puts the series on Debian's source as commits, in order, when they changed
# since they were last applied; otherwise leaves the tree alone (re-applying touches the files the series changes, and
# the build then recompiles what depends on them). Work in the tree that was not exported with export-patches.sh
# (uncommitted changes, or commits) stops it rather than being discarded.
series_apply() {
  local source_dir="$1"
  shift
  local stamp="$source_dir/.git/rdmacs-series" hash applied_hash applied_head
  hash="$(series_hash "$@")"
  applied_hash="" applied_head=""
  [[ -f "$stamp" ]] && read -r applied_hash applied_head <"$stamp"
  if [[ -n "${applied_head:-}" ]]; then
    if [[ -n "$(cd "$source_dir" && git status --porcelain --untracked-files=no)" ||
          "$(cd "$source_dir" && git rev-parse HEAD)" != "$applied_head" ]]; then
      echo "debian-source: $source_dir has work not exported to its series; export it (scripts/export-patches.sh)" \
           "or drop it (rm $stamp) first" >&2
      return 1
    fi
    [[ "$applied_hash" == "$hash" ]] && return 0
  fi
  (cd "$source_dir" && { git am --abort >/dev/null 2>&1 || true; } &&
   git checkout -q --detach && git reset -q --hard "$(git rev-list --max-parents=0 HEAD)" && git clean -qfd)
  local series patch last="${*: -1}"
  for series in "$@"; do
    while read -r patch; do
      (cd "$source_dir" && series_git am -q --keep-cr "$patch") ||
        { echo "debian-source: $(basename "$series")/$(basename "$patch") does not apply" >&2; return 1; }
    done < <(series_patches "$series")
    if [[ "$series" != "$last" ]]; then
      (cd "$source_dir" && git branch -qf "$(basename "$series")" HEAD)
    fi
  done
  (cd "$source_dir" && git checkout -q -B master)
  series_mark_applied "$source_dir" "$@"
}

# What identifies the series' contents (the cover letters aside).
series_hash() {
  for series in "$@"; do basename "$series"; series_patches "$series" | xargs -r cat; done | sha256sum | cut -d' ' -f1
}

# series_mark_applied SOURCE_DIR SERIES_DIR...: records that the tree's HEAD is the series as they are now.
series_mark_applied() {
  local source_dir="$1"
  shift
  echo "$(series_hash "$@") $(cd "$source_dir" && git rev-parse HEAD)" >"$source_dir/.git/rdmacs-series"
}

# project_series ROOT qemu|libvirt: the project's series directories, in the order they apply.
project_series() {
  case "$2" in
    qemu) printf '%s\n' "$1/qemu-patches/fixes" "$1/qemu-patches/rdma-cs" ;;
    libvirt) printf '%s\n' "$1/libvirt-patches" ;;
    *) echo "debian-source: no project $2" >&2; return 1 ;;
  esac
}
