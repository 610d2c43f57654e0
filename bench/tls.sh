#!/usr/bin/env bash
# HTTPS and HTTP/2 throughput, vigil against HAProxy, side by side (root).
#   sudo ./bench/tls.sh              # 3 interleaved runs of 10s each
#   RUNS=5 SECONDS_PER_RUN=10 ./bench/tls.sh
#   VIGIL_BIN=/tmp/vigil-old ./bench/tls.sh   # measure another build of vigil
#   VIGIL_ENV="env GOGC=200" ./bench/tls.sh    # run vigil under another environment
#   ONLY=https-hs ./bench/tls.sh                # only the workloads this matches
# Loopback, one nginx backend, the same ECDSA P-256 certificate on both
# proxies (HAProxy with alpn h2,http/1.1, nbthread 2, http-reuse always;
# vigil with http2 and no X-Forwarded-For, so both do the same work).
# Prints medians of req/s (and p50, p99 where the tool gives them) for:
#   https-ka  HTTPS keep-alive, wrk -t2 -c64
#   https-hs  HTTPS with a full handshake per request (Connection: close), wrk -t2 -c64
#   h2        HTTP/2 over TLS, h2load -c64 -m10 -t2 (percentiles from its
#             per-request log)
# and the median of the per-run ratios of vigil to HAProxy; then both
# proxies' RSS, idle and holding 1000 idle TLS clients each.
set -euo pipefail
ulimit -n 65536 2>/dev/null || true
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DUR=${SECONDS_PER_RUN:-10}
. bench/lib.sh
need_tools nginx:nginx-light haproxy:haproxy wrk:wrk h2load:nghttp2-client openssl:openssl

build_vigil
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"

start_nginx 18180

cat >"$work/haproxy.cfg" <<HAP
global
    maxconn 8000
    nbthread 2
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend tls_in
    bind 127.0.0.1:18181 ssl crt $work/haproxy.pem alpn h2,http/1.1
    default_backend be
backend be
    http-reuse always
    server nginx 127.0.0.1:18180
HAP
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!
pids+=($!)

# Both proxies at nice 0, as in bench/proxy.sh.
cat >"$work/vigil.yaml" <<VIG
api: { listen: "", socket: "$work/vigil.sock" }
nice: 0
services:
  - name: tls
    listen: 127.0.0.1:18182
    mode: proxy
    protocol: http
    forwarded_headers: false
    tls: { certs: [{ cert: "$work/cert.pem", key: "$work/key.pem" }], http2: true }
    backends: ["127.0.0.1:18180"]
VIG
${VIGIL_ENV:-} "$work/vigil" run -c "$work/vigil.yaml" >"$work/vigil.log" 2>&1 &
vigil_pid=$!
pids+=($!)

wait_ports 18180 18181 18182

wrk_run() { # port [extra wrk args] -> "rps p50 p99"
	local port=$1
	shift
	wrk -t2 -c64 -d"${DUR}s" --latency "$@" "https://127.0.0.1:$port/" 2>&1 | wrk_stats
}
h2_run() { # port -> "rps p50 p99", the percentiles from h2load's per-request log
	local out
	out=$(h2load -c64 -m10 -t2 -D"$DUR" --log-file="$work/h2.log" "https://127.0.0.1:$1/" 2>&1)
	echo "$(awk '/^finished in/ {print $4}' <<<"$out") $(awk '{print $3/1000}' "$work/h2.log" | sort -g |
		awk '{a[NR]=$1} END {printf "%.3f %.3f", a[int(NR*0.5)], a[int(NR*0.99)]}')"
}
declare -A res
workloads=()
for w in https-ka https-hs h2; do [[ $w =~ ${ONLY:-.} ]] && workloads+=("$w"); done
names=()
for w in "${workloads[@]}"; do names+=("vigil-$w" "haproxy-$w"); done
for r in $(seq "$RUNS"); do
	for n in "${names[@]}"; do
		port=18182
		[[ $n == haproxy-* ]] && port=18181
		case $n in
		*-https-ka) out=$(wrk_run "$port") ;;
		*-https-hs) out=$(wrk_run "$port" -H "Connection: close") ;;
		*-h2) out=$(h2_run "$port") ;;
		esac
		res[$n]+="$out"$'\n'
		echo "run $r $n: $out" >&2
	done
done

col() { awk -v c="$2" 'NF {print $c}' <<<"${res[$1]}" | median; }
ratio() { # vigil haproxy column -> median over runs of vigil/haproxy
	paste <(awk -v c="$3" 'NF {print $c}' <<<"${res[$1]}") <(awk -v c="$3" 'NF {print $c}' <<<"${res[$2]}") |
		awk '$2 != "-" && $2 > 0 {printf "%.3f\n", $1/$2}' | median
}
printf '\nloopback, nginx backend, ECDSA P-256, %ss runs, median of %s\n' "$DUR" "$RUNS"
printf '%-18s %10s %9s %9s\n' target req/s p50_ms p99_ms
for n in "${names[@]}"; do
	printf '%-18s %10.0f %9s %9s\n' "$n" "$(col "$n" 1)" "$(col "$n" 2)" "$(col "$n" 3)"
done
printf '\nper-run ratios of vigil to HAProxy, median:\n'
for w in "${workloads[@]}"; do
	printf '  %-9s req/s %s  p99 %s\n' "$w" "$(ratio "vigil-$w" "haproxy-$w" 1)" "$(ratio "vigil-$w" "haproxy-$w" 3)"
done

# Memory: idle, then with 1000 idle TLS clients each (one request served
# on each, then kept open).
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
go build -o "$work/tlsidle" ./bench/tlsidle
vigil_idle=$(rss "$vigil_pid")
haproxy_idle=$(rss "$haproxy_pid")
coproc IDLE { "$work/tlsidle" -n 1000 127.0.0.1:18182 127.0.0.1:18181; }
read -r ready _ <&"${IDLE[0]}"
[ "$ready" = ready ] || { echo "tlsidle failed" >&2; exit 1; }
printf '\nRSS MB      idle   with 1000 idle TLS clients\n'
printf '%-10s %6s %8s\n' vigil "$vigil_idle" "$(rss "$vigil_pid")" haproxy "$haproxy_idle" "$(rss "$haproxy_pid")"
exec {IDLE[1]}>&-
wait "$IDLE_PID" 2>/dev/null || true
