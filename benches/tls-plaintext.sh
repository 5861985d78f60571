#!/usr/bin/env bash
# Overhead of `httptop --tls-plaintext` on a TLS server: the request rate a load generator
# reaches against nginx with TLS, with and without httptop's probes attached, alternately
# in one call. Root only (uprobes). Traffic stays on 127.0.0.1; every load is bounded in
# requests and time.
#
#   benches/tls-plaintext.sh [-n ROUNDS] [-r REQUESTS] [-s BODY_BYTES] [-a] [-t]
#
# Each round runs each load twice, alternately: once without httptop, once with
# `httptop --tls-plaintext --log FILE` attached (started, waited for, stopped after):
#   h2   h2load -c 10 -m 10 over HTTP/2 (ALPN h2), REQUESTS requests
#   h1   h2load --h1 -c 10 over HTTP/1.1 (keep-alive), REQUESTS requests
# each with the load generator standing for a remote client (`remote`: it runs in a mount
# namespace with its own copy of libssl, another inode, which the uprobes do not cover),
# and, with -a, also probed itself (`local`: both ends of every connection pay).
# With -t, a third run per load has the same probes attached with programs that return at
# once (the tlsprobe crate's example `tlsprobe_dump --traps-only`): what the uprobe traps
# alone cost, the floor under anything the programs or httptop could save.
# Prints the median request rate of each and the ratio with/without, and checks that the
# log of every attached run holds one exchange per request h2load says succeeded.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=5
requests=100000
size=1024
clients=remote
modes="off on"
while [ $# -gt 0 ]; do
  case "$1" in
    -n) rounds=$2; shift 2 ;;
    -r) requests=$2; shift 2 ;;
    -s) size=$2; shift 2 ;;
    -a) clients="remote local"; shift ;;
    -t) modes="off on traps"; shift ;;
    *) echo "usage: $0 [-n ROUNDS] [-r REQUESTS] [-s BODY_BYTES] [-a] [-t]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "$0: needs root (eBPF uprobes)" >&2; exit 2; }
for tool in nginx h2load openssl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "$0: needs $tool (nginx-light, nghttp2-client, openssl)" >&2; exit 2; }
done
cargo build --release --quiet -p httptop
httptop=$root/target/release/httptop
cargo build --release --quiet -p httptop-tlsprobe --example tlsprobe_dump
traps=$root/target/release/examples/tlsprobe_dump

dir=$(mktemp -d)
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=bench.test -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
mkdir -p "$dir/www"
head -c "$size" /dev/zero | tr '\0' x > "$dir/www/file"
cat > "$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir;
  server {
    listen 127.0.0.1:$port ssl http2;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    root $dir/www;
  }
}
EOF
nginx -c "$dir/nginx.conf" -e "$dir/error.log" &
nginx_pid=$!
for _ in $(seq 100); do
  curl -sk -o /dev/null "https://127.0.0.1:$port/file" 2>/dev/null && break
  sleep 0.05
done

url=https://127.0.0.1:$port/file
results=$dir/results
libssl=$(ldconfig -p | sed -n 's/^[[:space:]]*libssl.so.3 (libc6,x86-64) => //p' | head -n 1)
cp "$libssl" "$dir/libssl-copy.so"
# load NAME CLIENT ATTACHED: one bounded h2load run; appends
# "NAME CLIENT ATTACHED req/s succeeded logged".
# attached TEXT PID: waits until the prober started as PID says TEXT on stderr (attached).
attached() {
  for _ in $(seq 200); do
    grep -q "$1" "$dir/attached.err" 2>/dev/null && return
    kill -0 "$2" 2>/dev/null || { cat "$dir/attached.err" >&2; exit 1; }
    sleep 0.05
  done
}
load() {
  local name=$1 client=$2 attached=$3 flags=() out hpid="" logged=-
  [ "$name" = h1 ] && flags=(--h1 -c 10) || flags=(-c 10 -m 10)
  if [ "$attached" = on ]; then
    rm -f "$dir/log.jsonl"
    "$httptop" --config /dev/null --tls-plaintext --output plain --refresh 1h \
      --log "$dir/log.jsonl" >/dev/null 2>"$dir/attached.err" &
    hpid=$!
    attached "reading TLS plaintext" "$hpid"
  elif [ "$attached" = traps ]; then
    "$traps" 100000 --traps-only 2>"$dir/attached.err" &
    hpid=$!
    attached "attached to" "$hpid"
  fi
  if [ "$client" = remote ]; then
    out=$(timeout 120 unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec h2load "$@"' \
      sh "$dir/libssl-copy.so" "$libssl" "${flags[@]}" -n "$requests" "$url" 2>&1)
  else
    out=$(timeout 120 h2load "${flags[@]}" -n "$requests" "$url" 2>&1)
  fi
  if [ -n "$hpid" ]; then
    kill -TERM "$hpid"
    wait "$hpid" || true
    [ "$attached" = on ] && logged=$(grep -c '"type":"exchange"' "$dir/log.jsonl" || true)
  fi
  local rate succeeded
  rate=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
  succeeded=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
  echo "$name $client $attached $rate $succeeded $logged" >> "$results"
}
for _ in $(seq "$rounds"); do
  for name in h2 h1; do
    for client in $clients; do
      for mode in $modes; do
        load "$name" "$client" "$mode"
      done
    done
  done
done
python3 - "$results" "$requests" "$size" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"TLS plaintext overhead: nginx (1 worker) with TLS, h2load, {sys.argv[2]} requests of "
      f"{sys.argv[3]} B per run, alternating")
for name in ("h2", "h1"):
    for client in ("remote", "local"):
        pick = lambda on: [float(r[3]) for r in rows if r[:3] == [name, client, on]]
        off, on, traps = pick("off"), pick("on"), pick("traps")
        if not off or not on:
            continue
        mo, mn = statistics.median(off), statistics.median(on)
        print(f"  {name} {client:6} client: without {mo:8.0f} req/s  with {mn:8.0f} req/s  "
              f"ratio {mn / mo:.3f}  ({len(off)} runs each; without: "
              f"{' '.join(f'{x:.0f}' for x in off)}; with: {' '.join(f'{x:.0f}' for x in on)})")
        if traps:
            mt = statistics.median(traps)
            print(f"  {name} {client:6} client: traps only {mt:8.0f} req/s  ratio {mt / mo:.3f}  "
                  f"(programs that return at once: {' '.join(f'{x:.0f}' for x in traps)})")
        for r in rows:
            if r[:3] == [name, client, "on"] and r[4] != r[5]:
                print(f"  {name} {client}: h2load succeeded {r[4]} but the log holds {r[5]} exchanges")
PY
