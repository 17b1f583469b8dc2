#!/bin/sh
# Two threads held to one CPU by taskset: `convbp peak` and a sweep warn that
# they reached about one thread's FMA peak, and the sweep's retries (it measures
# a short peak again) keep the warning, with no note of a load that ended.
# ctest runs this test alone (RUN_SERIAL): with another test's threads on the
# same CPU, one thread's peak can be measured at a third of itself, and two
# threads then look 1.5x faster than one.
# Usage: test_cli_one_cpu.sh path/to/convbp
set -u
. "$(dirname "$0")/cli_env.sh"
command -v taskset >/dev/null 2>&1 || { echo "no taskset: skipped"; exit 77; }
taskset -c 0 "$convbp" peak --threads 2 >"$tmp/out" 2>"$tmp/err" && grep -q "^fp32 FMA peak, 2 thread" "$tmp/out" \
  && grep -q "warning: 2 threads reached .* other load shares these CPUs" "$tmp/err" && ok \
  || bad "peak on one CPU: $(cat "$tmp/out" "$tmp/err")"
# A sweep's short peak is measured again (CONVBP_PEAK_RETRIES times); on
# one CPU it stays short: the warning, no note of a load that ended, and the rows.
if CONVBP_PEAK_RETRIES=2 taskset -c 0 "$convbp" sweep --problem mb1ic2ih4oc2kh3 --op fwd --strategy fwd_direct \
    --threads 1,2 $fast --force --output "$tmp/one_cpu.csv" >/dev/null 2>"$tmp/err" &&
  grep -q "warning: 2 threads reached .* other load shares these CPUs" "$tmp/err" &&
  ! grep -q "a load that ended" "$tmp/err" && [ "$(tail -n +2 "$tmp/one_cpu.csv" | wc -l)" -eq 2 ]; then ok; else
  bad "sweep on one CPU with retries: $(cat "$tmp/err")"; fi
finish test_cli_one_cpu
