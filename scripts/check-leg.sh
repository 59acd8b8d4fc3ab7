#!/bin/sh
# One leg of `make check`: runs a command with its output in a log file and
# prints one line, the leg's name, its result and its time. On failure the
# end of the log follows, and the status is non-zero.
#   scripts/check-leg.sh NAME LOGDIR COMMAND...
name=$1 logdir=$2
shift 2
mkdir -p "$logdir"
log="$logdir/$name.log"
start=$(date +%s)
if [ -n "$V" ]; then
    # verbose: everything on the terminal, and a copy in the log
    { "$@" 2>&1; echo "check-leg-status $?"; } | tee "$log"
    rc=$(sed -n 's/^check-leg-status //p' "$log")
else
    "$@" > "$log" 2>&1
    rc=$?
fi
secs=$(( $(date +%s) - start ))
# the result line: a test runner's or gradient check's closing line if any
result=$(grep -E '^[0-9]+ (passed|ops checked)' "$log" | tail -n 1)
[ -n "$result" ] || result=$(grep -v '^\s*$' "$log" | tail -n 1)
if [ "$rc" -eq 0 ]; then
    printf 'check: %-9s ok      %-40s %4ds\n' "$name" "$result" "$secs"
else
    printf 'check: %-9s FAILED  %-40s %4ds\n' "$name" "$result" "$secs"
    echo "---- last lines of $log ----"
    tail -n 40 "$log"
    echo "----"
fi
exit "$rc"
