#!/usr/bin/env bash
# Offline speed of `httptop -r` on HTTP/2 (issue 12): makes (once) an h2load capture on lo
# against `nghttpd --no-tls`, then reads it with httptop, printing MB/s and requests/s
# (median of RUNS; hyperfine when installed, else /usr/bin/time).
#
#   benches/h2.sh [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS] [-r RUNS] [-f CAPTURE]
#
# Defaults: 100,000 requests on 8 connections with 16 concurrent streams each, 5 runs.
# Without -f the capture is $TMPDIR/httptop-bench/h2-REQUESTS.pcap, made when missing
# (root; needs nghttp2-server, nghttp2-client, tcpdump). Every process it starts is
# bounded in time and stopped on exit. The server's port is 31212 (ht12), or $HT12_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
requests=100000
conns=8
streams=16
runs=5
cap=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) requests=$2; shift 2 ;;
    -c) conns=$2; shift 2 ;;
    -m) streams=$2; shift 2 ;;
    -r) runs=$2; shift 2 ;;
    -f) cap=$2; shift 2 ;;
    *) echo "usage: $0 [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS] [-r RUNS] [-f CAPTURE]" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$cap" ]; then
  cap=${TMPDIR:-/tmp}/httptop-bench/h2-$requests.pcap
fi
if [ ! -s "$cap" ]; then
  [ "$(id -u)" = 0 ] || { echo "making the capture needs root (tcpdump on lo)" >&2; exit 1; }
  for t in nghttpd h2load tcpdump; do
    command -v "$t" >/dev/null || { echo "needs $t (nghttp2-server, nghttp2-client, tcpdump)" >&2; exit 1; }
  done
  mkdir -p "$(dirname "$cap")" "$work/www"
  port=${HT12_PORT:-31212}
  # A small JSON body, like an API answer.
  printf '{"id":%d,"name":"item","tags":["a","b","c"]}\n' 1 > "$work/www/item.json"
  nghttpd --no-tls -d "$work/www" "$port" >"$work/nghttpd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  tcpdump -i lo -n -U --immediate-mode -s 0 -B 65536 -w "$cap.tmp" tcp port "$port" 2>"$work/tcpdump.err" &
  tcpdump_pid=$!
  pids+=($tcpdump_pid)
  for _ in $(seq 100); do grep -q "listening on" "$work/tcpdump.err" && break; sleep 0.05; done
  timeout 600 h2load -n "$requests" -c "$conns" -m "$streams" "http://127.0.0.1:$port/item.json" | grep -E "^(finished|requests|status codes)"
  kill -INT "$tcpdump_pid"
  timeout 30 tail --pid="$tcpdump_pid" -f /dev/null || true
  cat "$work/tcpdump.err" | grep -E "captured|dropped"
  mv "$cap.tmp" "$cap"
fi

cargo build --release --quiet -p httptop
httptop=$root/target/release/httptop
cat "$cap" > /dev/null   # warm the page cache
bytes=$(stat -c %s "$cap")
summary=$("$httptop" -r "$cap" 2>&1 >/dev/null | head -n 1)
# Exchanges, not the summary's "(N requests": that counts HTTP/1 requests.
reqs=$(echo "$summary" | sed -n 's/.*; \([0-9]*\) exchanges.*/\1/p')
echo "capture: $cap: $((bytes / 1000000)) MB; httptop: $summary"

if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs "$runs" --export-json "$work/h.json" \
    "$httptop -r $cap -q" "$httptop -r $cap -q --log /dev/null" >/dev/null
  times=$(python3 -c 'import json,sys; [print(r["median"], r["command"].split(" -q")[1].strip()) for r in json.load(open(sys.argv[1]))["results"]]' "$work/h.json")
else
  times=""
  for variant in "" "--log /dev/null"; do
    ts=()
    for _ in $(seq "$runs"); do
      # shellcheck disable=SC2086
      ts+=("$( { /usr/bin/time -f %e "$httptop" -r "$cap" -q $variant >/dev/null; } 2>&1 | tail -n 1)")
    done
    med=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    times+="$med $variant"$'\n'
  done
fi
echo "$times" | while read -r t variant; do
  [ -n "$t" ] || continue
  python3 - "$variant" "$t" "$bytes" "${reqs:-0}" <<'PY'
import sys
name, t, size, reqs = sys.argv[1].strip(), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
name = ("httptop " + name).strip()
print(f"{name:<28} median {t:7.3f} s  {size/t/1e6:8.1f} MB/s  {reqs/t/1e3:8.1f} k requests/s")
PY
done
