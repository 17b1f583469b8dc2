#!/bin/sh
# The CLI end to end: a table of bad inputs (exit code and the words of the
# message), then sweeps: grammar and grid expansion, shards that are disjoint and
# cover the sweep, resume adding nothing, CSV quoting read back, binding read back,
# vs_onednn recomputed from the medians (also across --resume), a CSV of an older
# schema refused by --resume, the sidecar's caches and peaks kept by --resume
# (which refuses a CSV of another machine), and a sweep killed mid-run leaving a
# valid CSV that --resume completes.
# Usage: test_cli.sh path/to/convbp
set -u
. "$(dirname "$0")/cli_env.sh"
# These sweeps share the CPUs with other tests, so their two-thread peaks are
# often short; measuring them again would only add seconds (tested below).
export CONVBP_PEAK_RETRIES=0

# ---- bad input: one line each, exit 2, the message names what is wrong ----
printf 'mb2ic3ih5oc2kh3\n# comment\nmb2ic3ih5oc2kh3zz1\n' > "$tmp/bad.txt"
printf 'problem,op\nx,y\n' > "$tmp/foreign.csv"
expect 2 "unknown command 'frobnicate'" -- frobnicate
# --help or -h after any command: the help on stdout, exit 0, nothing run.
for cmd in list run sweep gbench best compare tune topo peak version; do
  for h in --help -h; do
    if "$convbp" $cmd --suite small $h >"$tmp/out" 2>"$tmp/err" && grep -q "^usage: convbp COMMAND" "$tmp/out" &&
      ! [ -s "$tmp/err" ]; then ok; else bad "convbp $cmd $h: no help on stdout with exit 0"; fi
  done
done
expect 2 "unknown command 'frobnicate'" -- frobnicate --help
# version (or --version): the version, then the lines a sweep's sidecar records.
if "$convbp" version >"$tmp/ver" 2>"$tmp/err" && head -n 1 "$tmp/ver" | grep -Eq '^convbp [0-9]+\.[0-9]+\.[0-9]+$' &&
  grep -q '^revision=' "$tmp/ver" && grep -q '^openblas=OpenBLAS ' "$tmp/ver" && grep -q '^isa=' "$tmp/ver" &&
  "$convbp" --version >"$tmp/ver2" 2>>"$tmp/err" && cmp -s "$tmp/ver" "$tmp/ver2"; then ok; else
  bad "convbp version: $(cat "$tmp/ver" "$tmp/err")"; fi
expect 2 "version takes no options, got '--threads'" -- version --threads 2
expect 2 "'mb' must be >= 1, got 0" -- run --problem mb0ic3ih5oc2kh3
expect 2 "'ic' must be >= 1, got -4" -- run --problem mb2ic-4ih5oc2kh3
expect 2 "field 'ih' needs a number" -- run --problem mb2ic3ih_oc2kh3
expect 2 "unknown field 'qq'" -- run --problem mb2ic3ih5oc2kh3qq1
expect 2 "duplicate field 'kh'" -- run --problem mb2ic3ih5oc2kh3kh1
expect 2 "exceeds 2147483647" -- run --problem mb2ic3ih5oc2kh3ph99999999999
expect 2 "output is empty" -- run --problem mb2ic3ih2oc2kh5
expect 2 "too large" -- run --problem mb2000000000ic2000000000ih100000oc1kh1
# a few floats, but 2*pad + dilated kernel past INT_MAX: refused, not run into int overflow
expect 2 "exceeds INT_MAX" -- run --problem mb1ic1ih1oc1kh3kw1ph1073741824pw0dh1073741823dw0
# 2^31 pixels of A (N*H*W), which sgemm's int dimensions cannot take
expect 2 "exceeds INT_MAX" -- run --problem mb2ic1ih1iw1073741824oc1kh1sw2
expect 2 "more than this machine's" -- run --problem mb1000ic1000ih1000oc1000kh1
expect 2 "unknown op 'bwd'" -- run --op bwd --problem mb2ic3ih5oc2kh3
expect 2 "no strategy matches 'magic'" -- run --strategy magic --problem mb2ic3ih5oc2kh3
expect 2 "more than 64 names" -- run --strategy "$(printf 'bpa_direct,%.0s' $(seq 65))" --problem mb2ic3ih5oc2kh3
expect 2 "more than 64 names" -- run $(printf -- '--strategy bpa_direct %.0s' $(seq 65)) --problem mb2ic3ih5oc2kh3
expect 2 "'1:0' in '1:0' is empty" -- sweep --ic 1:0
expect 2 "needs LO:HI" -- sweep --ic :x0
expect 2 "'a' in 'a,b' is not a whole number" -- sweep --mb a,b
expect 2 "step must be" -- sweep --ic 1:8:x1
# A field given twice would have two axes that both set it (the last silently
# winning), and 14 of them overran the axis table.
expect 2 "'--mb' given twice" -- sweep --mb 1 --mb 2
expect 2 "'--kh' given twice" -- sweep $(for i in $(seq 16); do printf -- '--kh 1 '; done)
# A selection where no point, op and strategy meet is an error, not an empty CSV.
expect 2 "nothing to run: no strategy of --strategy bpw_\* does an op of --op bpa" -- \
  sweep --problem mb2ic3ih5oc2kh3 --op bpa --strategy 'bpw_*' --output "$tmp/none.csv"
expect 2 "on the 0 conv and 1 mma problem(s)" -- run --problem m4n4k4 --op bpa
[ ! -e "$tmp/none.csv" ] && ok || bad "an empty selection wrote $tmp/none.csv"
expect 2 "tune: --strategy does not apply" -- tune --problem m4n4k4 --strategy 'mma*' --wisdom "$tmp/w.txt"
# a wisdom file that cannot be written is refused before any timing, not after it
expect 3 "cannot write wisdom '$tmp/no/w.txt': No such file or directory" -- \
  tune --problem m4n4k4 --wisdom "$tmp/no/w.txt"
