#!/usr/bin/env bash
# Offline speed of `httptop -r`, next to the reference floor (../shared/tools/pcap-floor
# parse-read), run alternately on the same capture, on two captures: the 2 GB loopback one
# (64 KiB segments: every head in one packet) and the MTU-1500 one (Ethernet-sized packets:
# heads and bodies span segments, so reassembly shows). For each: median wall time,
# packets/s, MB/s, exchanges/s and peak resident memory, with and without
# `--log /dev/null`, and the ratios to the floor.
#
#   benches/offline.sh [-s SIZE_MB] [-m MTU_SIZE_MB] [-n RUNS] [-f CAPTURE]... [-b BASE_BINARY] [-t THREADS]
#
# With -t, httptop also runs with `--threads THREADS` (the sharded engine) as `sharded`
# and `sharded+log`, alternately with the others.
#
# With -b, a second httptop binary (an earlier build, say) runs alternately with the
# others as `base` and `base+log`, so a change is measured against its parent in one run.
#
# Without -f, both captures, each built once when missing (in ${TMPDIR:-/tmp}/httptop-bench):
# http-SIZE_MB.pcap (default 2000) with ../shared/tools/make-bench-pcap.sh (needs
# nginx-light, wrk, tcpdump, tshark's capinfos) and mtu1500-MTU_SIZE_MB.pcap (default 200)
# with ../shared/tools/make-mtu1500-pcap.sh (root; also iproute2, ethtool). -f (repeatable)
# names the captures instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=$root/../shared
size=2000
mtu_size=200
runs=5
caps=()
base=""
threads=""
while [ $# -gt 0 ]; do
  case "$1" in
    -s) size=$2; shift 2 ;;
    -m) mtu_size=$2; shift 2 ;;
    -n) runs=$2; shift 2 ;;
    -f) caps+=("$2"); shift 2 ;;
    -b) base=$(realpath "$2"); shift 2 ;;
    -t) threads=$2; shift 2 ;;
    *) echo "usage: $0 [-s SIZE_MB] [-m MTU_SIZE_MB] [-n RUNS] [-f CAPTURE]... [-b BASE_BINARY] [-t THREADS]" >&2; exit 2 ;;
  esac
done
dir=${TMPDIR:-/tmp}/httptop-bench
if [ ${#caps[@]} -eq 0 ]; then
  loop=$dir/http-$size.pcap
  mtu=$dir/mtu1500-$mtu_size.pcap
  mkdir -p "$dir"
  if [ ! -s "$loop" ]; then
    "$shared/tools/make-bench-pcap.sh" -s "$size" -o "$loop"
  fi
  if [ ! -s "$mtu" ]; then
    [ "$(id -u)" = 0 ] || { echo "building $mtu needs root (make-mtu1500-pcap.sh); or pass -f" >&2; exit 1; }
    SIZE_MB=$mtu_size VERIFY=0 "$shared/tools/make-mtu1500-pcap.sh" "$mtu.tmp"
    mv "$mtu.tmp" "$mtu"
  fi
  caps=("$loop" "$mtu")
fi
floor_target=${TMPDIR:-/tmp}/httptop-bench/floor-target
(cd "$shared/tools/pcap-floor" && cargo build --release --quiet --target-dir "$floor_target")
cargo build --release --quiet -p httptop
floor=$floor_target/release/pcap-floor
httptop=$root/target/release/httptop

run() { # run NAME OUT CMD...: appends "NAME seconds peak_kib" to OUT (ns clock: the
  # MTU-1500 capture takes under 0.1 s in the floor, below time(1)'s 10 ms resolution)
  local name=$1 out=$2 t0 t1 kib
  shift 2
  t0=$(date +%s%N)
  kib=$(/usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -n 1)
  t1=$(date +%s%N)
  echo "$name $(( (t1 - t0) / 1000 ))e-6 $kib" >> "$out"
}
bench() { # bench CAPTURE: alternating runs, then the table
  local cap=$1 bytes out summary packets exchanges
  cat "$cap" > /dev/null   # warm the page cache
  bytes=$(stat -c %s "$cap")
  out=$(mktemp)
  # One line per run: name seconds peak_kib
  for _ in $(seq "$runs"); do
    run floor "$out" "$floor" parse-read "$cap"
    run httptop "$out" "$httptop" --config /dev/null -r "$cap" -q
    run httptop+log "$out" "$httptop" --config /dev/null -r "$cap" -q --log /dev/null
    if [ -n "$threads" ]; then
      run sharded "$out" "$httptop" --config /dev/null -r "$cap" -q --threads "$threads"
      run sharded+log "$out" "$httptop" --config /dev/null -r "$cap" -q --threads "$threads" --log /dev/null
    fi
    if [ -n "$base" ]; then
      run base "$out" "$base" -r "$cap" -q
      run base+log "$out" "$base" -r "$cap" -q --log /dev/null
    fi
  done
  summary=$("$httptop" --config /dev/null -r "$cap" 2>&1 >/dev/null | head -n 1)
  packets=$(echo "$summary" | sed -n 's/^httptop: \([0-9]*\) frames.*/\1/p')
  exchanges=$(echo "$summary" | sed -n 's/.*; \([0-9]*\) exchanges.*/\1/p')
  python3 - "$out" "$bytes" "$packets" "$exchanges" "$cap" <<'PY'
import statistics, sys
path, size, packets, exchanges, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
runs = {}
for line in open(path):
    f = line.split()
    if len(f) == 3 and f[0] in ("floor", "httptop", "httptop+log", "sharded", "sharded+log", "base", "base+log"):
        runs.setdefault(f[0], []).append((float(f[1]), int(f[2])))
print(f"capture: {cap}: {size/1e6:.0f} MB, {packets} packets, {exchanges} exchanges; medians of {len(runs['floor'])} alternating runs")
med = {name: statistics.median(t for t, _ in r) for name, r in runs.items()}
floor = med["floor"]
print(f"{'program':<14}{'time s':>8}{'x floor':>9}{'Mpkt/s':>9}{'MB/s':>8}{'kexch/s':>9}{'peak MiB':>10}")
for name in ("floor", "httptop", "httptop+log", "sharded", "sharded+log", "base", "base+log"):
    if name not in runs:
        continue
    t = med[name]
    peak = max(m for _, m in runs[name]) / 1024
    ex = "" if name == "floor" else f"{exchanges/t/1e3:9.0f}"
    print(f"{name:<14}{t:8.3f}{t/floor:9.2f}{packets/t/1e6:9.2f}{size/t/1e6:8.0f}{ex:>9}{peak:10.1f}")
print(f"ratios: httptop/floor {med['httptop']/floor:.2f}, httptop+log/floor {med['httptop+log']/floor:.2f}; "
      f"--log adds {100*(med['httptop+log']/med['httptop']-1):.0f} %; "
      f"peak RSS {max(m for n in ('httptop', 'httptop+log') for _, m in runs[n])/1024:.1f} MiB")
PY
  rm -f "$out"
  echo
}
for cap in "${caps[@]}"; do
  bench "$cap"
done
