#!/usr/bin/env bash
# Proxy throughput and latency, vigil against HAProxy, side by side (root).
#   sudo ./bench/proxy.sh            # 3 interleaved runs of 10s each
#   RUNS=5 SECONDS_PER_RUN=10 ./bench/proxy.sh
#   VIGIL_ENV="env GOMAXPROCS=1" ./bench/proxy.sh   # run vigil under another environment
#   PROFILE=0 ./bench/proxy.sh       # skip the CPU profiles of vigil at the end
#   VIGIL_BIN=/tmp/vigil-old ./bench/proxy.sh   # measure another build of vigil
# Loopback, one nginx backend, wrk -t2 -c64. Prints medians of req/s, p50,
# p99 for: wrk straight to nginx, vigil and HAProxy in tcp and http mode
# (HAProxy http with http-reuse always, vigil without X-Forwarded-For, so
# both do the same work), and vigil http with its access log written to a
# file (HAProxy's line); ratios to direct, to HAProxy, and of vigil http
# with its access log to without; RSS of vigil and HAProxy idle and at
# 1000 connections; and where vigil's CPU goes (pprof, through vigil
# profile).
set -euo pipefail
ulimit -n 65536 2>/dev/null || true
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DUR=${SECONDS_PER_RUN:-10}
. bench/lib.sh
need_tools nginx:nginx-light haproxy:haproxy wrk:wrk

build_vigil
start_nginx 18080

cat >"$work/haproxy.cfg" <<HAP
global
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend tcp_in
    bind 127.0.0.1:18081
    default_backend be
frontend http_in
    mode http
    bind 127.0.0.1:18083
    default_backend be_http
backend be
    server nginx 127.0.0.1:18080
backend be_http
    mode http
    http-reuse always
    server nginx 127.0.0.1:18080
HAP
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 & pids+=($!)
hap_pid=$!

# Both proxies run at nice 0: vigil's default, -10 (VRRP adverts on time
# on a saturated node), would take CPU from wrk and nginx on this shared
# box and measure the scheduler, not the proxy. VIGIL_NICE=-10 to see it.
cat >"$work/vigil.yaml" <<VIG
api: { listen: "", socket: "$work/vigil.sock" }
nice: ${VIGIL_NICE:-0}
services:
  - name: bench
    listen: 127.0.0.1:18082
    mode: proxy
    protocol: tcp
    backends: ["127.0.0.1:18080"]
  - name: bench-http
    listen: 127.0.0.1:18084
    mode: proxy
    protocol: http
    forwarded_headers: false
    backends: ["127.0.0.1:18080"]
  - name: bench-http-log
    listen: 127.0.0.1:18085
    mode: proxy
    protocol: http
    forwarded_headers: false
    backends: ["127.0.0.1:18080"]
    access_log: { to: "$work/access.log", format: haproxy }
VIG
${VIGIL_ENV:-} "$work/vigil" run -c "$work/vigil.yaml" >"$work/vigil.log" 2>&1 & pids+=($!)
vigil_pid=$!

wait_ports 18080 18081 18082 18083 18084 18085

for n in nginx:"${pids[0]}":nginx.err haproxy:$hap_pid:haproxy.log vigil:$vigil_pid:vigil.log; do
	IFS=: read -r name pid log <<<"$n"
	kill -0 "$pid" 2>/dev/null || { echo "$name exited:"; cat "$work/$log"; exit 1; }
done

rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
declare -A rss_idle rss_1000
rss_idle[vigil]=$(rss $vigil_pid); rss_idle[haproxy]=$(rss $hap_pid)

run() { # name port -> "rps p50 p99"
	local out; out=$(wrk -t2 -c64 -d"${DUR}s" --latency "http://127.0.0.1:$2/" 2>&1)
	if [ "$1" = vigil-http-log ]; then
		echo "$(awk '/requests in/ {print $1}' <<<"$out")" >>"$work/logged_requests"
	fi
	wrk_stats <<<"$out"
}
declare -A res
names=(direct vigil-tcp haproxy-tcp vigil-http haproxy-http vigil-http-log)
declare -A port=([direct]=18080 [vigil-tcp]=18082 [haproxy-tcp]=18081 [vigil-http]=18084 [haproxy-http]=18083 [vigil-http-log]=18085)
for r in $(seq "$RUNS"); do
	for n in "${names[@]}"; do
		res[$n]+="$(run "$n" "${port[$n]}")"$'\n'
		echo "run $r $n: $(tail -n1 <<<"${res[$n]%$'\n'}")" >&2
	done