[ ! -s "$tmp/out" ] && ok || bad "tune timed before finding its wisdom unwritable: $(head -c 300 "$tmp/out")"
expect 2 "'$tmp' is a directory" -- sweep --problem mb2ic3ih5oc2kh3 --op fwd --force --output "$tmp"
# An --op list is read whole, however long (it was cut at 255 characters).
"$convbp" run --problem mb2ic3ih5oc2kh3 --op "$(printf 'fwd,%.0s' $(seq 100))bpa" --strategy bpa_direct \
  2>"$tmp/err" | grep -q '^PASSED  bpa bpa_direct' && ok || bad "long --op list lost bpa: $(cat "$tmp/err")"
# run checks the sweep's inputs (same --seed): a row's err_ratio comes back for
# each op, and run adds the adjoint test for BPA and BPW.
"$convbp" sweep --problem mb2ic4ih7oc4kh3sh2ph0 --op fwd,bpa,bpw --strategy fwd_direct,bpa_direct,bpw_direct \
  --threads 1 --seed 7 $fast --force --output "$tmp/seeds.csv" 2>/dev/null
"$convbp" run --problem mb2ic4ih7oc4kh3sh2ph0 --op fwd,bpa,bpw --strategy fwd_direct,bpa_direct,bpw_direct \
  --seed 7 >"$tmp/run.txt" 2>&1
for op in fwd bpa bpw; do
  r=$(awk -F, -v op=$op 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "err_ratio") c = i }
    NR > 1 && $3 == op { printf "%.3g", $c }' "$tmp/seeds.csv")
  [ -n "$r" ] && grep -q "^PASSED  $op ${op}_direct .* err/bound=$r " "$tmp/run.txt" && ok \
    || bad "run's $op err/bound is not the sweep's $r: $(cat "$tmp/run.txt")"
done
[ "$(grep -c ' adjoint_gap/bound=' "$tmp/run.txt")" -eq 2 ] && ok || bad "run's adjoint tests: $(cat "$tmp/run.txt")"
# A BPA check makes FWD's reference too (its adjoint test): a FWD strategy
# checked after it does not say it made one.
"$convbp" run --problem mb2ic4ih7oc4kh3sh2ph0 --op fwd,bpa --strategy bpa_direct,fwd_im2col_gemm \
  >"$tmp/run.txt" 2>&1
grep -q '^PASSED  bpa bpa_direct .*incl. reference)$' "$tmp/run.txt" \
  && grep -q '^PASSED  fwd fwd_im2col_gemm .*s)$' "$tmp/run.txt" && ok \
  || bad "run's reference labels: $(cat "$tmp/run.txt")"
expect 2 "not a whole number >= 1" -- sweep --threads 0 --problem mb2ic3ih5oc2kh3
expect 2 "this machine has" -- sweep --threads 4096 --problem mb2ic3ih5oc2kh3
export OMP_THREAD_LIMIT=1  # a row labelled 2 threads must not have run on 1
expect 2 "OMP_THREAD_LIMIT allows 1" -- sweep --threads 1,2 --problem mb2ic3ih5oc2kh3
expect 2 "OMP_THREAD_LIMIT allows 1" -- peak --threads 2
unset OMP_THREAD_LIMIT
expect 2 "cannot read problems file" -- sweep --problems "$tmp/missing.txt"
expect 2 "bad.txt:3: unknown field 'zz'" -- sweep --problems "$tmp/bad.txt"
{ printf 'mb2ic3ih5oc2kh3\n# %s\nmb2ic3ih5oc2kh3\n' "$(printf 'c%.0s' $(seq 1100))"; } > "$tmp/long.txt"
expect 2 "long.txt:2: line longer than 1022 characters" -- sweep --problems "$tmp/long.txt"
expect 2 "unknown suite 'resnet51'" -- sweep --suite resnet51
expect 2 "--shard: needs K/N" -- sweep --suite small --shard 3/2
expect 2 "is not compact, scatter or none" -- sweep --suite small --bind loose
expect 2 "unknown option '--frob'" -- sweep --suite small --frob
expect 2 "option '--problem' needs a value" -- sweep --problem
expect 2 "--seed: needs a whole number" -- sweep --suite small --seed 12x
expect 2 "--random: needs one whole number of problems, 1 to 100000, got '0'" -- run --random 0
expect 2 "--random: needs one whole number of problems, 1 to 100000, got '2,3'" -- run --random 2,3
expect 2 "--random: needs one whole number of problems, 1 to 100000, got '100001'" -- \
  run --random 100001
# --random N draws N problems from --seed (given before or after it): the
# same ones for the same seed, others for another, a fifth of them MMAs.
rnd() { "$convbp" run --op fwd,mma_bpa --strategy fwd_direct,mma_bpa_direct "$@" 2>&1 |
  awk '{ print $5 }'; }
rnd --random 10 --seed 5 >"$tmp/r1"
rnd --seed 5 --random 10 >"$tmp/r2"
rnd --random 10 --seed 6 >"$tmp/r3"
[ "$(sort -u "$tmp/r1" | wc -l)" -eq 10 ] &&
  [ "$(grep -c '^m[0-9]*n[0-9]*k[0-9]*n"random"$' "$tmp/r1")" -eq 2 ] &&
  cmp -s "$tmp/r1" "$tmp/r2" && ! cmp -s "$tmp/r1" "$tmp/r3" && ok ||
  bad "--random: not 10 problems (2 MMAs) that the seed alone decides: $(cat "$tmp/r1" "$tmp/r3")"
expect 2 "is not a convbp CSV: no column 'strategy'" -- best "$tmp/foreign.csv"
expect 2 "cannot read" -- best "$tmp/none.csv"
expect 3 "cannot write" -- sweep --problem mb1ic2ih4oc2kh3 --op fwd $fast --output "$tmp/no/such/dir/x.csv"
expect 3 "cannot write" -- sweep --problem mb1ic2ih4oc2kh3 --op fwd $fast --output /dev/full --force

# ---- a small sweep: grammar, expansion, CSV schema and quoting ----
out="$tmp/grid.csv"
"$convbp" sweep --problem 'mb1ic2ih5oc3kh3n"a,b c"' --kh 1,3 --sh 1:2 --op fwd,bpa \
  --strategy '*direct' --threads 1 $fast --output "$out" 2>"$tmp/err" || bad "grid sweep: $(cat "$tmp/err")"
