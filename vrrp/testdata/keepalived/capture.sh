#!/bin/bash
# Captures real keepalived adverts for the codec tests (run as root):
#   apt-get install -y --no-install-recommends keepalived tcpdump
#   bash vrrp/testdata/keepalived/capture.sh
# Each scenario runs keepalived in the foreground in a throwaway network
# namespace, captures its adverts from the peer end of a veth pair, and
# stores the VRRP payload (IP header stripped) as NAME.bin plus NAME.txt
# with the IP addresses, TTL, tcpdump's decode and the config used. When
# keepalived is stopped it resigns with priority 0; that advert is stored
# as NAME-prio0.bin/.txt.
set -euo pipefail
OUT=$(cd "$(dirname "$0")" && pwd)
TAG=vcap-$RANDOM
TMP=$(mktemp -d)
KPIDS=()
NSES=()
cleanup() {
	for p in "${KPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for n in "${NSES[@]}"; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
ONLY=${1:-} # optional: run only this scenario
KVER=$(keepalived --version 2>&1 | sed -n 1p)

# scenario NAME SECONDS CONFIG_BODY
scenario() {
	local name=$1 secs=$2 conf=$3
	if [[ -n $ONLY && $name != "$ONLY" ]]; then return 0; fi
	local a=$TAG-$name-a b=$TAG-$name-b dir=$TMP/$name
	mkdir -p "$dir"
	ip netns add "$a"; NSES+=("$a")
	ip netns add "$b"; NSES+=("$b")
	for n in "$a" "$b"; do
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
		ip netns exec "$n" ip link set lo up
	done
	ip netns exec "$a" ip link add vA type veth peer name vB netns "$b"
	ip netns exec "$a" ip addr add 192.0.2.1/24 dev vA
	ip netns exec "$b" ip addr add 192.0.2.2/24 dev vB
	ip netns exec "$a" ip link set vA up
	ip netns exec "$b" ip link set vB up
	sleep 1 # link-local addresses
	printf '%s\n' "$conf" >"$dir/keepalived.conf"
	ip netns exec "$b" timeout -s INT $((secs + 3)) \
		tcpdump -i vB -U -n -w "$dir/cap.pcap" 'ip proto 112 or ip6 proto 112' 2>"$dir/tcpdump.log" &
	local tpid=$!
	sleep 1
	ip netns exec "$a" keepalived -n -l -D -f "$dir/keepalived.conf" \
		-p "$dir/keepalived.pid" -r "$dir/vrrp.pid" -c "$dir/check.pid" >"$dir/keepalived.log" 2>&1 &
	local kpid=$!
	KPIDS+=("$kpid")
	sleep "$secs"
	kill -TERM "$kpid"
	wait "$kpid" || true
	wait "$tpid" || true
	extract "$name" "$dir"
}

# derive_nopseudo IN OUT: keepalived 2.2.7 (Debian bookworm) does not know
# v3_checksum_as_v2 (added in 2.2.8; it logs "Unknown keyword" and keeps the
# pseudo-header), so the RFC 9568 message-only checksum variant is derived
# from a real capture by recomputing its checksum without the pseudo-header.
derive_nopseudo() {
	local in=$1 out=$2 hex s=0 i
	hex=$(xxd -p "$OUT/$in.bin" | tr -d '\n')
	hex=${hex:0:12}0000${hex:16}
	for ((i = 0; i < ${#hex}; i += 4)); do s=$((s + 16#${hex:i:4})); done
	while ((s > 0xffff)); do s=$(((s >> 16) + (s & 0xffff))); done
	s=$(printf '%04x' $((~s & 0xffff)))
	xxd -r -p <<<"${hex:0:12}$s${hex:16}" >"$OUT/$out.bin"
	{
		echo "derived: $in.bin with the checksum recomputed over the VRRP message only"
		echo "  (no IPv4 pseudo-header), as keepalived >= 2.2.8 sends with v3_checksum_as_v2"
		echo "  and RFC 9568 specifies. keepalived 2.2.7 rejects that keyword."
		cat "$OUT/$in.txt"
	} >"$OUT/$out.txt"
	echo "$out: derived from $in"
}

# extract NAME DIR: first advert and first priority-0 advert of the capture.
extract() {
	local name=$1 dir=$2
	tcpdump -r "$dir/cap.pcap" -n -v -x 2>/dev/null | awk '
		/^[0-9]/ { if (hex != "") print desc "\t" hex; desc = $0; hex = ""; next }
		/^\t0x/ { sub(/^\t0x[0-9a-f]+: +/, ""); gsub(/ /, ""); hex = hex $0; next }
		{ sub(/^ +/, ""); desc = desc " " $0 }
		END { if (hex != "") print desc "\t" hex }' >"$dir/packets.txt"
	local first=1 prio0=1 desc hex ip off vrrp prio
	while IFS=$'\t' read -r desc hex; do
		if [[ $hex == 4* ]]; then
			ip=4; off=$(( (16#${hex:1:1}) * 4 ))
		else
			ip=6; off=40
		fi
		vrrp=${hex:$((off * 2))}
		prio=$((16#${vrrp:4:2}))
		local stem=""
		if ((first)); then stem=$name; first=0
		elif ((prio == 0 && prio0)); then stem=$name-prio0; prio0=0
		else continue; fi
		local src dst ttl
		src=$(sed -E 's/.*\) ([0-9a-f.:]+) > ([0-9a-f.:]+): .*/\1/' <<<"$desc")
		dst=$(sed -E 's/.*\) ([0-9a-f.:]+) > ([0-9a-f.:]+): .*/\2/' <<<"$desc")
		ttl=$(grep -oE '(ttl|hlim) [0-9]+' <<<"$desc" | awk '{print $2}')
		xxd -r -p <<<"$vrrp" >"$OUT/$stem.bin"
		{
			echo "src: $src"
			echo "dst: $dst"
			echo "ttl: $ttl"
			echo "keepalived: $KVER"
			echo "tcpdump: $desc"
			grep -iE 'unknown|error|warn' "$dir/keepalived.log" | sed 's/^/keepalived log: /' || true
			echo "config:"
			sed 's/^/    /' "$dir/keepalived.conf"
		} >"$OUT/$stem.txt"
	done <"$dir/packets.txt"
	if ((first)); then
		echo "no adverts captured for $name" >&2
		cat "$dir/keepalived.log" >&2
		return 1
	fi
	echo "$name: $(wc -l <"$dir/packets.txt") packets"
}

scenario v2-pass 6 'global_defs {
    router_id vcap
}
vrrp_instance VI_1 {
    state MASTER
    interface vA
    virtual_router_id 51
    priority 150
    advert_int 1
    version 2
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}'

scenario v2-noauth 10 'global_defs {
    router_id vcap
}
vrrp_instance VI_1 {
    state MASTER
    interface vA
    virtual_router_id 52
    priority 100
    advert_int 2
    version 2
    virtual_ipaddress {
        192.0.2.101/24
        192.0.2.102/24
    }
}'

scenario v2-longpass 6 'global_defs {
    router_id vcap
}
vrrp_instance VI_1 {
    state MASTER
    interface vA
    virtual_router_id 57
    priority 120
    advert_int 1
    version 2
    authentication {
        auth_type PASS
        auth_pass 0123456789abc
    }
    virtual_ipaddress {
        192.0.2.107/24
    }
}'

scenario v3-ipv4 6 'global_defs {
    router_id vcap
}
vrrp_instance VI_1 {
    state MASTER
    interface vA
    virtual_router_id 53
    priority 200
    advert_int 0.5
    version 3
    virtual_ipaddress {
        192.0.2.103/24
        192.0.2.104/24
        192.0.2.105/24
    }
}'

scenario v3-ipv4-unicast 6 'global_defs {
    router_id vcap
}
vrrp_instance VI_1 {
    state MASTER
    interface vA
    virtual_router_id 56
    priority 250
    advert_int 1
    version 3
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    virtual_ipaddress {
        192.0.2.108/24
    }
}'

scenario v3-ipv6 6 'global_defs {
    router_id vcap
}
vrrp_instance VI_6 {
    state MASTER
    interface vA
    virtual_router_id 55
    priority 180
    advert_int 1
    version 3
    virtual_ipaddress {
        2001:db8:5::100/64
        2001:db8:5::101/64
    }
}'

if [[ -z $ONLY || $ONLY == v3-ipv4 ]]; then derive_nopseudo v3-ipv4 v3-ipv4-nopseudo; fi
