#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run kiln's libFuzzer targets (built by `make fuzz-build`, see mk/fuzz.mk).
#
#   fuzz.sh SECONDS [TARGET...]   every target (or those named), one after the other
#
# For each target: replay every input in fuzz/regressions/<target>/ (inputs
# that once crashed it), then fuzz for SECONDS on its persistent corpus
# build/fuzz/corpus/<target>/ (seeded by build/fuzz/seedgen; it accumulates
# across runs). A crash, leak or timeout fails the run and leaves the input in
# build/fuzz/crashes/<target>/. Executions are added up in
# build/fuzz/stats/<target>, one line per run.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${1:?usage: fuzz.sh SECONDS [TARGET...]}"
shift
fuzz=build/fuzz
if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for src in fuzz/fuzz_*.c; do
		name="${src#fuzz/fuzz_}"
		targets+=("${name%.c}")
	done
fi

mkdir -p "$fuzz/corpus" "$fuzz/stats" "$fuzz/logs"
"$fuzz/seedgen" "$fuzz/corpus" || exit 1

failed=()
for t in "${targets[@]}"; do
	bin="$fuzz/$t"
	log="$fuzz/logs/$t.log"
	mkdir -p "$fuzz/crashes/$t" "$fuzz/corpus/$t"   # seedgen makes only the seeded ones
	regressions=(fuzz/regressions/"$t"/*)
	if [ -e "${regressions[0]}" ] &&
	   ! "$bin" -artifact_prefix="$fuzz/crashes/$t/" "${regressions[@]}" >"$log" 2>&1; then
		echo "fuzz: $t: FAILED on a regression input (fuzz/regressions/$t/); see $log"
		tail -n 30 "$log"
		failed+=("$t")
		continue
	fi
	if ! "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$fuzz/crashes/$t/" \
		"$fuzz/corpus/$t" >"$log" 2>&1; then
		echo "fuzz: $t: FAILED; the input is in $fuzz/crashes/$t/; see $log"
		grep -E '^(fuzz:|==[0-9]+==ERROR|SUMMARY)' "$log" | head -n 5
		failed+=("$t")
		continue
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	echo "${runs:-0}" >>"$fuzz/stats/$t"
	total=$(awk '{ n += $1 } END { print n }' "$fuzz/stats/$t")
	echo "fuzz: $t: ${runs:-0} executions in ${seconds} s, nothing found ($total over all runs)"
done

if [ ${#failed[@]} -ne 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}"
	exit 1
fi