rows=$(($(wc -l < "$out") - 1))
# 2 kh x 2 sh points x 2 ops x 1 strategy each = 8 rows
[ "$rows" -eq 8 ] && ok || bad "grid sweep wrote $rows rows, want 8"
"$convbp" best --csv "$out" > "$tmp/best.csv" 2>"$tmp/err" && ok || bad "best: $(cat "$tmp/err")"
grep -q '^"mb1ic2ih5oc3oh3kh3ph0n""a,b c""",fwd,' "$tmp/best.csv" && ok || bad "name with a comma not round-tripped: $(head -3 "$tmp/best.csv")"
header=$(head -1 "$out")
case "$header" in problem,name,op,strategy,threads,bind,n,c,h,w,k,r,s,*status,reason,vs_onednn) ok ;; *) bad "header: $header" ;; esac
[ -s "$tmp/grid.machine.txt" ] && grep -q '^peak_gflops_1t=' "$tmp/grid.machine.txt" && ok || bad "no machine sidecar"
# the sidecar beside an output path over 1023 characters (a fixed 1024-byte
# buffer once cut its name short); one that cannot fit is refused up front
deep=$tmp/deep
while [ ${#deep} -lt 1030 ]; do deep=$deep/dddddddddddddddddddddddddddddddddddddddd; done
mkdir -p "$deep"
"$convbp" sweep --problem mb1ic2ih5oc2kh3 --op fwd --strategy fwd_direct $fast --output "$deep/r.csv" 2>"$tmp/err" &&
  [ -s "$deep/r.machine.txt" ] && [ "$(ls "$deep" | wc -l)" -eq 2 ] && ok || bad "deep output: $(cat "$tmp/err"; ls "$deep")"
expect 2 "--output: path too long" -- sweep --problem mb1ic2ih5oc2kh3 --output "$tmp/$(printf 'x%.0s' $(seq 4100)).csv"
# refusing to overwrite
expect 2 "exists; --resume completes it, --force overwrites it" -- sweep --suite small --output "$out"

# ---- a problem or thread count given twice is measured once (one row per key) ----
"$convbp" sweep --problem mb1ic2ih4oc2kh3 --problem mb1ic2ih4oc2oh2kh3ph0 --mb 1,1 --op fwd --strategy fwd_direct \
  --threads 1,2,1 $fast --output "$tmp/rep.csv" 2>"$tmp/err"
[ "$(tail -n +2 "$tmp/rep.csv" | wc -l)" -eq 2 ] && grep -q "3 repeated problem(s) will be measured once" "$tmp/err" \
  && grep -q "1 repeated thread count(s)" "$tmp/err" && ok || bad "repeats: $(cat "$tmp/err"; cat "$tmp/rep.csv")"

# ---- the sidecar: caches recorded; --resume keeps its peaks and refuses another machine ----
grep -q '^caches=' "$tmp/grid.machine.txt" && ok || bad "sidecar lacks caches=: $(cat "$tmp/grid.machine.txt")"
# (A one-thread sweep measures no thread floor, thread_flops=none; resumed on
# two threads it adds the floor those rows ran with. The kernels of 8-channel
# outputs, kernels_8ch, resumed under CONVBP_ISA=portable become portable's.)
out="$tmp/side.csv"
"$convbp" sweep --problem mb1ic2ih4oc2kh3 --op fwd --strategy fwd_direct --threads 1 $fast --output "$out" 2>/dev/null
peak1=$(grep '^peak_gflops_1t=' "$tmp/side.machine.txt")
k8=$(sed -n 's/^kernels_8ch=//p' "$tmp/side.machine.txt")
case "$k8" in avx512|avx2|portable) ok ;; *) bad "sidecar kernels_8ch='$k8': $(cat "$tmp/side.machine.txt")" ;; esac
sed -i 's/^revision=.*/revision=0000000/' "$tmp/side.machine.txt"
CONVBP_ISA=portable "$convbp" sweep --problem mb1ic2ih4oc2kh3 --op fwd --strategy fwd_direct --threads 1,2 $fast --resume --output "$out" 2>/dev/null
[ "$(grep -c '^peak_gflops_1t=' "$tmp/side.machine.txt")" -eq 1 ] && grep -q "^$peak1\$" "$tmp/side.machine.txt" \
  && grep -q '^peak_gflops_2t=' "$tmp/side.machine.txt" && grep -q '^revision=0000000$' "$tmp/side.machine.txt" \
  && grep -q '^resumed_revision=' "$tmp/side.machine.txt" && grep -q '^overrides=CONVBP_KEEP_BLAS_CORETYPE=1$' "$tmp/side.machine.txt" \
  && grep -q '^resumed_overrides=CONVBP_ISA=portable CONVBP_KEEP_BLAS_CORETYPE=1$' "$tmp/side.machine.txt" \
  && grep -q '^thread_flops=none$' "$tmp/side.machine.txt" && grep -Eq '^resumed_thread_flops=[0-9]+$' "$tmp/side.machine.txt" \
  && { [ "$k8" = portable ] || grep -q '^resumed_kernels_8ch=portable$' "$tmp/side.machine.txt"; } \
  && ok || bad "resumed sidecar: $(cat "$tmp/side.machine.txt")"
# A thread count whose measured peak falls short of its share of the cores is
# named (here, a resumed sidecar whose 2-thread peak is one thread's; two
# threads held to one CPU: test_cli_one_cpu.sh), and the sweep still runs.
short="$tmp/short.csv"
"$convbp" sweep --problem mb1ic2ih4oc2kh3 --op fwd --strategy fwd_direct --threads 1,2 $fast --output "$short" 2>/dev/null
p1=$(sed -n 's/^peak_gflops_1t=//p' "$tmp/short.machine.txt")
sed -i "s/^peak_gflops_2t=.*/peak_gflops_2t=$p1/" "$tmp/short.machine.txt"
expect 0 "warning: 2 threads reached $p1 GFLOP/s in the FMA loop, 1.00x one thread's" -- \
  sweep --problem mb1ic2ih5oc2kh3 --op fwd --strategy fwd_direct --threads 1,2 $fast --resume --output "$short"
[ "$(tail -n +2 "$short" | wc -l)" -eq 4 ] && ok || bad "sweep with a short peak: $(cat "$short")"
# best says so too, reading the sidecar later, and still prints its table.
"$convbp" best "$short" >"$tmp/out" 2>"$tmp/err" && grep -q "^wins per op" "$tmp/out" \
  && grep -q "convbp best: note: $short was measured where 2 threads reached $p1 GFLOP/s" "$tmp/err" && ok \
  || bad "best on a short peak: $(cat "$tmp/err")"
