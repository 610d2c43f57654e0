# Shared by the proxy benchmarks (bench/proxy.sh, bench/tls.sh): sourced,
# not run. It installs what a benchmark needs, keeps its processes and
# temporary files for the cleanup, starts the nginx backend they all
# measure against, and reads wrk's numbers.

# need_tools CMD:PACKAGE...: installs the Debian packages of the missing commands.
need_tools() {
	local need=() p
	for p in "$@"; do command -v "${p%%:*}" >/dev/null || need+=("${p#*:}"); done
	if ((${#need[@]})); then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
}

# $work holds the run's files; the processes in $pids are killed on exit.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# build_vigil: $work/vigil from this tree, or the binary VIGIL_BIN names
# (to measure an earlier build beside HAProxy with the same script).
build_vigil() {
	if [ -n "${VIGIL_BIN:-}" ]; then
		cp "$VIGIL_BIN" "$work/vigil"
	else
		go build -o "$work/vigil" .
	fi
}

# start_nginx PORT: the backend, nginx answering a small body with
# keep-alive on 127.0.0.1:PORT, as REFERENCE.md measured.
start_nginx() {
	cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$1 reuseport;
        location / { return 200 "hello from nginx\n"; }
    }
}
NGINX
	nginx -c "$work/nginx.conf" &
	pids+=($!)
}

# wait_ports PORT...: waits (up to 5 s each) until something listens.
wait_ports() {
	local port
	for port in "$@"; do
		for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
	done
}

# wrk's latency is printed as 1.23ms / 456.78us / 1.2s: normalise to ms.
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }

# wrk_stats: reads wrk --latency output on stdin, prints "rps p50_ms p99_ms".
wrk_stats() {
	local out
	out=$(cat)
	echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")") $(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
}

# median: the median of the numbers on stdin, one a line.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
