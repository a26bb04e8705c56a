#!/usr/bin/env bash
# Regenerates the C# bindings (bindings/RdmaCs.Bindings/Generated) from the installed libfabric headers
# and from include/rdma-cs-plugin.h.
# The tests fail when the committed files differ from what this writes: run it, review the diff, commit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
"$root/scripts/setup.sh"
dotnet run --project "$root/bindings/RdmaCs.Bindings.Generator" -c Release -- --output "$root"