p2=$(awk -v p="$p1" 'BEGIN { printf "%.1f", 1.9 * p }')
sed -i "s/^peak_gflops_2t=.*/peak_gflops_2t=$p2/" "$tmp/short.machine.txt"
"$convbp" best "$short" >/dev/null 2>"$tmp/err" && ! grep -q "threads reached" "$tmp/err" && ok \
  || bad "best noted a shortfall at 1.9x: $(cat "$tmp/err")"
# A sweep without one thread measures that peak for the test and records it
# (no bandwidth line: no row of one thread), so best can repeat the test.
two="$tmp/two.csv"
"$convbp" sweep --problem mb1ic2ih4oc2kh3 --op fwd --strategy fwd_direct --threads 2 $fast --output "$two" 2>/dev/null
grep -q '^peak_gflops_1t=' "$tmp/two.machine.txt" && ! grep -q '^bandwidth_gbs_1t=' "$tmp/two.machine.txt" \
  && grep -q '^peak_gflops_2t=' "$tmp/two.machine.txt" && ok || bad "2-thread sidecar: $(cat "$tmp/two.machine.txt")"
t1=$(sed -n 's/^peak_gflops_1t=//p' "$tmp/two.machine.txt")
sed -i "s/^peak_gflops_2t=.*/peak_gflops_2t=$t1/" "$tmp/two.machine.txt"
"$convbp" best "$two" >/dev/null 2>"$tmp/err" && grep -q "note: $two was measured where 2 threads reached" "$tmp/err" \
  && ok || bad "best on a 2-thread sweep with a short peak: $(cat "$tmp/err")"
# Two threads held to one CPU by taskset: test_cli_one_cpu.sh, run alone.
# A bad CONVBP_PEAK_RETRIES is named before anything is written.
if CONVBP_PEAK_RETRIES=21 "$convbp" sweep --problem mb1ic2ih4oc2kh3 --op fwd --output "$tmp/retries.csv" \
    >/dev/null 2>"$tmp/err"; then rc=0; else rc=$?; fi
[ "$rc" -eq 2 ] && grep -q "CONVBP_PEAK_RETRIES must be a whole number from 0 to 20, got '21'" "$tmp/err" &&
  [ ! -e "$tmp/retries.csv" ] && ok || bad "CONVBP_PEAK_RETRIES=21: exit $rc, $(cat "$tmp/err")"
sed -i 's/^cpu=.*/cpu=Some Other CPU/' "$tmp/side.machine.txt"
cp "$out" "$tmp/side.orig"
cp "$tmp/side.machine.txt" "$tmp/side.machine.orig"
expect 2 "was measured on another machine (cpu=Some Other CPU there" -- sweep --problem mb1ic2ih6oc2kh3 --op fwd --strategy fwd_direct $fast --resume --output "$out"
cmp -s "$out" "$tmp/side.orig" && cmp -s "$tmp/side.machine.txt" "$tmp/side.machine.orig" && ok || bad "--resume on another machine touched the files"
mkdir "$tmp/nosidecar.machine.txt"
expect 3 "cannot write '$tmp/nosidecar.machine.txt'" -- sweep --problem mb1ic2ih4oc2kh3 --op fwd --strategy fwd_direct $fast --output "$tmp/nosidecar.csv"
# A sidecar that exists but cannot be read stops --resume before anything is
# written (it was taken for none, and a new one would have replaced it).
cp "$tmp/side.orig" "$tmp/unread.csv"
mkdir "$tmp/unread.machine.txt"
expect 2 "cannot read the sidecar '$tmp/unread.machine.txt'" -- sweep --problem mb1ic2ih6oc2kh3 --op fwd --strategy fwd_direct $fast --resume --output "$tmp/unread.csv"
cmp -s "$tmp/unread.csv" "$tmp/side.orig" && ok || bad "--resume with an unreadable sidecar touched the CSV"
# best, which reads the sidecar's peaks, says so too (a winner table without
# the note it might owe would pass for a clean one).
expect 2 "convbp best: cannot read the sidecar '$tmp/unread.machine.txt'" -- best "$tmp/unread.csv"
# oneDNN's ISA cap changes the peer's kernels: recorded with the other knobs.
DNNL_MAX_CPU_ISA=AVX2 "$convbp" sweep --problem mb1ic2ih4oc2kh3 --op fwd --strategy fwd_direct --threads 1 \
  $fast --output "$tmp/capped.csv" 2>/dev/null
grep -q '^overrides=CONVBP_KEEP_BLAS_CORETYPE=1 DNNL_MAX_CPU_ISA=AVX2$' "$tmp/capped.machine.txt" \
  && ok || bad "DNNL_MAX_CPU_ISA not in the sidecar: $(grep '^overrides=' "$tmp/capped.machine.txt")"
# A user's OPENBLAS_CORETYPE narrower than the CPU's vectors is obeyed, with a
# note (Prescott is SSE3: narrower than any AVX2 CPU), and recorded.
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
  (unset CONVBP_KEEP_BLAS_CORETYPE; OPENBLAS_CORETYPE=Prescott "$convbp" sweep --problem mb1ic2ih4oc2kh3 \
    --op fwd --strategy fwd_direct --threads 1 $fast --output "$tmp/narrow.csv" >/dev/null 2>"$tmp/narrow.err")
  [ $? -eq 0 ] && grep -q "note: OPENBLAS_CORETYPE=Prescott makes OpenBLAS run its Prescott kernels" "$tmp/narrow.err" \
    && grep -q '^overrides=OPENBLAS_CORETYPE=Prescott$' "$tmp/narrow.machine.txt" \
    && grep -q '(core Prescott)$' "$tmp/narrow.machine.txt" \
    && ok || bad "narrow OPENBLAS_CORETYPE: $(cat "$tmp/narrow.err") $(grep -E '^(overrides|openblas)=' "$tmp/narrow.machine.txt")"
fi

