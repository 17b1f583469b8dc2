#!/bin/sh
# README's strategy table against the registry (`convbp list`): every
# registered strategy has a row, and every name the table lists is
# registered, so a strategy added or renamed without its documentation
# fails here rather than in a user's hands.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cli=$1
readme="$here/../README.md"
. "$here/harness.sh"

"$cli" list > "$tmp/list" 2>"$tmp/err" || bad "convbp list failed: $(cat "$tmp/err")"
# bpa_seed_as_written, registered only by the test builds' -DCONVBP_WITH_FAULTY=ON,
# is wrong on purpose: README names it where it describes CI, not in the table.
grep -v 'FAULTY on purpose' "$tmp/list" | awk '{ print $1 }' | sort > "$tmp/registered"
[ -s "$tmp/registered" ] && ok || bad "convbp list printed no strategy"

# The table: rows from '## Strategies' to the next heading; a row's first
# cell names one strategy or several, each in backquotes.
awk '/^## Strategies/ { on = 1; next }
     on && /^#/ { exit }
     on && /^\| `/ { split($0, cell, "|"); print cell[2] }' "$readme" |
  grep -o '`[a-z0-9_]*`' | tr -d '`' | sort > "$tmp/documented"
[ -s "$tmp/documented" ] && ok || bad "no strategy table under '## Strategies' in README.md"

for name in $(comm -23 "$tmp/registered" "$tmp/documented"); do
  bad "strategy $name is registered but has no row in README.md's strategy table"
done
for name in $(comm -13 "$tmp/registered" "$tmp/documented"); do
  bad "README.md's strategy table lists $name, which convbp list does not"
done
dups=$(uniq -d "$tmp/documented")
[ -z "$dups" ] && ok || bad "README.md's strategy table lists twice: $dups"
[ -z "$(comm -3 "$tmp/registered" "$tmp/documented")" ] && ok
finish test_readme
