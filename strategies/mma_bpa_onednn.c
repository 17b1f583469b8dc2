/* mma_bpa_onednn: the oneDNN peer for MMA backward data, a matmul on convbp's
 * row-major buffers: dX (M x K) = dY (M x N) * W^T, W (K x N) read transposed
 * in place (oneDNN's ba tag), no copy.  Primitive creation is set-up (prepare),
 * outside the timed call.  Supports what oneDNN implements; workspace:
 * oneDNN's own scratchpad. */
#include "onednn_glue.h"

CBP_ONEDNN_STRATEGY(cbp_mma_bpa_onednn, "mma_bpa_onednn", CONVBP_MMA_BPA, 0,
                    "peer: oneDNN matmul dX = dY W^T on the row-major buffers (W read as ba)")
