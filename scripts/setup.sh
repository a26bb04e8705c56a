#!/usr/bin/env bash
# Installs what rdma-cs needs on a Debian 12 machine: the apt packages listed in scripts/apt-packages.txt, or
# in the lists given as arguments (scripts/build-qemu.sh adds apt-packages-qemu.txt).
# Idempotent, and quiet when everything is there already. Needs root (or sudo) only when it installs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lists=("$@")
if ((${#lists[@]} == 0)); then
  lists=("$here/apt-packages.txt")
fi
mapfile -t packages < <(sed -e 's/#.*//' "${lists[@]}" | awk 'NF { print $1 }')

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  sudo=""
  if ((EUID != 0)); then
    sudo="sudo"
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists once when they are missing or a day old, not on every run.
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 -print -quit 2>/dev/null)" ]]; then
    $sudo apt-get update -qq
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null || ! dotnet --list-sdks | grep -q '^10\.'; then
  echo "setup: the .NET 10 SDK is required (dotnet on PATH); Debian 12 does not package it" >&2
  exit 1
fi