# ---- vs_onednn: every timed row against the best oneDNN median of its point ----
# check_vs FILE: each row's vs_onednn is min(peer medians of its point) / its median,
# or empty when the point has no timed peer; prints what disagrees.
check_vs() {
  python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
best = {}
for r in rows:
    k = (r["problem"], r["op"], r["threads"], r["bind"])
    if "onednn" in r["strategy"] and r["status"] == "ok":
        best[k] = min(best.get(k, 1e300), float(r["time_median_ms"]))
for r in rows:
    k = (r["problem"], r["op"], r["threads"], r["bind"])
    want = best[k] / float(r["time_median_ms"]) if k in best and r["status"] == "ok" else None
    got = r["vs_onednn"]
    if (want is None) != (got == "") or (want is not None and abs(float(got) / want - 1) > 1e-4):
        print(r["strategy"], "vs_onednn", repr(got), "want", want)
PY
}
# The *direct strategies of the grid sweep above: no peer, so the column is empty.
[ -z "$(check_vs "$out")" ] && ok || bad "vs_onednn without peers: $(check_vs "$out")"
if "$convbp" list | grep -q '^bpw_onednn_blocked'; then
  out="$tmp/vs.csv"
  "$convbp" sweep --problem mb2ic16ih8oc16kh3ph1 --op bpw --strategy 'bpw_direct_blocked,bpw_im2col_gemm,bpw_onednn*' \
    --threads 1 $fast --output "$out" 2>/dev/null
  [ "$(grep -c ',ok,' "$out")" -eq 4 ] && [ -z "$(check_vs "$out")" ] && ok || bad "vs_onednn: $(check_vs "$out")"
  grep -q ',bpw_onednn.*,ok,,1$' "$out" && ok || bad "the fastest peer's row is not 1"
  # --resume: the peer timed by the first run is the reference of the rows added later.
  out="$tmp/vs_resume.csv"
  "$convbp" sweep --problem mb2ic16ih8oc16kh3ph1 --op bpw --strategy bpw_onednn_blocked --threads 1 $fast --output "$out" 2>/dev/null
  "$convbp" sweep --problem mb2ic16ih8oc16kh3ph1 --op bpw --strategy 'bpw_onednn_blocked,bpw_direct_blocked' --threads 1 $fast \
    --resume --output "$out" 2>/dev/null
  [ "$(grep -c ',ok,' "$out")" -eq 2 ] && grep -q ',bpw_direct_blocked,.*,ok,,[0-9.e+-]\{1,\}$' "$out" && [ -z "$(check_vs "$out")" ] \
    && ok || bad "vs_onednn after --resume: $(check_vs "$out") $(tail -1 "$out")"
fi
# A CSV of an older schema (no vs_onednn) is read by best, but --resume will not append to it.
python3 -c 'import csv, sys; w = csv.writer(sys.stdout, lineterminator="\n"); [w.writerow(r[:-1]) for r in csv.reader(sys.stdin)]' \
  < "$tmp/grid.csv" > "$tmp/old.csv"
cp "$tmp/old.csv" "$tmp/old.orig"
"$convbp" best "$tmp/old.csv" > /dev/null 2>"$tmp/err" && ok || bad "best on an older CSV: $(cat "$tmp/err")"
expect 2 "column 40 should be 'vs_onednn'" -- sweep --problem mb1ic2ih4oc2kh3 --op fwd --strategy fwd_direct $fast --resume --output "$tmp/old.csv"
cmp -s "$tmp/old.csv" "$tmp/old.orig" && ok || bad "--resume modified a CSV of another schema"

# ---- binding read back ----
out="$tmp/bind.csv"
"$convbp" sweep --problem mb2ic4ih6oc4kh3 --op fwd --strategy fwd_direct --threads 1,2 --bind compact $fast --output "$out" 2>/dev/null
sets=$(tail -n +2 "$out" | awk -F, '{print $23}' | tr '\n' ' ')
[ "$sets" = "0 0;1 " ] && ok || bad "cpusets read back '$sets', want '0 0;1 '"

# ---- --threads all stops at OMP_THREAD_LIMIT ----
OMP_THREAD_LIMIT=1 "$convbp" sweep --problem mb2ic4ih6oc4kh3 --op fwd --strategy fwd_direct --threads all $fast \
  --output "$tmp/limit.csv" 2>"$tmp/err" || bad "sweep --threads all under OMP_THREAD_LIMIT=1: $(cat "$tmp/err")"
counts=$(tail -n +2 "$tmp/limit.csv" | awk -F, '{print $5}' | sort -u | tr '\n' ' ')
[ "$counts" = "1 " ] && ok || bad "--threads all under OMP_THREAD_LIMIT=1 ran thread counts '$counts', want '1 '"

# ---- shards are disjoint and cover the sweep; resume adds nothing ----
args="--suite edge --op bpa,bpw --strategy *direct --threads 1 $fast"
"$convbp" sweep $args --output "$tmp/all.csv" 2>/dev/null
for k in 1 2 3; do "$convbp" sweep $args --shard $k/3 --output "$tmp/s$k.csv" 2>/dev/null; done
key() { tail -n +2 "$1" | awk -F, '{print $1, $3, $4, $5}' | sort; }
key "$tmp/all.csv" > "$tmp/all.keys"
{ key "$tmp/s1.csv"; key "$tmp/s2.csv"; key "$tmp/s3.csv"; } | sort > "$tmp/shards.keys"
cmp -s "$tmp/all.keys" "$tmp/shards.keys" && ok || bad "shards do not partition the sweep"
[ "$(sort "$tmp/shards.keys" | uniq -d | wc -l)" -eq 0 ] && ok || bad "shards overlap"
[ "$(wc -l < "$tmp/s1.csv")" -gt 1 ] && [ "$(wc -l < "$tmp/s3.csv")" -gt 1 ] && ok || bad "a shard is empty"
# scripts/merge joins the shards back into the whole sweep, and refuses overlap.
merge=$(dirname "$0")/../scripts/merge
python3 "$merge" "$tmp/merged.csv" "$tmp/s1.csv" "$tmp/s2.csv" "$tmp/s3.csv" 2>/dev/null
key "$tmp/merged.csv" | cmp -s - "$tmp/all.keys" && ok || bad "merged shards differ from the whole sweep"
# an existing output is kept unless --force, as sweep keeps its own
python3 "$merge" "$tmp/merged.csv" "$tmp/s1.csv" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "exists; --force replaces it" "$tmp/err" && key "$tmp/merged.csv" | cmp -s - "$tmp/all.keys" &&
  ok || bad "merge overwrote an existing output: $(cat "$tmp/err")"
