/* Output sizes, remainders, byte counts and FLOPs from a table, including the
 * remainder rows the seeds' recipes lose and pads beyond the kernel's reach. */
#include <stdint.h>
#include <string.h>

#include "convbp.h"
#include "internal.h"
#include "testing.h"

typedef struct {
  const char *why;
  int h, pad, r, dil, stride;
  int want_p; /* 0: invalid */
} extent_case;

static const extent_case extents[] = {
    {"dense 3x3 same", 56, 1, 3, 1, 1, 56},
    {"stride 2, no remainder", 5, 0, 3, 1, 2, 2},
    {"stride 2, remainder 1 (ERRATA 2: H=6 R=3)", 6, 0, 3, 1, 2, 2},
    {"stride 3, remainder 2", 10, 0, 3, 1, 3, 3},
    {"stride 4, remainder 3", 14, 1, 3, 1, 4, 4},
    {"dilation 2", 5, 0, 2, 2, 1, 3},
    {"dilation 3 stride 2", 11, 0, 3, 3, 2, 3},
    {"pad beyond the kernel reach (negative effective pad)", 4, 5, 3, 1, 1, 12},
    {"pad beyond reach with stride", 4, 4, 2, 1, 3, 4},
    {"kernel larger than the image, rescued by padding", 2, 2, 5, 1, 1, 2},
    {"kernel larger than the image", 2, 0, 3, 1, 1, 0},
    {"dilated kernel larger than the image", 5, 0, 3, 3, 1, 0},
    {"1x1", 7, 0, 1, 1, 1, 7},
    {"1x1 stride 2", 7, 0, 1, 1, 2, 4},
    {"height 1", 1, 0, 1, 1, 1, 1},
};

/* cbp_fold_width: which problems fold, and into what (W/S pixels of S*C
   channels under an R x 1 kernel at stride_w 1); fold_c 0: not folded. */
typedef struct {
  const char *why;
  convbp_conv p; /* n c h w k r s pad_h pad_w stride_h stride_w dil_h dil_w */
  int fold_w, fold_c;
} fold_case;

static const fold_case folds[] = {
    {"ViT-B/16 patch embedding", {2, 3, 224, 224, 768, 16, 16, 0, 0, 16, 16, 1, 1}, 14, 48},
    {"ConvNeXt 2x2 downsampling", {2, 96, 56, 56, 192, 2, 2, 0, 0, 2, 2, 1, 1}, 28, 192},
    {"rows padded, dilated and strided", {1, 5, 11, 12, 7, 3, 3, 2, 0, 2, 3, 2, 1}, 4, 15},
    {"1 x S kernel", {2, 4, 3, 20, 9, 1, 4, 0, 0, 1, 4, 1, 1}, 5, 16},
    {"width not a multiple of S", {1, 3, 8, 15, 6, 4, 4, 0, 0, 4, 4, 1, 1}, 0, 0},
    {"padded across", {1, 3, 8, 16, 6, 4, 4, 0, 1, 4, 4, 1, 1}, 0, 0},
    {"stride across below S (overlap)", {1, 3, 8, 16, 6, 4, 4, 0, 0, 4, 2, 1, 1}, 0, 0},
    {"stride across above S (gaps)", {1, 3, 8, 16, 6, 4, 4, 0, 0, 4, 8, 1, 1}, 0, 0},
    {"dilated across", {1, 3, 8, 16, 6, 2, 2, 0, 0, 2, 2, 1, 2}, 0, 0},
    {"one column (S = 1)", {1, 3, 8, 16, 6, 3, 1, 0, 0, 3, 1, 1, 1}, 0, 0},
};

