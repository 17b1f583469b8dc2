/* bpa_onednn: the oneDNN peer for backward data, on convbp's canonical buffers
 * (NHWC activations, KRSC weights = oneDNN's nhwc and ohwi tags), no reorders.
 * Primitive creation is set-up (prepare), outside the timed call.
 * Supports what oneDNN implements; workspace: oneDNN's own scratchpad. */
#include "onednn_glue.h"

CBP_ONEDNN_STRATEGY(cbp_bpa_onednn, "bpa_onednn", CONVBP_BPA, 0,
                    "peer: oneDNN backward data on the canonical NHWC/KRSC buffers")
