#!/usr/bin/env bash
# The newcomer's first command: builds vigil and shows a VIP failing over
# between two vigil nodes in network namespaces on this machine, with the
# outage a client sees, then cleans everything up (also on Ctrl-C).
#   sudo ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: it creates network namespaces"; exit 1; }
command -v ping >/dev/null || { apt-get update -qq && apt-get install -y -qq iputils-ping iproute2 >/dev/null; }

go build -o ./vigil . && echo "built ./vigil ($(./vigil version))"
id=vdemo$$
work=$(mktemp -d)
cleanup() {
	for n in lb1 lb2; do [ -f "$work/$n.pid" ] && kill -9 "$(cat "$work/$n.pid")" 2>/dev/null || true; done
	[ -f "$work/ping.pid" ] && kill "$(cat "$work/ping.pid")" 2>/dev/null || true
	for n in client lb1 lb2 sw; do ip netns del "$id-$n" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
t0=$(date +%s.%N)
say() { printf '[%5.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {print a - b}')" "$*"; }

ip netns add "$id-sw"
ip -n "$id-sw" link add br0 type bridge mcast_snooping 0
ip -n "$id-sw" link set br0 up
i=0
for n in lb1 lb2 client; do
	i=$((i + 1))
	ip netns add "$id-$n"
	ip -n "$id-sw" link add "p$i" type veth peer name eth0 netns "$id-$n"
	ip -n "$id-sw" link set "p$i" master br0 up
	ip -n "$id-$n" addr add "10.0.0.$i/24" dev eth0
	ip -n "$id-$n" link set eth0 up
	ip -n "$id-$n" link set lo up
done
say "lab up: lb1 10.0.0.1, lb2 10.0.0.2, client 10.0.0.3; VIP 10.0.0.100"

for n in lb1 lb2; do
	prio=150; [ $n = lb2 ] && prio=100
	cat >"$work/$n.yaml" <<YAML
node: $n
api: { listen: "", socket: "" }
vrrp:
  - name: VI_DEMO
    interface: eth0
    vrid: 51
    priority: $prio
    advert_interval: 100ms
    vips: [10.0.0.100/24]
    garp: { delay: 0s, repeat: 3 }
YAML
done
# In a subshell, so bash does not report the kills below as job events.
start() { (ip netns exec "$id-$1" ./vigil run -c "$work/$1.yaml" >"$work/$1.log" 2>&1 & echo $! >"$work/$1.pid"); }
owner() { for n in lb1 lb2; do ip -n "$id-$n" -o addr show | grep -q ' 10.0.0.100/' && printf '%s ' $n; done; }
wait_owner() { for _ in $(seq 100); do [ "$(owner)" = "$1 " ] && return 0; sleep 0.05; done; echo "timeout waiting for $1"; return 1; }

start lb1; start lb2
wait_owner lb1 && say "VIP on lb1 (priority 150); lb2 (100) is backup"
(ip netns exec "$id-client" ping -n -D -O -i 0.01 -W 0.1 10.0.0.100 >"$work/ping.log" 2>&1 & echo $! >"$work/ping.pid")
sleep 1
say "crash lb1: kill -9 vigil and cut its link (no goodbye advert)"
kill -9 "$(cat "$work/lb1.pid")"; rm "$work/lb1.pid"
ip -n "$id-lb1" link set eth0 down
for _ in $(seq 100); do ip -n "$id-lb2" -o addr show | grep -q ' 10.0.0.100/' && break; sleep 0.05; done
sleep 1
# The outage is the longest silence between two answers (ping -D stamps them).
gap=$(awk -F'[][]' '/bytes from/ { if (last) { d = $2 - last; if (d > max) max = d } last = $2 } END { printf "%d", max * 1000 }' "$work/ping.log")
say "VIP on lb2; the client, pinging every 10ms, went ${gap}ms without an answer"
say "lb1 comes back (link up, vigil restarted): it drops its stale VIP, then preempts"
ip -n "$id-lb1" link set eth0 up
start lb1
wait_owner lb1 && say "VIP on lb1 again"
say "graceful stop of lb1 (SIGTERM: priority 0, immediate handover)"
kill -TERM "$(cat "$work/lb1.pid")"; rm "$work/lb1.pid"
wait_owner lb2 && say "VIP on lb2"
echo; echo "lb2's log:"; sed 's/^/  /' "$work/lb2.log" | grep -E 'transition|starting' || true
