#!/bin/sh
# scripts/plot on a small fixture CSV: every kind of figure is written and
# non-empty; a CSV missing a column is refused, naming it, with exit 2.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*" >&2; }
/usr/bin/python3 "$here/../scripts/plot" "$here/fixtures/small.csv" --outdir "$tmp" > "$tmp/list" 2>"$tmp/err" \
  && ok || bad "plot failed: $(cat "$tmp/err")"
for kind in gflops heatmap scaling roofline; do
  n=$(grep -c "\.$kind\." "$tmp/list")
  [ "$n" -ge 1 ] && ok || bad "no $kind figure"
done
while read -r png; do
  [ -s "$png" ] && head -c 8 "$png" | grep -q PNG && ok || bad "$png empty or not a PNG"
done < "$tmp/list"
cut -d, -f1-10 "$here/fixtures/small.csv" > "$tmp/cut.csv"
/usr/bin/python3 "$here/../scripts/plot" "$tmp/cut.csv" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "no column 'status'" "$tmp/err" && ok || bad "missing column not reported: $(cat "$tmp/err")"
/usr/bin/python3 "$here/../scripts/plot" "$tmp/none.csv" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "cannot read" "$tmp/err" && ok || bad "missing file not reported"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
