#!/bin/sh
# run.sh - runs every built libFuzzer target for a while.
#
# Usage: sh tests/fuzz/run.sh SECONDS
#
# For each build-fuzz/fuzz_NAME it fuzzes a temporary copy of
# tests/fuzz/corpus/NAME/ (so new inputs never pollute the repo's seeds),
# prints one line with the number of executions and whether it crashed, and
# exits non-zero if any target crashed. A crash input is left in the
# temporary directory that is named in the output; the log is kept too.
# Run from the repository root (make fuzz-run does).

secs=${1:-}
case $secs in
'' | *[!0-9]*)
	echo "usage: sh tests/fuzz/run.sh SECONDS" >&2
	exit 2
	;;
esac

# The fuzz build does not pass -fno-sanitize-recover, so without this an
# UBSan report would be printed and the run would carry on as "ok".
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export UBSAN_OPTIONS

work=$(mktemp -d "${TMPDIR:-/tmp}/relay-fuzz.XXXXXX") || exit 2
ran=0
crashed=0

for bin in build-fuzz/fuzz_*; do
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		continue
	fi
	target=${bin##*/}
	name=${target#fuzz_}
	corpus="$work/$name-corpus"
	log="$work/$name.log"
	mkdir -p "$corpus" "$work/$name-artifacts"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -R "tests/fuzz/corpus/$name/." "$corpus/"
	fi
	ran=$((ran + 1))
	# -print_final_stats gives "stat::number_of_executed_units" even on
	# versions whose "Done N runs" line differs
	if "$bin" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$work/$name-artifacts/" \
		"$corpus" >"$log" 2>&1; then
		status=ok
	else
		status=CRASHED
		crashed=$((crashed + 1))
	fi
	# "Done 123456 runs in 60 second(s)" at the end of a clean run,
	# else the last "#N ..." progress line (e.g. "#8192 pulse ...")
	runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
	if [ -z "$runs" ]; then
		runs=$(sed -n \
			's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' \
			"$log" | tail -n 1)
	fi
	if [ -z "$runs" ]; then
		runs=$(sed -n 's/^#\([0-9][0-9]*\)[^0-9].*/\1/p' "$log" | tail -n 1)
	fi
	[ -n "$runs" ] || runs=0
	if [ "$status" = ok ]; then
		echo "$target: $runs executions, ok"
	else
		echo "$target: $runs executions, CRASHED (log $log," \
			"inputs in $work/$name-artifacts/)"
	fi
done

if [ "$ran" -eq 0 ]; then
	echo "fuzz: no targets in build-fuzz/ (run make fuzz first)" >&2
	rm -rf "$work"
	exit 2
fi
echo "fuzz: $ran targets, $((ran - crashed)) passed, $crashed crashed"
if [ "$crashed" -eq 0 ]; then
	rm -rf "$work"
	exit 0
fi
exit 1
