#!/usr/bin/env bash
# Does an unreachable Alertmanager slow httptop down? Replays (as fast as possible) a
# capture whose traffic raises and resolves alerts, with and without
# `--alertmanager http://127.0.0.1:9` (nothing listens there: every post fails and is
# retried with backoff on the client thread), and with `--metrics-addr` too. Reports
# hyperfine's wall time (mean ± σ, median, ratio of medians to the plain run) and CPU
# time (user + system, the fairer figure on a loaded machine) per variant.
#
#   benches/alertmanager.sh [-n RUNS] [-b BURSTS]
#
# The capture (generated once, python3): 1,000 requests/s with BURSTS bursts of 10 s at
# 5,000 requests/s, 20 s apart; with `--learn 10s --window 2s` each burst is one alert
# and one recovery.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10
bursts=4
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    -b) bursts=$2; shift 2 ;;
    *) echo "usage: $0 [-n RUNS] [-b BURSTS]" >&2; exit 2 ;;
  esac
done
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
dir=${TMPDIR:-/tmp}/httptop-bench
cap=$dir/alerting-$bursts.pcap
mkdir -p "$dir"
if [ ! -s "$cap" ]; then
  python3 - "$cap" "$bursts" <<'PY'
import struct, sys
path, bursts = sys.argv[1], int(sys.argv[2])
T0 = 1_700_000_000
out = open(path, "wb")
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
def frame(src, dst, sport, dport, seq, ack, flags, payload):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0,
                     bytes(src), bytes(dst))
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + payload
def rec(t_us, data):
    out.write(struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(data), len(data)))
    out.write(data)
C, S = [10, 0, 0, 1], [10, 0, 0, 2]
resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
seconds = 20 + bursts * 30
n = 0
for k in range(seconds):
    in_burst = k >= 20 and (k - 20) % 30 < 10
    per_s = 5000 if in_burst else 1000
    for i in range(per_s):
        n += 1
        port = 1024 + n % 60000
        t = (T0 + k) * 1_000_000 + i * (1_000_000 // per_s)
        req = b"GET /s%d/x HTTP/1.1\r\nHost: h%d.example\r\n\r\n" % (n % 7, n % 13)
        ci, si = 1000, 5000
        rec(t, frame(C, S, port, 80, ci, 0, 0x02, b""))
        rec(t + 10, frame(S, C, 80, port, si, ci + 1, 0x12, b""))
        rec(t + 20, frame(C, S, port, 80, ci + 1, si + 1, 0x18, req))
        rec(t + 40, frame(S, C, 80, port, si + 1, ci + 1 + len(req), 0x18, resp))
        rec(t + 50, frame(C, S, port, 80, ci + 1 + len(req), si + 1 + len(resp), 0x11, b""))
        rec(t + 60, frame(S, C, 80, port, si + 1 + len(resp), ci + 2 + len(req), 0x11, b""))
out.close()
PY
fi
cargo build --release --quiet -p httptop
bin=$PWD/target/release/httptop
common="-r $cap -q --output plain --learn 10s --window 2s --threshold 50"
echo "capture: $cap ($(stat -c %s "$cap") bytes); alerts per replay:"
"$bin" $common --log - 2>/dev/null | grep -c '"state":"started"' || true
json=$dir/alertmanager.json
hyperfine --warmup 1 --runs "$runs" --export-json "$json" \
  -n plain "$bin $common" \
  -n unreachable-alertmanager "$bin $common --alertmanager http://127.0.0.1:9" \
  -n metrics-and-alertmanager "$bin $common --alertmanager http://127.0.0.1:9 --metrics-addr 127.0.0.1:0" \
  > /dev/null
python3 - "$json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["plain"]["mean"]
for name, x in r.items():
    cpu = x["user"] + x["system"]
    print(f"{name:28s} wall: mean {x['mean']*1000:7.1f} ms σ {x['stddev']*1000:5.1f} median "
          f"{x['median']*1000:7.1f} ms ratio {x['median']/r['plain']['median']:.3f}; "
          f"cpu (user+sys): mean {cpu*1000:7.1f} ms ratio {cpu/(r['plain']['user']+r['plain']['system']):.3f}")
PY
