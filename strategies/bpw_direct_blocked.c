/* bpw_direct_blocked: backward weights by the blocked direct engine.
 *
 *   dW(k, r, s, :) = sum_{n, p, q} dO(n, p, q, k) * A(n, p*st_h + r*d_h - pad_h, q*st_w + s*d_w - pad_w, :)
 *
 * For one tap this is dO^T . A_shifted (K x C), reduced over N*P*Q pixels: the
 * microkernel keeps kb x (nv vectors of C) accumulators in registers for a whole
 * chunk of pixels, broadcasting dO (K contiguous) and loading A (C contiguous),
 * and adds them into dW, whose KRSC layout holds each (k, r, s) row of C
 * contiguously: no transposition, no im2col.  For each tap only the rows and
 * columns p, q whose input exists are visited (padding costs nothing).
 *
 * With few input channels (C < 16 and K > C: the 7x7 stem has C = 3) vectors over
 * C would be mostly empty, so the roles swap: the tile vectorizes over K and
 * broadcasts A, into dW^T(r, s, c, k) in the workspace, transposed into dW at
 * the end.
 *
 * Threads: each owns a fixed set of (tap, k block, c block) outputs, so the
 * reduction needs neither atomics nor per-thread partials; all threads walk
 * the same chunks of output rows, or of whole images when they are small (A
 * and dO of a chunk stay in L2 while every tap and block reads them).  The
 * static schedule gives a thread the same outputs in every chunk, so chunks
 * need no barrier.
 * Workspace: dW^T when the roles swap, else none.  Supports every valid problem. */
#include <omp.h>

#include "internal.h"

static int ceil_div(int a, int b) { return (a + b - 1) / b; }
/* floor(a / b) for b > 0 and any sign of a */
static int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Whether to vectorize over K instead of C (see above); independent of the ISA
   so that workspace() and run() agree. */
static int swap_roles(const convbp_conv *c) { return c->c < 16 && c->k > c->c; }

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  (void)threads;
  *bytes = 0;
  return swap_roles(&pb->conv) ? cbp_ws_add(bytes, pb->out_elems, sizeof(float)) : CONVBP_OK;
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *dO, float *dW,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  const int P = pb->p, Q = pb->q, T = c->r * c->s;
  const cbp_direct_isa *isa = cbp_direct_isa_get();
  /* vc: the channels in vectors, bc: the channels broadcast */
  const int swap = swap_roles(c);
  const int vc = swap ? c->k : c->c, bc = swap ? c->c : c->k;
  float *acc = swap ? ws : dW; /* dW(k, t, c), or dW^T(t, c, k) */
  const ptrdiff_t acc_row = swap ? c->k : (ptrdiff_t)T * c->c;
  const int cblk = isa->nv_max * isa->vl, kblk = isa->kb_max;
  const int ncb = ceil_div(vc, cblk), nkb = ceil_div(bc, kblk);
  const long tasks = (long)T * nkb * ncb;
  /* Output rows a chunk: its dO rows and the A rows they read in ~512 KiB. */
  enum { CHUNK_FLOATS = 512 * 1024 / sizeof(float) };
  const long row_floats = (long)Q * c->k + (long)c->stride_h * c->w * c->c;
  int chunk_rows = (int)(CHUNK_FLOATS / (row_floats > 0 ? row_floats : 1));
  if (chunk_rows < 1) chunk_rows = 1;
  if (chunk_rows > P) chunk_rows = P;
  const int chunks_per_img = ceil_div(P, chunk_rows);
  /* Small images: a chunk holds as many whole ones as fit in half of L2 (at
     least 512 KiB), so that each block of dW is loaded and stored once per
     chunk, not once per image.  res5a_branch2b's dW is 9.4 MB beside 200 KB
     of A and dO per image: 5 images a chunk on a 2 MiB L2 made its BPW 10%
     faster; chunks of the whole L2 made res4a_branch2b's 15% slower. */
  int imgs = 1;
  if (chunk_rows == P) {
    size_t half_l2 = cbp_l2_bytes() / 2 / sizeof(float);
    long budget = half_l2 > CHUNK_FLOATS ? (long)half_l2 : CHUNK_FLOATS;
    long per_img = budget / (row_floats * P > 0 ? row_floats * P : 1);
    imgs = per_img < 1 ? 1 : per_img > c->n ? c->n : (int)per_img;
  }
  const int groups = ceil_div(c->n, imgs);
  const ptrdiff_t a_img = (ptrdiff_t)c->h * c->w * c->c, g_img = (ptrdiff_t)P * Q * c->k;

  memset(acc, 0, pb->out_elems * sizeof(float));
