/* fwd_onednn_blocked: the oneDNN peer for forward, free to choose its layouts
 * (format_tag_any, usually nChw16c blocking); the reorders from and to the
 * canonical buffers run inside the timed call, as a user holding NHWC pays them.
 * Supports what oneDNN implements; workspace: oneDNN's own. */
#include "onednn_glue.h"

CBP_ONEDNN_STRATEGY(cbp_fwd_onednn_blocked, "fwd_onednn_blocked", CONVBP_FWD, 1,
                    "peer: oneDNN forward in its own blocked layout, reorders timed")
