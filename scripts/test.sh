#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages), then
# checks formatting and vet, and runs every test, the end-to-end ones in
# network namespaces and the IPVS ones in a qemu VM included (they need
# root; as non-root they skip).
#   sudo ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: the web page's browser test (api/browser_test.go) drives it
# headless through chromedp. haproxy: its halog reads vigil's access log
# lines, and the end-to-end tests compare them with HAProxy's own.
# prometheus: its promtool checks and unit-tests the shipped alert rules
# (monitoring_test.go). lintian, rpm and groff read back the packages and
# the man page scripts/package.sh makes (package_test.go, manpage_test.go);
# zsh and fish check their completion scripts (completion_test.go).
# qemu-user runs tests built for arm64, the other architecture the image
# and the packages are built for.
need=()
for pair in ip:iproute2 ping:iputils-ping nft:nftables keepalived:keepalived tcpdump:tcpdump wrk:wrk \
	qemu-system-x86_64:qemu-system-x86 cpio:cpio depmod:kmod xz:xz-utils chromium:chromium \
	haproxy:haproxy qemu-aarch64:qemu-user promtool:prometheus lintian:lintian rpm:rpm groff:groff-base zsh:zsh fish:fish; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# The IPVS tests boot Debian's stock kernel in qemu (tests/vm) with a static
# busybox as the initramfs's userland. Checked by package, not by command:
# Debian's default busybox is dynamically linked, useless without a libc.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
if ((${#need[@]})); then
	if [ "$(id -u)" = 0 ]; then
		echo "== installing: ${need[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
		# Debian's prometheus package starts a Prometheus server (on :9090)
		# where systemd runs; the tests need only its promtool.
		if [[ " ${need[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
			systemctl disable --now prometheus >/dev/null 2>&1 || true
		fi
	else
		echo "== not root: cannot install ${need[*]}; tests that need them will skip"
	fi
fi
# A keepalived already running on this machine is left alone: the tests run
# their own in network namespaces, where the machine's cannot interfere.

# h2spec checks HTTP/2 conformance (proxy/h2 and the services' TLS and h2c
# listeners); it comes from the Go module proxy, and its absence fails the
# tests that run it.
if ! command -v h2spec >/dev/null 2>&1; then
	echo "== installing h2spec"
	GOBIN=/usr/local/bin go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible 2>/dev/null ||
		GOBIN="$(go env GOPATH)/bin" go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
	PATH=$PATH:$(go env GOPATH)/bin
fi
export VIGIL_REQUIRE_H2SPEC=1
# Without lintian, dpkg-deb, rpm or groff the packaging tests would skip;
# here their absence is a failure.
export VIGIL_REQUIRE_PACKAGING=1
export VIGIL_REQUIRE_PROMTOOL=1

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "not gofmt'd:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== unit tests (race detector)"
go test -race -count=1 $(go list ./... | grep -v '/tests$')
echo "== proxy tests again, every HTTP connection on the goroutine path"
go test -race -count=1 ./proxy -args -http-goroutines
echo "== proxy tests again, every service on one dedicated relay (as vigil run does)"
go test -race -count=1 ./proxy -args -dedicated-relay
echo "== differential fuzzing, briefly: what vigil forwards means the same to net/http (bench/fuzz.sh runs it long)"
for target in FuzzForwardRequest FuzzForwardResponse; do
	go test -run '^$' -fuzz "^$target\$" -fuzztime 20s ./proxy/httpcore
done
echo "== fuzzing the HTTP/2 connection briefly (bench/fuzz.sh runs it long)"
go test -run '^$' -fuzz '^FuzzFeed$' -fuzztime 20s ./proxy/h2
echo "== arm64: every package and test compiles and vets; the pure parts' and the proxy's tests run under qemu-user"
GOARCH=arm64 go vet ./...
arm64=$(mktemp -d)
for pkg in ./proxy ./proxy/h2 ./proxy/httpcore ./proxy/balance ./proxy/proxyproto ./config ./vrrp; do
	GOARCH=arm64 go test -c -o "$arm64/pkg.test" "$pkg"
	(cd "$pkg" && qemu-aarch64 "$arm64/pkg.test" -test.count=1 >"$arm64/out" 2>&1) || {
		tail -50 "$arm64/out"
		echo "arm64 tests of $pkg failed"
		exit 1
	}
	echo "ok   $pkg (arm64, qemu-user)"
done
rm -rf "$arm64"
echo "== end-to-end tests (network namespaces, real keepalived)"
go test -count=1 -timeout 20m ./tests/
