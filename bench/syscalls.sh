#!/bin/bash
# System calls per delivered message or per login of the bench's parleyd
# (docs/benchmarks.md, "A login" and "A one-to-one message").
#
#   bench/syscalls.sh chat|login [BUILD]      (BUILD: default ./build)
#
# Runs bench/run.py for Parley alone, finds the server by its port (never
# by name: a test server of another run could be picked), and counts its
# system calls with perf's syscall tracepoints over a window in the middle
# of the phase: 8 s of the 1,000 msg/s chat, or 6 s of the concurrent
# logins.  Counts are divided by the messages (1,000/s) or logins (one
# close() each) in the window.  Counts do not depend on CPU noise, so
# steal re-runs are off (they would move the window).
set -euo pipefail
what=${1:?usage: bench/syscalls.sh chat|login [BUILD]}
build=$(realpath "${2:-build}")
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/parley-syscalls.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
calls="read write readv writev epoll_wait epoll_ctl futex getrandom accept4 close"
events=$(printf 'syscalls:sys_enter_%s,' $calls)
case $what in
chat) args=(--scenarios chat --duration 25) window=8 settle=6 ;;
login) args=(--scenarios login --duration 12) window=6 settle=4 ;;
*) echo "bench/syscalls.sh: chat or login, not '$what'" >&2; exit 2 ;;
esac
PARLEY_BENCH_BUILD=$build /usr/bin/python3 bench/run.py --servers parley --rounds 1 --max-steal 100 --no-selftest \
    "${args[@]}" --out "$tmp/run.json" > "$tmp/run.log" 2>&1 &
run=$!
until grep -q "registered" "$tmp/run.log" 2>/dev/null; do
    kill -0 $run 2>/dev/null || { cat "$tmp/run.log"; exit 1; }
    sleep 0.2
done
port=$(grep -o "on port [0-9]*" "$tmp/run.log" | head -1 | cut -d' ' -f3)
pid=$(ss -ltnpH "sport = :$port" | grep -o "pid=[0-9]*" | head -1 | cut -d= -f2)
sleep $settle
perf stat -x, -e "${events%,}" -p "$pid" -- sleep $window 2> "$tmp/perf.csv"
wait $run || true
grep -E "login:|chat offered" "$tmp/run.log"
if [ "$what" = chat ]; then
    per=$((1000 * window)) unit="delivered message"
else
    # Every login's connection ends with one close(): the exact count of
    # logins in the window (the phase's average rate would be +-10 %).
    per=$(awk -F, '$3 == "syscalls:sys_enter_close" { print $1 }' "$tmp/perf.csv") unit="login"
fi
echo "system calls per $unit ($build, pid $pid, ${window} s window):"
awk -F, -v n="$per" '{ c = $3; sub("syscalls:sys_enter_", "", c); s += $1
                       printf "  %-12s %8.2f\n", c, $1 / n }
                     END { printf "  %-12s %8.2f\n", "all", s / n }' "$tmp/perf.csv"
