# Sourced by the shell tests (". tests/harness.sh"): a scratch directory,
# pass/fail counts and the refusal check, so that every tool's bad input is
# held to the same rule.  The sourcing test defines run_tool (its tool, given
# the arguments).
#   ok | bad MESSAGE                 count a check; bad prints MESSAGE on stderr
#   expect CODE WORDS -- ARGS...     run_tool ARGS exits CODE, its stderr holds
#                                    the phrase WORDS (any stderr when empty),
#                                    and a refusal (CODE 2) prints nothing on
#                                    stdout: nothing half-done is left behind
#   finish NAME                      prints the counts; fails on any failure
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*" >&2; }
expect() {
  code=$1 words=$2
  shift 3
  run_tool "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne "$code" ]; then bad "$*: exit $got, want $code ($(head -c 300 "$tmp/err"))"; return; fi
  if [ -n "$words" ] && ! grep -q -- "$words" "$tmp/err"; then
    bad "$*: stderr lacks '$words': $(head -c 300 "$tmp/err")"
    return
  fi
  if [ "$code" -eq 2 ] && [ -s "$tmp/out" ]; then bad "$*: refused, yet printed: $(head -c 300 "$tmp/out")"; return; fi
  ok
}
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
