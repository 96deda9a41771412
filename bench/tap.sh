#!/bin/sh
# TAP throughput of ustack serve against the Linux kernel's TCP: curl uploads
# to and downloads from ustack serve over a TAP device, without and with the
# virtio-net header (--vnet-hdr), interleaved, 3 runs by default; bench/TAP.md
# records the figures. Needs root (a network namespace and a TAP device), curl
# and a Go toolchain. Environment: USTACK_TAP_BENCH_MIB (transfer size,
# default 1024), USTACK_TAP_BENCH_RUNS (default 3).
set -eu
cd "$(dirname "$0")/.."
uname -r
uptime
USTACK_TAP_BENCH=1 exec go test -count=1 -timeout 60m -run '^TestInteropTAPThroughput$' -v ./cmd/ustack/internal/serve