python3 "$merge" --force "$tmp/merged.csv" "$tmp/s1.csv" 2>/dev/null &&
  [ "$(key "$tmp/merged.csv" | wc -l)" -eq "$(key "$tmp/s1.csv" | wc -l)" ] && ok || bad "merge --force did not replace"
python3 "$merge" "$tmp/dup.csv" "$tmp/s1.csv" "$tmp/s1.csv" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "is also in" "$tmp/err" && [ ! -e "$tmp/dup.csv" ] && ok || bad "merge accepted overlapping shards"
sed 's/^cpu=.*/cpu=Some Other CPU/' "$tmp/s2.machine.txt" > "$tmp/s2.other" && mv "$tmp/s2.other" "$tmp/s2.machine.txt"
python3 "$merge" "$tmp/mixed.csv" "$tmp/s1.csv" "$tmp/s2.csv" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "measured on another machine than" "$tmp/err" && [ ! -e "$tmp/mixed.csv" ] && ok || bad "merge accepted shards of two machines: $(cat "$tmp/err")"
before=$(wc -l < "$tmp/all.csv")
"$convbp" sweep $args --resume --output "$tmp/all.csv" 2>/dev/null
[ "$(wc -l < "$tmp/all.csv")" -eq "$before" ] && ok || bad "resume of a complete sweep added rows"

