#!/usr/bin/env bash
# Outage when the VRRP master loses its backends and gives the VIP away
# (issue target: <= 500ms at 100ms adverts, 100ms checks, fall 2). Root.
#   sudo ./bench/selftrack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nft >/dev/null || { apt-get update -qq && apt-get install -y -qq nftables >/dev/null; }
VIGIL_BENCH=1 go test -count=1 -timeout 10m -run TestSelfTrackBench -v ./bench/selftrack/ | grep -vE '^(=== RUN|--- PASS|PASS$|ok )'
