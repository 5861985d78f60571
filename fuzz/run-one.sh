#!/bin/sh
# Usage: fuzz/run-one.sh TARGET [SECONDS]  (from fuzz/). One libFuzzer process, lowest
# priority; extra seeds from seeds/ and corpus-extra/ when present; log in logs/TARGET.log.
set -eu
t=$1
secs=${2:-600}
dirs="corpus/$t"
for d in seeds/$t corpus-extra/$t; do [ -d "$d" ] && dirs="$dirs $d"; done
mkdir -p logs "corpus/$t"
exec nice -n 19 env RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a "$t" $dirs -- \
    -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"logs/$t.log" 2>&1