# ---- a sweep killed mid-run leaves a valid CSV; resume completes it, no duplicates ----
# The signal goes once the first timed row is in (not after a fixed sleep: on a
# loaded machine, with the other tests running beside this one, 3 s once
# passed before any row was timed, and best rightly refused a CSV without one).
wait_for_timed_row() {
  for _ in $(seq 1 600); do
    grep -q ',ok,' "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
out="$tmp/killed.csv"
"$convbp" sweep --suite edge --threads 1,2 --reps 3 --min-time 0.02 --quiet --output "$out" 2>/dev/null &
pid=$!
wait_for_timed_row "$out" || bad "no timed row in 60 s of a sweep"
kill -INT $pid
wait $pid
code=$?
[ "$code" -eq 130 ] && ok || bad "interrupted sweep exit $code, want 130 (did it finish before the signal?)"
"$convbp" best "$out" > /dev/null 2>"$tmp/err" && ok || bad "killed CSV invalid: $(cat "$tmp/err")"
"$convbp" sweep --suite edge --threads 1,2 --reps 1 --min-time 0.001 --quiet --resume --output "$out" 2>/dev/null
dups=$(tail -n +2 "$out" | awk -F, '{print $1, $3, $4, $5, $6}' | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] && ok || bad "resume left $dups duplicate rows"
want=$("$convbp" list | awk '$2 == "fwd" || $2 == "bpa" || $2 == "bpw"' | wc -l)
rows=$(($(wc -l < "$out") - 1))
[ "$rows" -eq $((want * 10 * 2)) ] && ok || bad "resumed sweep has $rows rows, want $((want * 10 * 2))"

# A CSV cut mid-row is refused by best and by --resume, and --resume adds nothing to it.
head -c $(($(wc -c < "$tmp/all.csv") - 7)) "$tmp/all.csv" > "$tmp/cut.csv"
cp "$tmp/cut.csv" "$tmp/cut.orig"
expect 2 "truncated mid-row" -- best "$tmp/cut.csv"
expect 2 "truncated mid-row" -- sweep $args --resume --output "$tmp/cut.csv"
cmp -s "$tmp/cut.csv" "$tmp/cut.orig" && ok || bad "--resume modified a truncated CSV"

# SIGTERM, like SIGINT, leaves a valid CSV.
"$convbp" sweep --suite edge --threads 1 --reps 3 --min-time 0.02 --quiet --output "$tmp/term.csv" 2>/dev/null &
pid=$!
wait_for_timed_row "$tmp/term.csv" || bad "no timed row in 60 s of a sweep"
kill -TERM $pid
wait $pid
[ $? -eq 130 ] && ok || bad "SIGTERM: exit code"
"$convbp" best "$tmp/term.csv" > /dev/null 2>"$tmp/err" && ok || bad "terminated CSV invalid: $(cat "$tmp/err")"

# ---- a wrong strategy (test builds register one): reported, excluded, the sweep goes on ----
if "$convbp" list | grep -q '^bpa_seed_as_written'; then
  "$convbp" sweep --problem mb2ic4ih7oc4kh3sh2ph0 --op bpa --strategy bpa_seed_as_written,bpa_direct,bpa_scatter_gemm \
    --threads 1 $fast --output "$tmp/wrong.csv" 2>"$tmp/err"
  [ $? -eq 1 ] && ok || bad "a wrong strategy should make the sweep exit 1"
  grep -q "rerun: convbp run --op bpa --strategy bpa_seed_as_written" "$tmp/err" && ok || bad "no rerun line: $(cat "$tmp/err")"
  # a sweep's own seed goes into its rerun line
  "$convbp" sweep --problem mb2ic4ih7oc4kh3sh2ph0 --op bpa --strategy bpa_seed_as_written --seed 7 \
    --threads 1 $fast --force --output "$tmp/wrong7.csv" 2>"$tmp/err"
  grep -q "rerun: convbp run --op bpa --strategy bpa_seed_as_written --threads 1 --seed 7 --problem" "$tmp/err" \
    && ok || bad "rerun line without the sweep's seed: $(cat "$tmp/err")"
  grep -q ',bpa_seed_as_written,.*,wrong,' "$tmp/wrong.csv" && ok || bad "no wrong row"
  [ "$(grep -c ',ok,' "$tmp/wrong.csv")" -eq 2 ] && ok || bad "the other strategies did not run"
  "$convbp" best "$tmp/wrong.csv" | grep -q bpa_seed_as_written && bad "best crowned a wrong strategy" || ok
  expect 1 "" -- run --problem mb2ic4ih7oc4kh3sh2ph0 --strategy bpa_seed_as_written
  # gbench names a strategy that declines the shape, with its reason (as sweep's unsupported row)
  "$convbp" gbench --problem mb1ic2ih1oc2kh3sh4ph2 --op bpa --strategy bpa_seed_as_written,bpa_direct \
    --benchmark_min_time=0.001 >/dev/null 2>"$tmp/err"
  grep -q 'bpa/bpa_seed_as_written/.* unsupported: the recipe as written yields no output' "$tmp/err" && ok ||
    bad "gbench left out an unsupported case without a word: $(cat "$tmp/err")"
  grep -q "^FAILED  bpa bpa_seed_as_written" "$tmp/out" && ok || bad "run does not say FAILED: $(cat "$tmp/out")"
fi

# ---- a workspace that cannot be allocated: an error row, and the sweep goes on ----
# (Z of zero insertion is 4 GB here; the address space is limited to 2.5 GB, which
# sanitizer builds, with their terabytes of shadow mappings, cannot run under.)
if [ -z "${CONVBP_SANITIZED:-}" ]; then
(ulimit -v 2500000
 "$convbp" sweep --problem mb1ic4ih4000oc64kh1sh4 --op bpa --strategy bpa_zero_insert_gemm,bpa_scatter_gemm \
   --threads 1 $fast --no-verify --output "$tmp/nomem.csv" 2>/dev/null)
grep -q ',bpa_zero_insert_gemm,.*,error,out of memory' "$tmp/nomem.csv" && ok || bad "no out-of-memory row"
grep -q ',bpa_scatter_gemm,.*,ok,' "$tmp/nomem.csv" && ok || bad "the sweep did not go on after an allocation failure"
fi

# ---- the winner table and gbench mode ----
"$convbp" best --markdown "$tmp/all.csv" | grep -q '^| problem | op |' && ok || bad "markdown table"
# every file given is read: 64 copies of one sweep, then the rep sweep's points as the 65th
"$convbp" best --csv $(for i in $(seq 64); do printf '%s ' "$tmp/grid.csv"; done) "$tmp/rep.csv" \
  > "$tmp/best65.csv" 2>"$tmp/err" && grep -q '^mb1ic2ih4oc2oh2kh3ph0,fwd,' "$tmp/best65.csv" && ok ||
  bad "best left out its 65th file: $(cat "$tmp/err"; head -3 "$tmp/best65.csv")"
expect 2 "needs a number >= 0, got nothing" -- best "$tmp/grid.csv" --noise
# The plain table's columns line up: the fixture's small_dilated descriptor is
# 42 characters, past the 40 the problem column had.
cols=$("$convbp" best "$(dirname "$0")/fixtures/small.csv" | awk 'NF == 0 { exit } { match($0, /^[^ ]+ +/); print RLENGTH }' | sort -u | wc -l)
[ "$cols" -eq 1 ] && ok || bad "best's plain table has the op column at $cols offsets"
# --estimate adds ESTIMATE's pick and its time over the fastest (peers included) to
# each row. Its rules for layers below 2 MFLOP depend on the kernel set: under
# CONVBP_ISA=avx2 they are those of every CPU without AVX-512 kernels, the GEMM
# strategy. From the fixture's rows: small_3x3 fwd on 1 thread, fwd_im2col_gemm
# 0.0863433 ms against fwd_onednn_blocked 0.0129647 ms is 6.66x; on small_dilated
# bpa on 2 threads the pick is the fastest.
fixture=$(dirname "$0")/fixtures/small.csv
CONVBP_ISA=avx2 "$convbp" best --estimate --csv "$fixture" > "$tmp/est.csv" 2>"$tmp/err" || bad "best --estimate: $(cat "$tmp/err")"
head -1 "$tmp/est.csv" | grep -q ',verdict,estimate,est_vs_fastest$' && ok || bad "estimate columns: $(head -1 "$tmp/est.csv")"
grep -q '"small_3x3""",fwd,1,fwd_im2col_gemm,.*,fwd_im2col_gemm,6.66x$' "$tmp/est.csv" && ok || bad "estimate of small_3x3 fwd 1"
grep -q '"small_dilated""",bpa,2,.*,bpa_scatter_gemm,fastest$' "$tmp/est.csv" && ok || bad "estimate of small_dilated bpa 2"
# With AVX-512 kernels the dense small layers go to the blocked strategies,
# which the fixture never timed; the 1x1 layer keeps the GEMM (4.27x here).
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  "$convbp" best --estimate --csv "$fixture" > "$tmp/est512.csv" 2>"$tmp/err" || bad "best --estimate: $(cat "$tmp/err")"
  grep -q '"small_3x3""",fwd,1,.*,fwd_direct_blocked,not timed$' "$tmp/est512.csv" &&
    grep -q '"small_1x1""",fwd,1,.*,fwd_im2col_gemm,4.27x$' "$tmp/est512.csv" && ok ||
    bad "estimate with AVX-512 kernels: $(grep -E 'small_(3x3|1x1)""",fwd,1,' "$tmp/est512.csv")"
fi
"$convbp" best --csv "$fixture" | head -1 | grep -q ',verdict$' && ok || bad "estimate columns without --estimate"
# ESTIMATE's rules differ by kernel set: a file measured with another one than
# this build's gets a note (the estimate column is this build's), one of this
# build's none.
cp "$fixture" "$tmp/foreign.csv"
printf 'cpu=elsewhere\nisa=neon\n' > "$tmp/foreign.machine.txt"
"$convbp" best --estimate "$tmp/foreign.csv" > /dev/null 2>"$tmp/err" &&
  grep -q "note: $tmp/foreign.csv was measured with neon kernels, this build has" "$tmp/err" && ok ||
  bad "no note on another kernel set: $(cat "$tmp/err")"
# So do OpenBLAS's: its small-matrix kernel decides some 1x1 layers.
printf 'cpu=elsewhere\nopenblas=OpenBLAS 0.3.21 DYNAMIC_ARCH (core Neverlake)\n' > "$tmp/foreign.machine.txt"
"$convbp" best --estimate "$tmp/foreign.csv" > /dev/null 2>"$tmp/err" &&
  grep -q "note: $tmp/foreign.csv was measured with OpenBLAS's Neverlake kernels, this process runs its .*OPENBLAS_CORETYPE=Neverlake" "$tmp/err" &&
  ! grep -q "kernels, this build has" "$tmp/err" && ok ||
  bad "no note on another OpenBLAS kernel set: $(cat "$tmp/err")"
[ -f "$tmp/all.machine.txt" ] && "$convbp" best --estimate "$tmp/all.csv" > /dev/null 2>"$tmp/err" &&
  ! grep -q 'note:' "$tmp/err" && ok || bad "a note on this build's own sweep: $(cat "$tmp/err")"
head -1 "$tmp/grid.csv" > "$tmp/empty.csv"
expect 2 "no timed row (status ok) in '$tmp/empty.csv'" -- best "$tmp/empty.csv"
"$convbp" gbench --problem mb1ic2ih5oc2kh3 --op bpa --strategy bpa_direct --benchmark_format=json \
  --benchmark_min_time=0.001 2>/dev/null | grep -q '"name": "bpa/bpa_direct/' && ok || bad "gbench json"
# a filter that selects nothing (or no regular expression) times nothing: refused, not exit 0
expect 2 "gbench: no benchmark ran: --benchmark_filter matched none of the 1 cases" -- \
  gbench --problem mb1ic2ih5oc2kh3 --op bpa --strategy bpa_direct --benchmark_filter=nomatch
expect 2 "not a valid regular expression" -- \
  gbench --problem mb1ic2ih5oc2kh3 --op bpa --strategy bpa_direct --benchmark_filter='['
# a case gbench cannot register is named on stderr, as sweep writes a skipped row
"$convbp" gbench --problem mb1ic2ih5oc2kh3 --op bpa --strategy bpa_direct,bpa_zero_insert_gemm \
  --max-workspace 0 --benchmark_min_time=0.001 >"$tmp/out" 2>"$tmp/err"
grep -q 'bpa/bpa_zero_insert_gemm/.* skipped: workspace [0-9]* bytes over --max-workspace' "$tmp/err" &&
  grep -q 'bpa/bpa_direct/' "$tmp/out" && ok || bad "gbench skipped a case without a word: $(cat "$tmp/err")"

# ---- compare: NEW is the fixture with one row twice as fast, one row gone and
# another CPU in its sidecar; speedups and verdicts are worked out again here ----
python3 - "$fixture" "$tmp/new.csv" <<'PY'
import csv, sys
with open(sys.argv[1], newline="") as f:
    reader = csv.DictReader(f)
    head, rows = reader.fieldnames, list(reader)
out = []
for r in rows:
    key = (r["name"], r["op"], r["strategy"], r["threads"])
    if key == ("small_3x3", "fwd", "fwd_direct", "1"):
        continue
    if key == ("small_3x3", "fwd", "fwd_im2col_gemm", "1"):
        for c in ("time_min_ms", "time_median_ms", "time_mean_ms", "time_max_ms"):
            r[c] = repr(float(r[c]) / 2)
    out.append(r)
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, head, lineterminator="\n")
    w.writeheader()
    w.writerows(out)
