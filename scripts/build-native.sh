#!/usr/bin/env bash
# Builds the native parts into build/cmake: the engine (NativeAOT, librdmacs-engine.so), the shim QEMU loads
# (librdmacs-qemu.so, beside it) and the C tests and benchmark. Quiet unless something fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
"$root/scripts/setup.sh"
log="$root/build/cmake-build.log"
mkdir -p "$root/build"
if ! { cmake -S "$root" -B "$root/build/cmake" -DCMAKE_BUILD_TYPE=Release && cmake --build "$root/build/cmake"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "build-native: the build failed (output above)" >&2
  exit 1
fi
