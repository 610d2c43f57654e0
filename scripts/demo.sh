#!/usr/bin/env bash
# The newcomer's first command: builds vigil and runs `vigil demo`, which
# shows a VIP failing over between two vigil nodes in network namespaces on
# this machine, with the outage a client sees, then cleans everything up
# (also on Ctrl-C). Extra arguments go to vigil demo (see --help).
#   sudo ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: the demo creates network namespaces"; exit 1; }
go build -o ./vigil . && echo "built ./vigil ($(./vigil version | head -n1))"
exec ./vigil demo "$@"