PY
sed 's/^cpu=.*/cpu=Another CPU/' "$(dirname "$0")/fixtures/small.machine.txt" > "$tmp/new.machine.txt"
"$convbp" compare --csv "$fixture" "$tmp/new.csv" > "$tmp/cmp.csv" 2>"$tmp/err" && ok || bad "compare: $(cat "$tmp/err")"
grep -q "note: BASE was measured on '.*', NEW on 'Another CPU'" "$tmp/err" && ok || bad "compare: no machine note: $(cat "$tmp/err")"
grep -q '"small_3x3""",fwd,fwd_im2col_gemm,1,0.08634,0.04317,2.000x,faster$' "$tmp/cmp.csv" && ok ||
  bad "compare: the halved row: $(grep fwd_im2col_gemm,1, "$tmp/cmp.csv" | head -1)"
python3 - "$fixture" "$tmp/new.csv" "$tmp/cmp.csv" <<'PY' && ok || bad "compare's rows disagree with the CSVs"
import csv, sys
def timed(path):
    with open(path, newline="") as f:
        return {(r["problem"], r["op"], r["strategy"], r["threads"], r["bind"]): r
                for r in csv.DictReader(f) if r["status"] == "ok" and float(r["time_median_ms"]) > 0}
base, new = timed(sys.argv[1]), timed(sys.argv[2])
with open(sys.argv[3], newline="") as f:
    got = list(csv.DictReader(f))
assert len(got) == len(set(base) & set(new)), (len(got), len(set(base) & set(new)))
for g in got:
    b = base[(g["problem"], g["op"], g["strategy"], g["thr"], "compact")]
    n = new[(g["problem"], g["op"], g["strategy"], g["thr"], "compact")]
    sp = float(b["time_median_ms"]) / float(n["time_median_ms"])
    assert g["speedup"] == "%.3fx" % sp, (g, sp)
    apart = float(n["time_max_ms"]) < float(b["time_min_ms"]) or float(b["time_max_ms"]) < float(n["time_min_ms"])
    quiet = float(b["time_cv"]) <= 0.05 and float(n["time_cv"]) <= 0.05
    want = ("faster" if sp > 1 else "slower") if apart and quiet else "same"
    assert g["verdict"] == want, (g, want)
PY
"$convbp" compare "$fixture" "$tmp/new.csv" > "$tmp/cmp.txt" 2>/dev/null
grep -q '^1 timed row(s) only in BASE, 0 only in NEW' "$tmp/cmp.txt" && ok || bad "compare: rows only in BASE: $(tail -2 "$tmp/cmp.txt")"
# fwd on 1 thread: seven convbp rows left, one of them 2x faster: 2^(1/7) = 1.104;
# the eight peer rows did not change
grep -q '^fwd  *1  *7  *1.104x  *1  *0  *1.000x over 8$' "$tmp/cmp.txt" && ok || bad "compare: fwd summary: $(grep '^fwd ' "$tmp/cmp.txt")"
expect 2 "usage: convbp compare" -- compare "$fixture"
expect 2 "is a third" -- compare "$fixture" "$tmp/new.csv" "$tmp/new.csv"
expect 2 "no timed row (status ok) of '$tmp/empty.csv' is timed in" -- compare "$tmp/empty.csv" "$fixture"
expect 2 "--noise needs a number >= 0, got '-1'" -- compare --noise -1 "$fixture" "$fixture"

finish test_cli
