#!/usr/bin/env bash
# Run every Go fuzz target in the repository, one after another.
#   ./bench/fuzz.sh                      # 10 minutes per target
#   FUZZTIME=30s ./bench/fuzz.sh         # a quick pass
#   FUZZ_COMMIT=0 ./bench/fuzz.sh        # keep crashers uncommitted
#   FUZZ_PARALLEL=1 ./bench/fuzz.sh      # fuzz workers per target (default: all cores)
#   FUZZMINIMIZE=60s ./bench/fuzz.sh     # effort to minimise each new input (default 100x)
#   FUZZ_ONLY='^vrrp ' ./bench/fuzz.sh    # only targets whose "dir Name" matches
# Targets are found by grep (every "func FuzzX(" in a _test.go file), so a
# new one is run without editing this script. For each it prints the execs
# done and the result. A target that fails has written its crasher to its
# package's testdata/fuzz/FuzzX/; that file becomes a regression case that
# plain `go test` runs from then on, so the script commits it (only that
# file) with the failure in the message. Exit status: 1 if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10m}
FUZZ_COMMIT=${FUZZ_COMMIT:-1}
# Go minimises every input that finds new coverage, for up to 60 s by
# default, and counts no execs meanwhile: on large seeds (the example
# configs) a 20 s run did 20 execs. 100 tries per input: 13k execs/s.
FUZZMINIMIZE=${FUZZMINIMIZE:-100x}
parallel=()
[ -n "${FUZZ_PARALLEL:-}" ] && parallel=(-parallel "$FUZZ_PARALLEL")

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
failed=0
results=()
# "dir name" per target, sorted for a stable order.
mapfile -t targets < <(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*\(' . |
	sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u |
	grep -E -- "${FUZZ_ONLY:-.}")
if ((${#targets[@]} == 0)); then
	echo "no fuzz targets found" >&2
	exit 1
fi
echo "== ${#targets[@]} fuzz targets, $FUZZTIME each"
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	out="$log/${dir//\//_}_$name.txt"
	before=$(find "$dir/testdata/fuzz/$name" -type f 2>/dev/null | sort || true)
	echo "-- $dir $name"
	status=ok
	# -run '^$': only fuzz, the package's other tests ran in CI already.
	if ! go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZE" "${parallel[@]}" "./$dir" >"$out" 2>&1; then
		status=FAIL
		failed=1
	fi
	execs=$(grep -oE 'execs: [0-9]+' "$out" | tail -1 | grep -oE '[0-9]+' || echo 0)
	result="$status"
	if [ "$status" = FAIL ]; then
		tail -20 "$out" | sed 's/^/   /'
		after=$(find "$dir/testdata/fuzz/$name" -type f 2>/dev/null | sort || true)
		new=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
		if [ -n "$new" ]; then
			result="FAIL, crasher: $new"
			if [ "$FUZZ_COMMIT" = 1 ]; then
				# Only the new crasher files: other work in the tree stays untouched.
				git add -- $new
				git commit -q -m "$dir: $name crasher found by bench/fuzz.sh" \
					-m "$(grep -m1 -E -- '--- FAIL|panic:|Error' "$out" || true)" -- $new
				result="$result (committed $(git rev-parse --short HEAD))"
			fi
		fi
	fi
	results+=("$(printf '%-22s %-20s %12s execs  %s' "$dir" "$name" "$execs" "$result")")
done
echo
echo "== results ($FUZZTIME per target)"
printf '%s\n' "${results[@]}"
exit $failed
