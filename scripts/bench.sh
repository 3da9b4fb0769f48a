#!/usr/bin/env bash
# make bench: publink vs a bare Caddy reverse_proxy, side by side in one
# publink process, driven by wrk (see docs/BENCHMARKS.md). Extra arguments go
# to the harness, e.g. ./scripts/bench.sh -stores embedded -only content-1k
# or -profile /tmp/prof. About 6-7 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "make bench needs ${need[*]}: install with 'sudo apt-get install ${need[*]}'" >&2
    exit 1
  fi
fi

out=$(mktemp -d -t publink-bench-bin.XXXXXX)
trap 'rm -rf "$out"' EXIT
# Built once; the harness runs these exact binaries.
go build -o "$out/publink" ./cmd/publink
go build -o "$out/mediastore" ./cmd/mediastore
go build -o "$out/bench" ./tests/bench
"$out/bench" -publink "$out/publink" -mediastore "$out/mediastore" "$@"