#pragma omp parallel num_threads(threads)
  for (long chunk = 0; chunk < (long)groups * chunks_per_img; chunk++) {
    const int n = (int)(chunk / chunks_per_img) * imgs;
    const int nimg = c->n - n < imgs ? c->n - n : imgs;
    const int p0 = (int)(chunk % chunks_per_img) * chunk_rows;
    const int p1 = p0 + chunk_rows < P ? p0 + chunk_rows : P;
#pragma omp for schedule(static) nowait
    for (long task = 0; task < tasks; task++) {
      const int t = (int)(task / ((long)nkb * ncb));
      const int kb = (int)(task / ncb % nkb), cb = (int)(task % ncb);
      const int r = t / c->s, s = t % c->s;
      const int oh = r * c->dil_h - c->pad_h, ow = s * c->dil_w - c->pad_w;
      /* p with 0 <= p*st_h + oh <= H-1, within the chunk; q likewise */
      int plo = oh >= 0 ? 0 : ceil_div(-oh, c->stride_h);
      int phi = floor_div(c->h - 1 - oh, c->stride_h) + 1;
      int qlo = ow >= 0 ? 0 : ceil_div(-ow, c->stride_w);
      int qhi = floor_div(c->w - 1 - ow, c->stride_w) + 1;
      if (plo < p0) plo = p0;
      if (phi > p1) phi = p1;
      if (qhi > Q) qhi = Q;
      if (plo >= phi || qlo >= qhi) continue;
      const int k0 = kb * kblk, c0 = cb * cblk; /* first broadcast and vector channel */
      const int kn = bc - k0 < kblk ? bc - k0 : kblk;
      const int cw = vc - c0 < cblk ? vc - c0 : cblk;
      const int nv = ceil_div(cw, isa->vl);
      const float *a_at = A + n * a_img +
                          ((ptrdiff_t)(plo * c->stride_h + oh) * c->w + qlo * c->stride_w + ow) * c->c;
      const float *g_at = dO + n * g_img + ((ptrdiff_t)plo * Q + qlo) * c->k;
      const ptrdiff_t a_row = (ptrdiff_t)c->stride_h * c->w * c->c, a_pix = (ptrdiff_t)c->stride_w * c->c;
      const ptrdiff_t g_row = (ptrdiff_t)Q * c->k, g_pix = c->k;
      if (!swap)
        isa->bpw_tile(kn, nv, a_at + c0, a_row, a_pix, g_at + k0, g_row, g_pix, phi - plo,
                      qhi - qlo, nimg, a_img, g_img, acc + ((ptrdiff_t)k0 * T + t) * c->c + c0,
                      acc_row, cw - (nv - 1) * isa->vl);
      else
        isa->bpw_tile(kn, nv, g_at + c0, g_row, g_pix, a_at + k0, a_row, a_pix, phi - plo,
                      qhi - qlo, nimg, g_img, a_img, acc + ((ptrdiff_t)t * c->c + k0) * c->k + c0,
                      acc_row, cw - (nv - 1) * isa->vl);
    }
  }
  /* dW(k, t, c) = dW^T(t, c, k) */
  if (swap) cbp_swap_outer_inner(acc, dW, (size_t)T * c->c, 1, (size_t)c->k, threads);
  return CONVBP_OK;
}

const cbp_strategy cbp_bpw_direct_blocked = {
    .name = "bpw_direct_blocked",
    .op = CONVBP_BPW,
    .summary = "backward weights: register-blocked dO^T . A per tap over NHWC channels, no im2col",
    .workspace = workspace,
    .run = run,
};
