# Sourced by the CLI tests (". tests/cli_env.sh" with the convbp binary as $1):
# the harness, run_tool, the fast timing options, and a clean environment.
convbp=$1
. "$(dirname "$0")/harness.sh"
run_tool() { "$convbp" "$@"; }
fast="--reps 1 --min-time 0.001 --quiet"
# Tests keep OpenBLAS's own kernel choice (the sweep would otherwise re-run itself
# with OPENBLAS_CORETYPE set on CPUs OpenBLAS 0.3.21 does not know).  The sidecar
# records the caller's knobs as overrides=, and the checks name exactly the
# ones they set, so knobs inherited from the machine (some sandboxes export
# OPENBLAS_CORETYPE) are cleared first.
unset CONVBP_ISA CONVBP_STREAM OPENBLAS_CORETYPE DNNL_MAX_CPU_ISA ONEDNN_MAX_CPU_ISA
export CONVBP_KEEP_BLAS_CORETYPE=1
