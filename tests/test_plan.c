/* Plans and wisdom.
 *   test_plan                 in-process: ESTIMATE, MEASURE, WISDOM_ONLY, and every
 *                             kind of bad wisdom file rejected with nothing taken
 *   test_plan export FILE     MEASURE a plan, export wisdom, print the strategy
 *   test_plan import FILE S   (a fresh process) import, WISDOM_ONLY must pick S */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "convbp.h"
#include "testing.h"

static const convbp_conv shape = {2, 8, 9, 7, 6, 3, 3, 1, 1, 2, 1, 1, 1};

/* Executes the plan on seeded inputs and checks it against the reference. */
static int plan_correct(convbp_plan *plan, convbp_op op) {
  size_t nx, ny, no;
  convbp_conv_op_sizes(op, &shape, &nx, &ny, &no);
  float *x = malloc(nx * 4), *y = malloc(ny * 4), *out = malloc(no * 4);
  double *ref = malloc(no * 8), *abs_ref = malloc(no * 8);
  convbp_fill(x, nx, 3);
  convbp_fill(y, ny, 4);
  for (size_t i = 0; i < no; i++) out[i] = NAN;
  convbp_check c = {0};
  int ok = convbp_plan_execute(plan, x, y, out) == 0 &&
           convbp_conv_reference(op, &shape, x, y, ref, abs_ref) == 0;
  if (ok) convbp_compare(out, ref, abs_ref, no, convbp_conv_reduction_length(op, &shape), &c);
  free(x), free(y), free(out), free(ref), free(abs_ref);
  return ok && c.passed;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

int main(int argc, char **argv) {
  convbp_plan *plan = NULL;
  if (argc == 3 && !strcmp(argv[1], "export")) {
    int st = convbp_plan_create(&plan, CONVBP_BPW, &shape, NULL, 2, CONVBP_MEASURE);
    if (st || convbp_wisdom_export(argv[2])) return 1;
    printf("%s\n", convbp_plan_strategy(plan));
    convbp_plan_destroy(plan);
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "import")) {
    char err[512] = "";
    CHECK(convbp_wisdom_import(argv[2], err, sizeof err) == 0, "import: %s", err);
    CHECK(convbp_plan_create(&plan, CONVBP_BPW, &shape, NULL, 2, CONVBP_WISDOM_ONLY) == 0, "wisdom plan");
    CHECK(plan && !strcmp(convbp_plan_strategy(plan), argv[3]), "picked %s, measured %s",
          plan ? convbp_plan_strategy(plan) : "nothing", argv[3]);
    CHECK(plan && plan_correct(plan, CONVBP_BPW), "wisdom plan result");
    convbp_plan_destroy(plan);
    TEST_END();
  }

  /* ESTIMATE: a supported strategy of the right op, correct results. */
  for (int op = CONVBP_FWD; op <= CONVBP_BPW; op++) {
    const char *name = convbp_plan_estimate((convbp_op)op, &shape, NULL, 1);
    int idx = convbp_strategy_find(name);
    CHECK(idx >= 0 && convbp_strategy_op(idx) == (convbp_op)op, "estimate for %s: %s", convbp_op_name(op), name);
    CHECK(convbp_plan_create(&plan, (convbp_op)op, &shape, NULL, 1, CONVBP_ESTIMATE) == 0, "estimate plan");
    CHECK(plan && plan_correct(plan, (convbp_op)op), "estimate plan %s wrong", name);
    for (int rep = 0; rep < 3; rep++) CHECK(plan && plan_correct(plan, (convbp_op)op), "repeated execute");
    convbp_plan_destroy(plan);
  }
  /* ESTIMATE's rules that depend on the engine's instruction set (src/plan.c):
     without AVX-512 kernels, 1x1 BPA and BPW and the stem's BPW go to the GEMM
     strategies; with them, a 1x1 BPA at stride 1 does only when it does not
     widen and has more than 1024 pixels, and an unstrided 1x1 FWD when it
     widens or has few pixels.  Rows chosen so that OpenBLAS's small-matrix
     rules do not fire. */
  static const struct {
    const char *label, *desc;
    convbp_op op;
    const char *with_avx512, *without;
  } rules[] = {
      {"narrowing 1x1 BPA", "mb8ic512ih28oc128oh28kh1ph0", CONVBP_BPA, "bpa_scatter_gemm",
       "bpa_scatter_gemm"},
      {"narrowing 1x1 BPA on 7x7 images", "mb8ic2048ih7oc512oh7kh1ph0", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"widening 1x1 BPA", "mb8ic128ih28oc512oh28kh1ph0", CONVBP_BPA, "bpa_stride_phase_blocked",
       "bpa_scatter_gemm"},
      {"widening 1x1 FWD", "mb8ic128ih28oc512oh28kh1ph0", CONVBP_FWD, "fwd_im2col_gemm",
       "fwd_im2col_gemm"},
      {"narrowing 1x1 FWD", "mb8ic512ih28oc128oh28kh1ph0", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_direct_blocked"},
      {"deep 1x1 BPW", "mb8ic512ih28oc128oh28kh1ph0", CONVBP_BPW, "bpw_direct_blocked",
       "bpw_im2col_gemm"},
      {"stem BPW", "mb8ic3ih224oc64oh112kh7sh2ph3", CONVBP_BPW, "bpw_direct_blocked",
       "bpw_im2col_gemm"},
      {"stem BPA", "mb8ic3ih224oc64oh112kh7sh2ph3", CONVBP_BPA, "bpa_scatter_gemm",
       "bpa_scatter_gemm"},
      /* few pixels (N*P*Q <= 4096): the GEMM unless the layer widens (K > C) */
      {"few-pixel widening 1x1 BPA", "mb8ic256ih14oc1024oh14kh1ph0", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"few-pixel narrowing 1x1 BPA", "mb8ic1024ih14oc256oh14kh1ph0", CONVBP_BPA,
       "bpa_scatter_gemm", "bpa_scatter_gemm"},
      {"3x3 BPA", "mb8ic128ih28oc128oh28kh3ph1", CONVBP_BPA, "bpa_stride_phase_blocked",
       "bpa_stride_phase_blocked"},
      {"3x3 BPW", "mb8ic256ih14oc256oh14kh3ph1", CONVBP_BPW, "bpw_direct_blocked",
       "bpw_direct_blocked"},
      /* below 2 MFLOP: the blocked strategies only where the taps and
         channels fill their tiles (small_dense), with AVX-512 kernels */
      {"small 3x3 FWD (1.8 MFLOP)", "mb2ic16ih14oc16kh3ph1", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_im2col_gemm"},
      {"small 3x3 BPA at 8 channels (0.33 MFLOP)", "mb2ic8ih12oc8kh3ph2dh1", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"small strided 3x3 BPW", "mb2ic16ih15oc32kh3sh2ph1", CONVBP_BPW, "bpw_direct_blocked",
       "bpw_im2col_gemm"},
      {"small 1x1 FWD", "mb2ic32ih14oc64kh1ph0", CONVBP_FWD, "fwd_im2col_gemm",
       "fwd_im2col_gemm"},
      {"tiny 3x3 BPA (0.15 MFLOP)", "mb2ic32ih6oc32kh3sh2ph0", CONVBP_BPA, "bpa_scatter_gemm",
       "bpa_scatter_gemm"},
      /* FWD's engine reads strided pixels in place and skips taps in the
         padding, which im2col copies: strides above 2, a strided 1x1, and a
         kernel larger than the image once K fills two vectors */
      {"small 3x3 FWD at stride 4", "mb2ic32ih14oc32kh3sh4ph1", CONVBP_FWD,
       "fwd_direct_blocked", "fwd_im2col_gemm"},
      {"small 3x3 BPA at stride 4", "mb2ic32ih14oc32kh3sh4ph1", CONVBP_BPA, "bpa_scatter_gemm",
       "bpa_scatter_gemm"},
      {"tiny 3x3 FWD at stride 4 (0.07 MFLOP)", "mb1ic16ih14oc16kh3sh4ph1", CONVBP_FWD,
       "fwd_im2col_gemm", "fwd_im2col_gemm"},
      {"small strided 1x1 FWD", "mb2ic64ih16oc64kh1sh2ph0", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_im2col_gemm"},
      {"strided widening 1x1 FWD, few pixels", "mb8ic1024ih14oc2048kh1sh2ph0", CONVBP_FWD,
       "fwd_direct_blocked", "fwd_im2col_gemm"},
      {"small 5x5 FWD over a 3x3 image, K = 32", "mb2ic32ih3oc32kh5ph2", CONVBP_FWD,
       "fwd_direct_blocked", "fwd_im2col_gemm"},
      {"small 5x5 FWD over a 3x3 image, K = 16", "mb2ic32ih3oc16kh5ph2", CONVBP_FWD,
       "fwd_im2col_gemm", "fwd_im2col_gemm"},
      /* BPA and BPW: the engine at strides above 2 (BPW) and for a kernel
         larger than the image once N*P*Q times all taps over taps inside
         reaches 40 (BPA: and C >= 32); a strided 1x1 BPW where K or C is
         below 16 */
      {"small 5x5 BPW over a 3x3 image (18 rows x 25/9)", "mb2ic32ih3oc32kh5ph2", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_im2col_gemm"},
      {"small 5x5 BPW over a 3x3 image, one image (9 x 25/9)", "mb1ic32ih3oc32kh5ph2", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"small 5x5 BPA over a 3x3 image, C = 32", "mb2ic32ih3oc32kh5ph2", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"small 5x5 BPA over a 3x3 image, C = 16", "mb2ic16ih3oc32kh5ph2", CONVBP_BPA,
       "bpa_scatter_gemm", "bpa_scatter_gemm"},
      {"small 3x3 BPW at stride 3 (100 rows)", "mb1ic32ih28oc32kh3sh3ph1", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_im2col_gemm"},
      {"small 3x3 BPW at stride 3 (25 rows x 225/196)", "mb1ic32ih14oc32kh3sh3ph1", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"small 3x3 BPW at stride 4 (32 rows x 144/121)", "mb2ic32ih14oc32kh3sh4ph1", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"small strided 1x1 BPW at K = 8", "mb2ic64ih16oc8kh1sh2ph0", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_im2col_gemm"},
      {"small strided narrowing 1x1 BPW", "mb1ic96ih14oc48kh1sh2ph0", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"small strided 1x1 BPW at 8 channels", "mb1ic8ih20oc40kh1sh2ph0", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_im2col_gemm"},
      {"small strided widening 1x1 BPW", "mb2ic24ih20oc128kh1sh2ph0", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"small 7x7 FWD of 3 channels", "mb1ic3ih31oc17kh7sh3ph3", CONVBP_FWD, "fwd_im2col_blocked",
       "fwd_im2col_gemm"},
      /* BPW below 2 MFLOP with C or K below 8: the engine from 16 pixels
         (N*P*Q), not for a stem's 49 taps over C < 8 */
      {"small BPW of 3 channels into 9, 500 pixels", "mb5ic3ih21iw10oc9kh2kw1sh2sw1ph0",
       CONVBP_BPW, "bpw_direct_blocked", "bpw_im2col_gemm"},
      {"small BPW of 33 channels into 2, 16 pixels", "mb1ic33ih4oc2kh1ph0", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_im2col_gemm"},
      {"small BPW of 33 channels into 2, 15 pixels", "mb1ic33ih3iw5oc2kh1ph0", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"small BPW of 4 channels into 237, 6 pixels", "mb1ic4ih8iw7oc237kh4kw5sh4sw1ph0",
       CONVBP_BPW, "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"small 7x7 BPW of 3 channels (odd_stem, 121 pixels)", "mb1ic3ih31oc17kh7sh3ph3",
       CONVBP_BPW, "bpw_im2col_gemm", "bpw_im2col_gemm"},
      /* BPA's engine writes C channels a vector: C = 8 under a longer
         reduction, and stride phases that split a 3x3 below 32 channels,
         go to the GEMM; a dilation the stride divides keeps the kernel whole */
      {"small 3x3 BPA, 8 channels of 16", "mb2ic8ih14oc16kh3ph1", CONVBP_BPA, "bpa_scatter_gemm",
       "bpa_scatter_gemm"},
      {"small strided 3x3 BPA at 16 channels", "mb2ic16ih15oc32kh3sh2ph1", CONVBP_BPA,
       "bpa_scatter_gemm", "bpa_scatter_gemm"},
      {"small strided 3x3 BPA at 32 channels", "mb2ic32ih14oc32kh3sh2ph1", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"small strided dilated 3x3 BPA at 16 channels", "mb2ic16ih15oc32kh3sh2ph1dh1", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      /* FWD into at most 4 channels from 16 or more, or fewer than 8 from
         32: dot products along C (fwd_dot_blocked), but for an unpadded 1x1
         at stride 1 (one sgemm in place); 8 channels, 5 from 16 and 4 from
         8 keep the rules before */
      {"RGB output layer FWD (K = 3, C = 64)", "mb1ic64ih128oc3kh3ph1", CONVBP_FWD,
       "fwd_dot_blocked", "fwd_direct_blocked"},
      {"small strided FWD into 1 channel from 32", "mb2ic32ih12oc1kh3sh2ph1", CONVBP_FWD,
       "fwd_dot_blocked", "fwd_im2col_gemm"},
      {"unpadded 1x1 FWD into 2 channels from 64", "mb2ic64ih16oc2kh1ph0", CONVBP_FWD,
       "fwd_im2col_gemm", "fwd_im2col_gemm"},
      {"FWD into 7 channels from 64", "mb1ic64ih64oc7kh3ph1", CONVBP_FWD, "fwd_dot_blocked",
       "fwd_direct_blocked"},
      {"FWD into 4 channels from 16", "mb1ic16ih64oc4kh3ph1", CONVBP_FWD, "fwd_dot_blocked",
       "fwd_direct_blocked"},
      {"FWD into 8 channels from 64", "mb1ic64ih64oc8kh3ph1", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_direct_blocked"},
      {"FWD into 5 channels from 16", "mb1ic16ih64oc5kh3ph1", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_direct_blocked"},
      {"FWD into 4 channels from 8", "mb1ic8ih64oc4kh3ph1", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_direct_blocked"},
      /* BPA with over 70% of its multiply-adds in the padding: the engine,
         whatever its size or channels, folded or not (the GEMM multiplies
         the zeros) */
      {"BPA of 5 channels, 10% of its taps inside (2.9 MFLOP)",
       "mb5ic5ih1iw21oc137kh5kw1sh2sw1ph5pw0", CONVBP_BPA, "bpa_stride_phase_blocked",
       "bpa_scatter_gemm"},
      {"small BPA of 49 channels, 11% of its taps inside", "mb2ic49ih2iw1oc275kh3sh1sw4ph1pw6dw2",
       CONVBP_BPA, "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"small BPA of 5 channels, 28% of its taps inside", "mb2ic5ih3iw21oc137kh5kw1sh2sw1ph5pw0",
       CONVBP_BPA, "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"small BPA of 5 channels, 40% of its taps inside", "mb2ic5ih4iw21oc137kh5kw1sh2sw1ph5pw0",
       CONVBP_BPA, "bpa_scatter_gemm", "bpa_scatter_gemm"},
      {"small BPA, 3x5 patches folded into 15 channels, 20% of its taps inside",
       "mb3ic5ih1iw39oc101kh5kw3sh1sw3ph2pw0", CONVBP_BPA, "bpa_stride_phase_blocked",
       "bpa_scatter_gemm"},
      /* a padded 1x1: the GEMMs copy it like any kernel, zero border and all */
      {"small padded 1x1 FWD", "mb1ic16ih7oc16kh1ph1", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_im2col_gemm"},
      {"small padded strided 1x1 BPW", "mb2ic64ih14oc16kh1sh2ph1", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_im2col_gemm"},
      {"small padded 1x1 BPA, 8 channels of 64", "mb2ic8ih14oc64kh1ph1", CONVBP_BPA,
       "bpa_scatter_gemm", "bpa_scatter_gemm"},
      {"padded widening 1x1 FWD (7 MFLOP)", "mb2ic32ih28oc128kh1ph1", CONVBP_FWD,
       "fwd_direct_blocked", "fwd_im2col_gemm"},
      {"padded 1x1 BPW, few pixels (7 MFLOP)", "mb2ic32ih28oc128kh1ph1", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_im2col_gemm"},
      /* patches that do not overlap over few channels: the GEMM (FWD C < 8,
         BPW C < 16 with 128 taps or gaps); overlapping stems keep the engine.
         With AVX-512 kernels FWD and BPA read patches that tile the width
         folded, S*C channels (FWD: 48 and 12 here, not below 8); BPA then
         goes to the engine on whole vectors of S*C (48, 64, 192; not 12, 24
         or 120) or from 128 channels on (270) */
      {"ViT-B/16 patch embedding FWD", "mb2ic3ih224oc768kh16sh16ph0", CONVBP_FWD,
       "fwd_direct_blocked", "fwd_im2col_gemm"},
      {"ViT-B/16 patch embedding BPA", "mb2ic3ih224oc768kh16sh16ph0", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"ConvNeXt 4x4 stem FWD", "mb2ic3ih224oc96kh4sh4ph0", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_im2col_gemm"},
      {"ConvNeXt 4x4 stem BPA (12 channels folded)", "mb2ic3ih224oc96kh4sh4ph0", CONVBP_BPA,
       "bpa_scatter_gemm", "bpa_scatter_gemm"},
      {"8x8 patches of 8 channels BPA (64 folded)", "mb1ic8ih112oc384kh8sh8ph0", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_scatter_gemm"},
      {"8x8 patches of 3 channels BPA (24 folded)", "mb1ic3ih112oc384kh8sh8ph0", CONVBP_BPA,
       "bpa_scatter_gemm", "bpa_scatter_gemm"},
      {"ConvNeXt 2x2 downsampling BPA (192 folded)", "mb2ic96ih56oc192kh2sh2ph0", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_stride_phase_blocked"},
      {"2x2 patches BPA, 120 folded channels", "mb2ic60ih28oc128kh2sh2ph0", CONVBP_BPA,
       "bpa_scatter_gemm", "bpa_stride_phase_blocked"},
      {"2x2 patches BPA, 270 folded channels", "mb2ic135ih28oc128kh2sh2ph0", CONVBP_BPA,
       "bpa_stride_phase_blocked", "bpa_stride_phase_blocked"},
      {"ViT-B/16 patch embedding BPW", "mb2ic3ih224oc768kh16sh16ph0", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"4x4 patches at stride 8 (gaps) FWD", "mb1ic3ih112oc96kh4sh8ph0", CONVBP_FWD,
       "fwd_im2col_gemm", "fwd_im2col_gemm"},
      {"8x8 patches of 8 channels FWD", "mb1ic8ih112oc384kh8sh8ph0", CONVBP_FWD,
       "fwd_direct_blocked", "fwd_direct_blocked"},
      {"8x8 patches of 8 channels BPW (64 taps)", "mb1ic8ih112oc384kh8sh8ph0", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_im2col_gemm"},
      {"16x16 patches of 8 channels BPW (256 taps)", "mb1ic8ih224oc384kh16sh16ph0", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"4x4 patches at stride 8 (gaps) BPW", "mb1ic3ih112oc96kh4sh8ph0", CONVBP_BPW,
       "bpw_im2col_gemm", "bpw_im2col_gemm"},
      {"ConvNeXt 2x2 downsampling FWD (C = 96)", "mb2ic96ih56oc192kh2sh2ph0", CONVBP_FWD,
       "fwd_direct_blocked", "fwd_direct_blocked"},
      {"ConvNeXt 2x2 downsampling BPW (C = 96)", "mb2ic96ih56oc192kh2sh2ph0", CONVBP_BPW,
       "bpw_direct_blocked", "bpw_direct_blocked"},
      /* FWD from at most 4 channels into 8 or more, windows that overlap,
         at least 70% of the FLOPs inside: im2col + the engine's 1x1
         (fwd_im2col_blocked); patches keep the rule above */
      {"overlapping 7x7 stem FWD (resnet50 conv1)", "mb8ic3ih224oc64kh7sh2ph3", CONVBP_FWD,
       "fwd_im2col_blocked", "fwd_direct_blocked"},
      {"dilated 2x2 at stride 2 (overlaps) FWD", "mb1ic3ih112oc96kh2sh2ph0dh1", CONVBP_FWD,
       "fwd_im2col_blocked", "fwd_direct_blocked"},
      {"grayscale 3x3 FWD (C = 1, K = 32)", "mb8ic1ih28oc32kh3ph1", CONVBP_FWD,
       "fwd_im2col_blocked", "fwd_direct_blocked"},
      {"grayscale 5x5 FWD at stride 2 (C = 1, K = 8)", "mb4ic1ih128oc8kh5sh2ph2", CONVBP_FWD,
       "fwd_im2col_blocked", "fwd_direct_blocked"},
      {"grayscale 3x3 FWD into 4 channels", "mb8ic1ih28oc4kh3ph1", CONVBP_FWD,
       "fwd_im2col_gemm", "fwd_im2col_gemm"},
      {"3x3 FWD from 5 channels", "mb8ic5ih28oc32kh3ph1", CONVBP_FWD, "fwd_direct_blocked",
       "fwd_direct_blocked"},
      {"7x1 FWD of 3 channels, 40% of its FLOPs inside", "mb2ic3ih5iw32oc32kh7kw1ph6pw0",
       CONVBP_FWD, "fwd_im2col_gemm", "fwd_im2col_gemm"},
      {"1x1 FWD of 2 channels", "mb8ic2ih28oc32kh1ph0", CONVBP_FWD, "fwd_im2col_gemm",
       "fwd_im2col_gemm"},
  };
  const char *isa_env = getenv("CONVBP_ISA");
  char isa_saved[32] = "";
  if (isa_env) snprintf(isa_saved, sizeof isa_saved, "%s", isa_env);
  int avx2, avx512;
  test_cpu_sets(&avx2, &avx512);
  /* the kernel sets this CPU can run: portable always, avx2, and the default when it is AVX-512 */
  const char *isas[] = {"portable", avx2 ? "avx2" : NULL, avx512 ? "" : NULL};
  for (int k = 0; k < 3; k++) {
    if (!isas[k]) continue;
    if (isas[k][0]) setenv("CONVBP_ISA", isas[k], 1);
    else unsetenv("CONVBP_ISA");
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
      convbp_conv c;
      char err[256];
      CHECK(convbp_conv_parse(rules[i].desc, &c, NULL, 0, err, sizeof err) == 0, "%s: %s",
            rules[i].label, err);
      const char *want = isas[k][0] ? rules[i].without : rules[i].with_avx512;
      const char *got = convbp_plan_estimate(rules[i].op, &c, NULL, 1);
      CHECK(got && !strcmp(got, want), "ESTIMATE %s with %s kernels: %s, want %s", rules[i].label,
            isas[k][0] ? isas[k] : "avx512", got ? got : "NULL", want);
    }
    /* MMA from 2 MFLOP with AVX-512 kernels: BPA, and BPW with N >= 1024 or
       with M >= 64 and its tiles in place or X^T in chunks, to the engine's
       1x1 convolution; the rest (M = 32 in place; out of place with M too
       long for chunks), and all without them, to the GEMM.  In place: X is
       64 KiB (mma_in_place); X beyond half of any L2 up to 8 MiB but dW 32
       KiB (mma_long, M = 64 Ki).  Out of place: X 14.5 MB and dW 1.1 MB,
       beyond a quarter of any L2 up to 4 MiB, and M = 3300 too long for a
       chunk of 160 rows in half of it (mma_far); bert_ffn_down (X 6 MB, dW
       9.4 MB) in chunks where half an L2 holds 160 rows of M = 512 (L2 of
       640 KiB or more). */
    const convbp_mma mma_big = {128, 256, 512}, mma_tiny = {5, 7, 9}, mma_wide = {64, 1024, 64};
    const convbp_mma mma_in_place = {64, 256, 256}, mma_thin = {32, 512, 256},
                     mma_far = {3300, 256, 1100}, mma_long = {65536, 64, 128},
                     mma_chunks = {512, 768, 3072};
    /* X in exactly half an L2 (as the library reads it: sysconf, else 1 MiB)
       in place, and one row more out of place, with dW (4 MB) beyond a
       quarter of any L2 below 16 MiB: X^T then in chunks (two of 512 rows
       with 1 MiB) */
    long l2 = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    const int half_l2_rows = (int)((l2 > 0 ? l2 : 1L << 20) / 8192);
    const convbp_mma mma_l2_half = {half_l2_rows, 1000, 1024},
                     mma_l2_over = {half_l2_rows + 1, 1000, 1024};
    const char *conv1x1 = isas[k][0] ? "mma_bpw_gemm" : "mma_bpw_conv1x1_blocked";
    const long l2_bytes = l2 > 0 ? l2 : 1L << 20;
    const int chunks_fit = l2_bytes / 2 / (512 * 4) >= 160; /* mma_chunks' M = 512 */
    const struct {
      convbp_op op;
      const convbp_mma *m;
      const char *want;
    } mma_rules[] = {
        {CONVBP_MMA_BPA, &mma_big, isas[k][0] ? "mma_bpa_gemm" : "mma_bpa_conv1x1_blocked"},
        {CONVBP_MMA_BPA, &mma_tiny, "mma_bpa_gemm"},
        {CONVBP_MMA_BPW, &mma_wide, conv1x1},
        {CONVBP_MMA_BPW, &mma_in_place, conv1x1},
        {CONVBP_MMA_BPW, &mma_long, conv1x1},
        {CONVBP_MMA_BPW, &mma_thin, "mma_bpw_gemm"},
        {CONVBP_MMA_BPW, &mma_far, "mma_bpw_gemm"},
        {CONVBP_MMA_BPW, &mma_l2_half, half_l2_rows >= 64 ? conv1x1 : "mma_bpw_gemm"},
        {CONVBP_MMA_BPW, &mma_l2_over, half_l2_rows + 1 >= 64 ? conv1x1 : "mma_bpw_gemm"},
        {CONVBP_MMA_BPW, &mma_chunks, chunks_fit ? conv1x1 : "mma_bpw_gemm"}};
    for (size_t i = 0; i < sizeof mma_rules / sizeof mma_rules[0]; i++) {
      const char *got = convbp_plan_estimate(mma_rules[i].op, NULL, mma_rules[i].m, 1);
      CHECK(got && !strcmp(got, mma_rules[i].want), "ESTIMATE %s m%dn%dk%d with %s kernels: %s, want %s",
            convbp_op_name(mma_rules[i].op), mma_rules[i].m->m, mma_rules[i].m->n,
            mma_rules[i].m->k, isas[k][0] ? isas[k] : "avx512", got ? got : "NULL",
            mma_rules[i].want);
    }
  }
  if (isa_saved[0]) setenv("CONVBP_ISA", isa_saved, 1);
  else unsetenv("CONVBP_ISA");

  convbp_conv bad = shape;
  bad.k = 0;
  CHECK(convbp_plan_estimate(CONVBP_BPA, &bad, NULL, 1) == NULL, "estimate of an invalid problem");
  CHECK(convbp_plan_create(&plan, CONVBP_BPA, &bad, NULL, 1, CONVBP_ESTIMATE) == CONVBP_ERR_PROBLEM, "invalid");
  CHECK(convbp_plan_create(&plan, CONVBP_BPA, NULL, NULL, 1, CONVBP_ESTIMATE) == CONVBP_ERR_ARG, "NULL");

  /* WISDOM_ONLY without wisdom fails clearly; MEASURE fills wisdom. */
  convbp_wisdom_forget();
  CHECK(convbp_plan_create(&plan, CONVBP_BPA, &shape, NULL, 1, CONVBP_WISDOM_ONLY) == CONVBP_ERR_NO_WISDOM, "no wisdom");
  CHECK(convbp_plan_create(&plan, CONVBP_BPA, &shape, NULL, 1, CONVBP_MEASURE) == 0, "measure");
  CHECK(plan && plan_correct(plan, CONVBP_BPA), "measured plan wrong");
  const char *measured = plan ? convbp_plan_strategy(plan) : "";
  /* The deliberately wrong strategy (test builds) fails verification here (stride 2). */
  CHECK(strcmp(measured, "bpa_seed_as_written") != 0, "MEASURE picked a wrong strategy");
  convbp_plan_destroy(plan);
  CHECK(convbp_wisdom_count() == 1, "wisdom has %d entries", convbp_wisdom_count());
  CHECK(convbp_plan_create(&plan, CONVBP_BPA, &shape, NULL, 1, CONVBP_WISDOM_ONLY) == 0 &&
            !strcmp(convbp_plan_strategy(plan), measured), "wisdom after measure");
  convbp_plan_destroy(plan);

  /* Bad wisdom files: each rejected, with its reason, and nothing taken. */
  char good[256], sig_line[512];
  snprintf(good, sizeof good, "/tmp/convbp-wisdom-%d", (int)getpid());
  CHECK(convbp_wisdom_export(good) == 0, "export");
  FILE *f = fopen(good, "r");
  char l1[64], l2[512];
  fgets(l1, sizeof l1, f);
  fgets(l2, sizeof l2, f);
  fclose(f);
  snprintf(sig_line, sizeof sig_line, "%s", l2);
  static const struct {
    const char *why, *body, *must;
  } cases[] = {
      {"garbled", "%snot wisdom at all\n", "malformed line"},
      {"truncated", "%sentry bpa 1 bpa_direct mb2ic8ih9oc6kh3\n", "truncated"},
      {"unknown strategy", "%sentry bpa 1 bpa_magic mb2ic8ih9oc6kh3\nend 1\n", "unknown strategy 'bpa_magic'"},
      {"strategy of another op", "%sentry bpa 1 bpw_direct mb2ic8ih9oc6kh3\nend 1\n", "does not compute bpa"},
      {"bad descriptor", "%sentry bpa 1 bpa_direct mb2ic0ih9oc6kh3\nend 1\n", "'ic' must be >= 1"},
      {"wrong count", "%sentry bpa 1 bpa_direct mb2ic8ih9oc6kh3\nend 2\n", "'end' says 2"},
      {"after end", "%send 0\nentry bpa 1 bpa_direct mb2ic8ih9oc6kh3\n", "text after 'end'"},
  };
  char path[300], body[1200], full[1400], err[512];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(body, sizeof body, "%s%s", l1, sig_line);
    snprintf(full, sizeof full, cases[i].body, body);
    snprintf(path, sizeof path, "%s.%zu", good, i);
    write_file(path, full);
    int before = convbp_wisdom_count();
    err[0] = 0;
    CHECK(convbp_wisdom_import(path, err, sizeof err) == CONVBP_ERR_WISDOM, "%s accepted", cases[i].why);
    CHECK(strstr(err, cases[i].must) != NULL, "%s: '%s' lacks '%s'", cases[i].why, err, cases[i].must);
    CHECK(convbp_wisdom_count() == before, "%s: half-applied", cases[i].why);
    remove(path);
  }
  static const struct {
    const char *why, *text, *must;
  } headers[] = {
      {"foreign file", "hello\n", "not a convbp wisdom file"},
      {"other version", "convbp-wisdom 99\nmachine x\nend 0\n", "version 99"},
      {"other machine", "convbp-wisdom 1\nmachine cpu=Other;cpus=64;convbp=0.1.0\nend 0\n", "another machine"},
      {"empty", "", "too short"},
  };
  for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
    snprintf(path, sizeof path, "%s.h%zu", good, i);
    write_file(path, headers[i].text);
    err[0] = 0;
    CHECK(convbp_wisdom_import(path, err, sizeof err) == CONVBP_ERR_WISDOM && strstr(err, headers[i].must),
          "%s: '%s' lacks '%s'", headers[i].why, err, headers[i].must);
    remove(path);
  }
  CHECK(convbp_wisdom_import("/nonexistent/wisdom", err, sizeof err) == CONVBP_ERR_IO, "missing file");
  CHECK(convbp_wisdom_export("/nonexistent/dir/wisdom") == CONVBP_ERR_IO, "unwritable export");
  /* A good file imports into an empty store. */
  convbp_wisdom_forget();
  CHECK(convbp_wisdom_import(good, err, sizeof err) == 0 && convbp_wisdom_count() == 1, "reimport: %s", err);
  remove(good);
  TEST_END();
}
