/* mma_bpw_onednn: the oneDNN peer for MMA backward weights, a matmul on
 * convbp's row-major buffers: dW (K x N) = X^T * dY, X (M x K) read transposed
 * in place (oneDNN's ba tag), no copy.  Primitive creation is set-up (prepare),
 * outside the timed call.  Supports what oneDNN implements; workspace:
 * oneDNN's own scratchpad. */
#include "onednn_glue.h"

CBP_ONEDNN_STRATEGY(cbp_mma_bpw_onednn, "mma_bpw_onednn", CONVBP_MMA_BPW, 0,
                    "peer: oneDNN matmul dW = X^T dY on the row-major buffers (X read as ba)")
