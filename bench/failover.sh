#!/usr/bin/env bash
# Failover outage, vigil vs keepalived, side by side in one run (root).
#   sudo ./bench/failover.sh
# Prints the median outage a client probing every 10ms sees when the master
# crashes (SIGKILL + link down) or stops gracefully (SIGTERM), for VRRP v2
# at 1s adverts and v3 at 100ms adverts, 5 runs each.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v keepalived >/dev/null || { apt-get update -qq && apt-get install -y -qq keepalived >/dev/null; }
VIGIL_BENCH=1 go test -count=1 -timeout 30m -run TestFailoverBench -v ./bench/failover/ | grep -vE '^(=== RUN|--- PASS|PASS$|ok )'
