/* fwd_onednn: the oneDNN peer for forward, on convbp's canonical buffers
 * (NHWC activations, KRSC weights = oneDNN's nhwc and ohwi tags), no reorders.
 * Primitive creation is set-up (prepare), outside the timed call.
 * Supports what oneDNN implements; workspace: oneDNN's own scratchpad. */
#include "onednn_glue.h"

CBP_ONEDNN_STRATEGY(cbp_fwd_onednn, "fwd_onednn", CONVBP_FWD, 0,
                    "peer: oneDNN forward on the canonical NHWC/KRSC buffers")
