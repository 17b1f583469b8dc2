#!/bin/sh
# scripts/report, which makes the per-layer tables quoted in README: on the
# fixture CSV, lines worked out by hand from its rows (best convbp median
# against best oneDNN median), then inputs it must refuse with exit 2.
set -u
here=$(cd "$(dirname "$0")" && pwd)
report="/usr/bin/python3 $here/../scripts/report"
fixture="$here/fixtures/small.csv"
. "$here/harness.sh"
run_tool() { $report "$@"; }

$report "$fixture" --ops bpa,bpw > "$tmp/out" 2>"$tmp/err" || bad "report failed: $(cat "$tmp/err")"
# small_3x3 bpa, 1 thread: bpa_scatter_gemm 0.0987059 ms against bpa_onednn_blocked
# 0.0140717 ms: 0.14x.  bpw, 2 threads: bpw_conv_do_a 0.181261 ms is the best convbp
# (bpw_im2col_gemm's 2.47 ms is not).
for want in '| small_3x3 | bpa | 1 | bpa_scatter_gemm | 18.3 | 11% | 0.14x |' \
            '| small_3x3 | bpw | 2 | bpw_conv_do_a | 10.0 | 3% |' \
            '| bpa | 1 | 4 | 0 |'; do
  grep -qF -- "$want" "$tmp/out" && ok || bad "no line '$want' in: $(cat "$tmp/out")"
done
# The 3x3 layers (small_3x3, small_s2, small_dilated): bpa on 1 thread at 10.7%,
# 13.8% and 6.6% of peak; bpa_onednn_blocked's 75.2% is a peer's, not counted.
grep -qF '| bpa | 1 | 3 | 0 | 7-14% |' "$tmp/out" && ok || bad "no 3x3 line for bpa, 1 thread in: $(cat "$tmp/out")"
# small_3x3's best set to 80% of peak, small_1x1's to 90 and small_dilated made
# 3x1 (s = 1): one of two 3x3 layers at 75% or more
awk -F, -v OFS=, '$2 == "small_3x3" && $3 == "bpa" && $4 == "bpa_scatter_gemm" && $5 == 1 { $34 = 80 }
  $2 == "small_1x1" && $3 == "bpa" && $4 == "bpa_scatter_gemm" && $5 == 1 { $34 = 90 }
  $2 == "small_dilated" { $13 = 1 } 1' "$fixture" > "$tmp/fast.csv"
$report "$tmp/fast.csv" --ops bpa > "$tmp/out3" 2>"$tmp/err" || bad "report failed: $(cat "$tmp/err")"
grep -qF '| bpa | 1 | 2 | 1 | 14-80% |' "$tmp/out3" && ok || bad "no 3x3 line 1 of 2 in: $(cat "$tmp/out3")"
# peers are compared with, never reported as the best convbp strategy
grep -q '| [a-z_]*onednn' "$tmp/out" && bad "a oneDNN strategy reported as convbp's best" || ok

# refused: exit 2, a message naming what is wrong
printf 'garbage\n1\n' > "$tmp/garbage.csv"
expect 2 "no column 'problem'" -- "$tmp/garbage.csv"
expect 2 "cannot read" -- "$tmp/none.csv"
expect 2 "unknown op 'bpx'" -- "$fixture" --ops bpa,bpx
grep -v ',fwd,' "$fixture" > "$tmp/nofwd.csv"
expect 2 "no timed row (status ok) for fwd" -- "$tmp/nofwd.csv" --ops fwd
sed '2s/,ok,/,ok,/; 2s/^\(\([^,]*,\)\{26\}\)[^,]*/\1abc/' "$fixture" > "$tmp/nan.csv"
expect 2 "must be numbers" -- "$tmp/nan.csv"
finish test_report