int main(void) {
  for (size_t i = 0; i < sizeof extents / sizeof extents[0]; i++) {
    const extent_case *e = &extents[i];
    /* The same extent tested on both axes, so H/W symmetry bugs show. */
    convbp_conv ph = {1, 1, e->h, 3, 1, e->r, 1, e->pad, 0, e->stride, 1, e->dil, 1};
    convbp_conv pw = {1, 1, 3, e->h, 1, 1, e->r, 0, e->pad, 1, e->stride, 1, e->dil};
    int P = -1, Q = -1;
    int st = convbp_conv_out_dims(&ph, &P, &Q);
    if (e->want_p == 0) {
      CHECK(st == CONVBP_ERR_PROBLEM, "%s: want invalid, got %d", e->why, st);
      CHECK(convbp_conv_out_dims(&pw, &P, &Q) == CONVBP_ERR_PROBLEM, "%s (width)", e->why);
      continue;
    }
    CHECK(st == 0 && P == e->want_p && Q == 3, "%s: P=%d want %d", e->why, P, e->want_p);
    st = convbp_conv_out_dims(&pw, &P, &Q);
    CHECK(st == 0 && Q == e->want_p && P == 3, "%s (width): Q=%d want %d", e->why, Q, e->want_p);
  }

  for (size_t i = 0; i < sizeof folds / sizeof folds[0]; i++) {
    const fold_case *f = &folds[i];
    const convbp_op ops[] = {CONVBP_FWD, CONVBP_BPA, CONVBP_BPW};
    for (size_t o = 0; o < 3; o++) {
      cbp_problem pb, buf;
      CHECK(cbp_problem_conv(&pb, ops[o], &f->p) == 0, "%s: invalid", f->why);
      const cbp_problem *got = cbp_fold_width(&pb, &buf);
      if (!f->fold_c) {
        CHECK(got == &pb, "%s: folded", f->why);
        continue;
      }
      const convbp_conv *g = &got->conv;
      CHECK(got == &buf && g->w == f->fold_w && g->c == f->fold_c && g->s == 1 &&
                g->stride_w == 1 && g->pad_w == 0 && g->dil_w == 1,
            "%s: w %d c %d s %d stride %d, want w %d c %d s 1 stride 1", f->why, g->w, g->c, g->s,
            g->stride_w, f->fold_w, f->fold_c);
      /* the same rows, output and elements of every operand */
      CHECK(g->n == f->p.n && g->h == f->p.h && g->k == f->p.k && g->r == f->p.r &&
                g->pad_h == f->p.pad_h && g->stride_h == f->p.stride_h && g->dil_h == f->p.dil_h &&
                got->p == pb.p && got->q == pb.q && got->rem_h == pb.rem_h && got->rem_w == 0 &&
                got->x_elems == pb.x_elems &&
                got->y_elems == pb.y_elems && got->out_elems == pb.out_elems && got->op == pb.op,
            "%s: folded problem differs beyond the width", f->why);
    }
  }

  /* Every kind of invalid field. */
  const convbp_conv good = {2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1};
  static const size_t offsets[] = {
      offsetof(convbp_conv, n),        offsetof(convbp_conv, c),        offsetof(convbp_conv, h),
      offsetof(convbp_conv, w),        offsetof(convbp_conv, k),        offsetof(convbp_conv, r),
      offsetof(convbp_conv, s),        offsetof(convbp_conv, stride_h), offsetof(convbp_conv, stride_w),
      offsetof(convbp_conv, dil_h),    offsetof(convbp_conv, dil_w)};
  for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
    for (int bad = -1; bad <= 0; bad++) {
      convbp_conv p = good;
      memcpy((char *)&p + offsets[i], &bad, sizeof bad);
      CHECK(convbp_conv_validate(&p) == CONVBP_ERR_PROBLEM, "field %zu = %d accepted", i, bad);
    }
  }
  convbp_conv neg_pad = good;
  neg_pad.pad_w = -1;
  CHECK(convbp_conv_validate(&neg_pad) == CONVBP_ERR_PROBLEM, "negative pad accepted");
  CHECK(convbp_conv_validate(NULL) == CONVBP_ERR_ARG, "NULL problem");

  /* Sizes and their overflow. */
  size_t a, w, o;
  CHECK(convbp_conv_sizes(&good, &a, &w, &o) == 0 && a == 150 && w == 108 && o == 200,
        "sizes %zu %zu %zu", a, w, o);
  convbp_conv huge = {2000000000, 2000000000, 100000, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
  CHECK(convbp_conv_validate(&huge) == CONVBP_ERR_OVERFLOW, "huge problem not flagged");
  convbp_conv wide = {1, 1, 1, 1, 2000000000, 2000000000, 1, 1000000000, 0, 1, 1, 1, 1};
  CHECK(convbp_conv_validate(&wide) == CONVBP_ERR_OVERFLOW, "huge kernel not flagged");
  /* Index extents: H + 2*pad + stride + dil*(R-1) (W likewise) up to INT_MAX. */
  convbp_conv at_limit = {1, 1, 1, 1, 1, 1, 1, 536870911, 0, 1073741824, 1, 1, 1};
  CHECK(convbp_conv_validate(&at_limit) == CONVBP_OK, "extent at INT_MAX refused");
  convbp_conv past_pad = at_limit, past_stride = at_limit;
  past_pad.pad_h++;
  past_stride.stride_h++;
  CHECK(convbp_conv_validate(&past_pad) == CONVBP_ERR_OVERFLOW, "pad past the limit accepted");
  CHECK(convbp_conv_validate(&past_stride) == CONVBP_ERR_OVERFLOW, "stride past the limit accepted");
  /* 1 + 2*pad + 1 + 2*dil = INT_MAX - 1, then INT_MAX + 3 (Q stays 1) */
  convbp_conv across = {1, 1, 1, 1, 1, 1, 3, 0, 536870911, 1, 1, 1, 536870911};
  CHECK(convbp_conv_validate(&across) == CONVBP_OK, "extent below INT_MAX refused (W)");
  across.dil_w++, across.pad_w++;
  CHECK(convbp_conv_validate(&across) == CONVBP_ERR_OVERFLOW, "dilation past the limit accepted (W)");
  /* The GEMMs' int dimensions: N*H*W, N*P*Q, R*S*C, R*S*K up to INT_MAX, each
     case past it with the others under it. */
  static const struct {
    const char *what;
    convbp_conv p;
    int want;
  } gemm_dims[] = {
      {"N*H*W = 2^31 - 2", {2, 1, 1, 1073741823, 1, 1, 1, 0, 0, 1, 2, 1, 1}, CONVBP_OK},
      {"N*H*W = 2^31", {2, 1, 1, 1073741824, 1, 1, 1, 0, 0, 1, 2, 1, 1}, CONVBP_ERR_OVERFLOW},
      {"N*P*Q = 2^31, N*H*W = 2^30", {2, 1, 1, 536870912, 1, 1, 1, 0, 268435456, 1, 1, 1, 1},
       CONVBP_ERR_OVERFLOW},
      {"R*S*C = R*S*K = 2^30", {1, 1, 1, 1, 1, 32768, 32768, 16384, 16384, 1, 1, 1, 1}, CONVBP_OK},
      {"R*S*C = 2^31", {1, 2, 1, 1, 1, 32768, 32768, 16384, 16384, 1, 1, 1, 1}, CONVBP_ERR_OVERFLOW},
      {"R*S*K = 2^31", {1, 1, 1, 1, 2, 32768, 32768, 16384, 16384, 1, 1, 1, 1}, CONVBP_ERR_OVERFLOW},
  };
  for (size_t i = 0; i < sizeof gemm_dims / sizeof gemm_dims[0]; i++)
    CHECK(convbp_conv_validate(&gemm_dims[i].p) == gemm_dims[i].want, "%s: status %d, want %d",
          gemm_dims[i].what, convbp_conv_validate(&gemm_dims[i].p), gemm_dims[i].want);
  size_t x, y, out;
  CHECK(convbp_conv_op_sizes(CONVBP_BPA, &good, &x, &y, &out) == 0 && x == 200 && y == 108 &&
            out == 150, "bpa sizes");
  CHECK(convbp_conv_op_sizes(CONVBP_BPW, &good, &x, &y, &out) == 0 && x == 150 && y == 200 &&
            out == 108, "bpw sizes");
  CHECK(convbp_conv_op_sizes(CONVBP_MMA_BPA, &good, &x, &y, &out) == CONVBP_ERR_WRONG_OP, "op");

  /* FLOPs: 2*N*K*C*R*S*P*Q; without padded taps, 5x5 pad 1 3x3 has 13 of 15 row taps... */
  CHECK(convbp_conv_flops(&good) == 2.0 * 2 * 4 * 3 * 9 * 25, "flops");
  /* Row taps inside: p=0 -> 2, p=1..3 -> 3, p=4 -> 2 = 13 (likewise columns). */
  CHECK(convbp_conv_flops_nopad(&good) == 2.0 * 2 * 4 * 3 * 13 * 13, "flops without pads");
  convbp_mma m = {3, 5, 7};
  CHECK(convbp_mma_flops(&m) == 210, "mma flops");
  convbp_mma bad_m = {3, 0, 7};
  CHECK(convbp_mma_validate(&bad_m) == CONVBP_ERR_PROBLEM, "mma n=0");
  CHECK(convbp_mma_op_sizes(CONVBP_MMA_BPA, &m, &x, &y, &out) == 0 && x == 15 && y == 35 &&
            out == 21, "mma bpa sizes");
  CHECK(convbp_mma_op_sizes(CONVBP_MMA_BPW, &m, &x, &y, &out) == 0 && x == 21 && y == 15 &&
            out == 35, "mma bpw sizes");
  TEST_END();
}
