#!/bin/sh
# scripts/plot on a small fixture CSV: every kind of figure is written and
# non-empty; a CSV missing a column is refused, naming it, with exit 2.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness.sh"
/usr/bin/python3 "$here/../scripts/plot" "$here/fixtures/small.csv" --outdir "$tmp" > "$tmp/list" 2>"$tmp/err" \
  && ok || bad "plot failed: $(cat "$tmp/err")"
for kind in gflops heatmap scaling roofline; do
  n=$(grep -c "\.$kind\." "$tmp/list")
  [ "$n" -ge 1 ] && ok || bad "no $kind figure"
done
while read -r png; do
  [ -s "$png" ] && head -c 8 "$png" | grep -q PNG && ok || bad "$png empty or not a PNG"
done < "$tmp/list"
run_tool() { /usr/bin/python3 "$here/../scripts/plot" "$@"; }
cut -d, -f1-10 "$here/fixtures/small.csv" > "$tmp/cut.csv"
expect 2 "no column 'status'" -- "$tmp/cut.csv" --outdir "$tmp/cut"
[ ! -e "$tmp/cut" ] && ok || bad "a refused CSV left $tmp/cut behind"
expect 2 "cannot read" -- "$tmp/none.csv" --outdir "$tmp/none"
# A thread count the CSV has no row for is refused before anything is drawn.
expect 2 "--threads 7: " -- "$here/fixtures/small.csv" --threads 7 --outdir "$tmp/t7"
[ ! -e "$tmp/t7" ] && ok || bad "--threads 7 left $tmp/t7 behind"
# An --outdir not there yet is made (it was a Python traceback at the first
# savefig); one that cannot be a directory is refused, naming it, with exit 2.
/usr/bin/python3 "$here/../scripts/plot" "$here/fixtures/small.csv" --outdir "$tmp/new/deeper" \
  > "$tmp/list2" 2>"$tmp/err" && [ -s "$(head -n 1 "$tmp/list2")" ] && ok ||
  bad "a missing --outdir: $(cat "$tmp/err")"
: > "$tmp/afile"
expect 2 "--outdir '$tmp/afile/sub'" -- "$here/fixtures/small.csv" --outdir "$tmp/afile/sub"
finish test_plot
