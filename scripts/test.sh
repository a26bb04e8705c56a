#!/usr/bin/env bash
# Runs every test of rdma-cs: what CI runs (.ci/run), and what the README's test command is.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

scripts/setup.sh

echo "== native: the engine (NativeAOT), the shim, the C tests and the test guest"
scripts/build-native.sh

echo "== QEMU 7.2 with qemu-patches/ and QEMU's qtests (about 7 minutes on a fresh machine)"
scripts/build-qemu.sh >/dev/null

echo "== the Linux test guest's kernel, from Debian's linux-image-amd64 (downloaded once, not installed)"
scripts/fetch-linux-kernel.sh

echo "== libvirt 9.0 with libvirt-patches/ and libvirt's unit tests (about 7 minutes on a fresh machine)"
scripts/build-libvirt.sh >/dev/null

echo "== .NET tests (engine, bindings, serve/send processes, QEMU migrations, virsh migrations between libvirt hosts)"
dotnet test Plugin.sln -c Release --nologo -v quiet --logger "console;verbosity=normal"

echo "== C hosts playing QEMU against the plugin (ctest)"
ctest --test-dir build/cmake --output-on-failure --timeout 300   # a hang fails in minutes, not at CI's limit

echo "== the upstream suites: QEMU's migration-test with the rdma-cs cases, libvirt's unit tests our series touches"
scripts/test-upstream.sh

echo "== the main job, small: a QEMU guest migrated over rdma-cs and tcp:, memory verified"
./rdmacs demo --json --memory 256M --budget 16M > build/demo-smoke.json
grep -q '"verified": true' build/demo-smoke.json

echo "== the engine's own demo: a live region between two rdmacs processes"
./rdmacs demo processes --json --size 64M --budget 8M --rounds 3 > build/demo-processes-smoke.json
grep -q '"verified": true' build/demo-processes-smoke.json

echo "== all tests passed"