done

# RSS at 1000 keep-alive connections, sampled in the middle of a 6s run.
for n in vigil haproxy; do
	p=18082; pid=$vigil_pid
	[ $n = haproxy ] && { p=18081; pid=$hap_pid; }
	wrk -t2 -c1000 -d6s "http://127.0.0.1:$p/" >/dev/null 2>&1 &
	sleep 4; rss_1000[$n]=$(rss $pid); wait $!
done

col() { awk -v c="$2" 'NF {print $c}' <<<"${res[$1]}" | median; }
printf '\nloopback, nginx backend, wrk -t2 -c64 -d%ss, median of %s runs\n' "$DUR" "$RUNS"
printf '%-13s %10s %9s %9s %9s %10s\n' target req/s p50_ms p99_ms x_direct x_haproxy
d=$(col direct 1)
for n in "${names[@]}"; do
	rps=$(col "$n" 1); p50=$(col "$n" 2); p99=$(col "$n" 3)
	ref=""
	case $n in vigil-tcp) ref=$(col haproxy-tcp 1) ;; vigil-http | vigil-http-log) ref=$(col haproxy-http 1) ;; haproxy-*) ref=$rps ;; esac
	xd=$(awk -v a="$rps" -v b="$d" 'BEGIN {printf "%.2f", a/b}')
	xh=-; [ -n "$ref" ] && xh=$(awk -v a="$rps" -v b="$ref" 'BEGIN {printf "%.2f", a/b}')
	printf '%-13s %10.0f %9s %9s %9s %10s\n' "$n" "$rps" "$p50" "$p99" "$xd" "$xh"
done
# The host's load drifts over minutes, moving both proxies together: the
# ratio within each run (the two measured a few seconds apart) varies less
# than the ratio of the medians.
ratio() { # vigil haproxy column -> median over runs of vigil/haproxy
	paste <(awk -v c="$3" 'NF {print $c}' <<<"${res[$1]}") <(awk -v c="$3" 'NF {print $c}' <<<"${res[$2]}") |
		awk '{printf "%.3f\n", $1/$2}' | median
}
printf '\nper-run ratios to HAProxy, median: tcp req/s %s p99 %s; http req/s %s p99 %s\n' \
	"$(ratio vigil-tcp haproxy-tcp 1)" "$(ratio vigil-tcp haproxy-tcp 3)" "$(ratio vigil-http haproxy-http 1)" "$(ratio vigil-http haproxy-http 3)"
# The access log's cost: vigil http with it to a file against without,
# per run, and whether the file has a line for every request.
lines=$(wc -l <"$work/access.log")
requests=$(awk '{s += $1} END {print s + 0}' "$work/logged_requests")
printf '\naccess log to a file (haproxy format): vigil http req/s with it %.0f, without %.0f; per-run ratio with/without, median: %s\n' \
	"$(col vigil-http-log 1)" "$(col vigil-http 1)" "$(ratio vigil-http-log vigil-http 1)"
printf 'lines written %s; requests wrk completed %s (a line per request: a few more lines are the requests under way when a run ended, fewer lines are drops)\n' "$lines" "$requests"
printf '\nRSS MB      idle   at 1000 conns\n'
for n in vigil haproxy; do printf '%-9s %6s %8s\n' "$n" "${rss_idle[$n]}" "${rss_1000[$n]}"; done

# Where vigil's CPU goes under the same load: a pprof CPU profile of one
# more run per mode (not counted above: profiling costs a little).
if [ "${PROFILE:-1}" = 1 ]; then
	for mode in tcp:18082 http:18084; do
		wrk -t2 -c64 -d"$((DUR + 2))s" "http://127.0.0.1:${mode#*:}/" >/dev/null 2>&1 &
		sleep 1
		"$work/vigil" profile -s "$work/vigil.sock" -seconds "$DUR" -o "$work/${mode%%:*}.pprof" >/dev/null
		wait $!
		printf '\nvigil %s mode, CPU profile (%ss under load), top functions by own time:\n' "${mode%%:*}" "$DUR"
		go tool pprof -top -nodecount=10 "$work/${mode%%:*}.pprof" 2>/dev/null | sed -n '/flat%/,$p'
	done
fi
