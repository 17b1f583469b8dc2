/* bpw_onednn: the oneDNN peer for backward weights, on convbp's canonical buffers
 * (NHWC activations, KRSC weights = oneDNN's nhwc and ohwi tags), no reorders.
 * Primitive creation is set-up (prepare), outside the timed call.
 * Supports what oneDNN implements; workspace: oneDNN's own scratchpad. */
#include "onednn_glue.h"

CBP_ONEDNN_STRATEGY(cbp_bpw_onednn, "bpw_onednn", CONVBP_BPW, 0,
                    "peer: oneDNN backward weights on the canonical NHWC/KRSC buffers")
