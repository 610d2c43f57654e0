#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages), then
# checks formatting and vet, and runs every test, the end-to-end ones in
# network namespaces included (they need root; as non-root they skip).
#   sudo ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in ip:iproute2 ping:iputils-ping nft:nftables keepalived:keepalived tcpdump:tcpdump; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if ((${#need[@]})); then
	if [ "$(id -u)" = 0 ]; then
		echo "== installing: ${need[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	else
		echo "== not root: cannot install ${need[*]}; tests that need them will skip"
	fi
fi
# keepalived's package starts a service with the default config; tests run
# their own keepalived in namespaces and must not race a system one.
if command -v systemctl >/dev/null 2>&1; then systemctl stop keepalived 2>/dev/null || true; fi
pkill -x keepalived 2>/dev/null || true

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "not gofmt'd:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== unit tests (race detector)"
go test -race -count=1 $(go list ./... | grep -v '/tests$')
echo "== end-to-end tests (network namespaces, real keepalived)"
go test -count=1 -timeout 20m ./tests/
