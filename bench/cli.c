#define _POSIX_C_SOURCE 200809L
/* Problem lists for the CLI: descriptors, shape files, built-in suites, integer
 * ranges and grids over descriptor fields. */
#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int err_out(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return -1;
}

static double phys_memory_bytes(void) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? (double)pages * size : 1e300;
}

/* Bytes one op of the point needs at most: inputs, output, and the double
   reference with its |term| sums that verification keeps. */
static double point_bytes(const cbp_point *pt) {
  double most = 0;
  for (int op = 0; op < CONVBP_OP_COUNT; op++) {
    size_t x, y, out;
    if (convbp_op_is_mma((convbp_op)op) != pt->is_mma) continue;
    if (pt->is_mma ? convbp_mma_op_sizes((convbp_op)op, &pt->mma, &x, &y, &out)
                   : convbp_conv_op_sizes((convbp_op)op, &pt->conv, &x, &y, &out))
      continue;
    double b = 4.0 * ((double)x + y + out) + 16.0 * out;
    if (b > most) most = b;
  }
  return most;
}

int cbp_point_parse(const char *text, cbp_point *pt, char *err, size_t err_len) {
  memset(pt, 0, sizeof *pt);
  int st;
  if (strstr(text, "ic")) {
    st = convbp_conv_parse(text, &pt->conv, pt->name, sizeof pt->name, err, err_len);
    if (!st) st = convbp_conv_format(&pt->conv, pt->name, pt->desc, sizeof pt->desc);
  } else {
    pt->is_mma = 1;
    st = convbp_mma_parse(text, &pt->mma, pt->name, sizeof pt->name, err, err_len);
    if (!st) st = convbp_mma_format(&pt->mma, pt->name, pt->desc, sizeof pt->desc);
  }
  if (st) return -1;
  double need = point_bytes(pt), have = phys_memory_bytes();
  if (need > have)
    return err_out(err, err_len, "'%s' needs %.3g GB for its tensors, more than this machine's %.3g GB",
                   text, need * 1e-9, have * 1e-9);
  return 0;
}

int cbp_points_add(cbp_point_list *l, const cbp_point *pt) {
  if (l->count == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    cbp_point *items = realloc(l->items, (size_t)cap * sizeof *items);
    if (!items) return -1;
    l->items = items;
    l->cap = cap;
  }
  l->items[l->count++] = *pt;
  return 0;
}

void cbp_points_free(cbp_point_list *l) {
  free(l->items);
  memset(l, 0, sizeof *l);
}

int cbp_points_load_file(cbp_point_list *l, const char *path, char *err, size_t err_len) {
  FILE *f = fopen(path, "r");
  if (!f) return err_out(err, err_len, "cannot read problems file '%s': %s", path, strerror(errno));
  char line[1024];
  int lineno = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    /* fgets would hand the rest of a longer line back as the next one */
    if (!strchr(line, '\n') && !feof(f)) {
      rc = err_out(err, err_len, "%s:%d: line longer than %d characters", path, lineno,
                   (int)sizeof line - 2);
      break;
    }
    line[strcspn(line, "#\r\n")] = 0;
    char *s = line;
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    if (!*s) continue;
    cbp_point pt;
    char perr[256];
    if (cbp_point_parse(s, &pt, perr, sizeof perr)) {
      rc = err_out(err, err_len, "%s:%d: %s", path, lineno, perr);
      break;
    }
    if (cbp_points_add(l, &pt)) {
      rc = err_out(err, err_len, "out of memory");
      break;
    }
  }
  if (!rc && ferror(f)) rc = err_out(err, err_len, "error reading '%s'", path);
  fclose(f);
  return rc;
}

/* Suites, named by role as benchdnn's shape files are. */
static const char *const suite_resnet50[] = {
    "mb8ic3ih224oc64oh112kh7sh2ph3n\"conv1\"",
    "mb8ic64ih56oc256oh56kh1ph0n\"res2a_branch1\"",
    "mb8ic64ih56oc64oh56kh1ph0n\"res2a_branch2a\"",
    "mb8ic64ih56oc64oh56kh3ph1n\"res2a_branch2b\"",
    "mb8ic256ih56oc64oh56kh1ph0n\"res2b_branch2a\"",
    "mb8ic256ih56oc512oh28kh1sh2ph0n\"res3a_branch1\"",
    "mb8ic256ih56oc128oh28kh1sh2ph0n\"res3a_branch2a\"",
    "mb8ic128ih28oc128oh28kh3ph1n\"res3a_branch2b\"",
    "mb8ic128ih28oc512oh28kh1ph0n\"res3a_branch2c\"",
    "mb8ic512ih28oc128oh28kh1ph0n\"res3b_branch2a\"",
    "mb8ic512ih28oc1024oh14kh1sh2ph0n\"res4a_branch1\"",
    "mb8ic512ih28oc256oh14kh1sh2ph0n\"res4a_branch2a\"",
    "mb8ic256ih14oc256oh14kh3ph1n\"res4a_branch2b\"",
    "mb8ic256ih14oc1024oh14kh1ph0n\"res4a_branch2c\"",
    "mb8ic1024ih14oc256oh14kh1ph0n\"res4b_branch2a\"",
    "mb8ic1024ih14oc2048oh7kh1sh2ph0n\"res5a_branch1\"",
    "mb8ic1024ih14oc512oh7kh1sh2ph0n\"res5a_branch2a\"",
    "mb8ic512ih7oc512oh7kh3ph1n\"res5a_branch2b\"",
    "mb8ic512ih7oc2048oh7kh1ph0n\"res5a_branch2c\"",
    "mb8ic2048ih7oc512oh7kh1ph0n\"res5b_branch2a\"",
    NULL};
static const char *const suite_vgg16[] = {
    "mb2ic3ih224oc64oh224kh3ph1n\"conv1_1\"",   "mb2ic64ih224oc64oh224kh3ph1n\"conv1_2\"",
    "mb2ic64ih112oc128oh112kh3ph1n\"conv2_1\"", "mb2ic128ih112oc128oh112kh3ph1n\"conv2_2\"",
    "mb2ic128ih56oc256oh56kh3ph1n\"conv3_1\"",  "mb2ic256ih56oc256oh56kh3ph1n\"conv3_2\"",
    "mb2ic256ih28oc512oh28kh3ph1n\"conv4_1\"",  "mb2ic512ih28oc512oh28kh3ph1n\"conv4_2\"",
    "mb2ic512ih14oc512oh14kh3ph1n\"conv5_1\"",  NULL};
/* Shapes that break naive recipes: remainders, dilations, pads beyond reach. */
static const char *const suite_edge[] = {
    "mb2ic32ih6oc32kh3sh2ph0n\"remainder_1\"",
    "mb2ic32ih14oc32kh3sh4ph1n\"remainder_3_stride_4\"",
    "mb2ic32ih15oc32kh3sh2ph1dh1n\"dilated_strided\"",
    "mb2ic32ih13oc32kh3ph2dh2n\"dilation_3\"",
    "mb2ic32ih7oc32kh3ph4n\"pad_beyond_reach\"",
    "mb2ic32ih3oc32kh5ph2n\"kernel_larger_than_image\"",
    "mb2ic32ih9iw17oc48kh1kw5pw2n\"rect_1x5\"",
    "mb2ic64ih16oc64kh1sh2ph0n\"1x1_stride_2\"",
    "mb1ic3ih31oc17kh7sh3ph3n\"odd_stem\"",
    "mb3ic5ih11oc7kh3sh2ph1n\"primes\"",
    NULL};
static const char *const suite_mma[] = {
    "m32n1000k2048n\"resnet_fc\"",      "m512n768k768n\"bert_qkv\"",
    "m512n3072k768n\"bert_ffn_up\"",    "m512n768k3072n\"bert_ffn_down\"",
    "m1024n1024k1024n\"square_1k\"",   "m128n4096k4096n\"gpt_proj\"",
    NULL};
static const char *const suite_small[] = {
    "mb2ic16ih14oc16kh3ph1n\"small_3x3\"",  "mb2ic32ih14oc64kh1ph0n\"small_1x1\"",
    "mb2ic16ih15oc32kh3sh2ph1n\"small_s2\"", "mb2ic8ih12oc8kh3ph2dh1n\"small_dilated\"",
    "m128n256k512n\"small_fc\"",            NULL};

static const struct {
  const char *name;
  const char *const *lines;
} suites[] = {{"resnet50", suite_resnet50}, {"vgg16", suite_vgg16}, {"edge", suite_edge},
              {"mma", suite_mma},           {"small", suite_small}};

const char *cbp_suite_names(void) { return "resnet50, vgg16, edge, mma, small"; }

int cbp_points_load_suite(cbp_point_list *l, const char *suite, char *err, size_t err_len) {
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
    if (strcmp(suites[i].name, suite)) continue;
    for (const char *const *s = suites[i].lines; *s; s++) {
      cbp_point pt;
      if (cbp_point_parse(*s, &pt, err, err_len)) return -1;
      if (cbp_points_add(l, &pt)) return err_out(err, err_len, "out of memory");
    }
    return 0;
  }
  return err_out(err, err_len, "unknown suite '%s' (known: %s)", suite, cbp_suite_names());
}

/* Random problems (--random N), as FFTW's check.pl -r draws random sizes: a
   shape table can only hold the edges someone thought of.  Each field is drawn
   so that the strategies' edges come up often: channel counts at and around
   the vector widths 8 and 16, padding past the kernel's reach, strides larger
   than the kernel, dilation, images of 1-4 pixels, and a quarter of the widths
   made foldable (stride across = kernel width, no padding or dilation across,
   W a multiple of it: cbp_fold_width).  Every fifth problem is an MMA.  At
   most RANDOM_MACS multiply-adds a problem keep the double reference quick.
   The stream is splitmix64, so a seed names the same problems everywhere. */
enum { RANDOM_MACS = 20000000 };

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* uniform in [lo, hi] (the modulo's bias is far below what a test notices) */
static int rng_int(uint64_t *s, int lo, int hi) {
  return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* a channel or GEMM extent: half the draws at the vector edges, half in [1, hi] */
static int rng_extent(uint64_t *s, int hi) {
  static const int edges[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 48, 64};
  return rng_int(s, 0, 1) ? edges[rng_int(s, 0, (int)(sizeof edges / sizeof edges[0]) - 1)]
                          : rng_int(s, 1, hi);
}

static int rng_kernel(uint64_t *s) {
  static const int k[] = {1, 1, 2, 3, 3, 4, 5, 7};
  return k[rng_int(s, 0, 7)];
}

/* padding on one side: up to half the reach, now and then up to one past it */
static int rng_pad(uint64_t *s, int reach) {
  return rng_int(s, 0, reach / 2 + (rng_int(s, 0, 3) == 0 ? reach / 2 + 1 : 0));
}

static void random_conv(uint64_t *s, char *text, size_t len) {
  for (;;) {
    static const int mbs[] = {1, 1, 2, 3, 5}, strides[] = {1, 1, 2, 3, 4}, dils[] = {1, 1, 1, 2, 3};
    int mb = mbs[rng_int(s, 0, 4)], ic = rng_extent(s, 300), oc = rng_extent(s, 300);
    int kh = rng_kernel(s), kw = rng_kernel(s);
    int sh = strides[rng_int(s, 0, 4)], sw = strides[rng_int(s, 0, 4)];
    int dh = dils[rng_int(s, 0, 4)], dw = dils[rng_int(s, 0, 4)];
    int ih = rng_int(s, 0, 3) ? rng_int(s, 1, 40) : rng_int(s, 1, 4);
    int iw = rng_int(s, 0, 3) ? rng_int(s, 1, 40) : rng_int(s, 1, 4);
    int ph = rng_pad(s, (kh - 1) * dh), pw = rng_pad(s, (kw - 1) * dw);
    if (rng_int(s, 0, 3) == 0) { /* a width that folds */
      sw = kw, pw = 0, dw = 1;
      iw = kw * rng_int(s, 1, 40 / kw);
    }
    /* the dilated kernel must fit in the padded image: an empty output is refused */
    if (ih + 2L * ph < (long)(kh - 1) * dh + 1 || iw + 2L * pw < (long)(kw - 1) * dw + 1) continue;
    long oh = (ih + 2L * ph - (long)(kh - 1) * dh - 1) / sh + 1;
    long ow = (iw + 2L * pw - (long)(kw - 1) * dw - 1) / sw + 1;
    if ((double)mb * ic * oc * oh * ow * kh * kw > RANDOM_MACS) continue;
    /* dilation in the grammar counts the gaps, as benchdnn's does */
    snprintf(text, len, "mb%dic%dih%diw%doc%dkh%dkw%dsh%dsw%dph%dpw%ddh%ddw%dn\"random\"", mb,
             ic, ih, iw, oc, kh, kw, sh, sw, ph, pw, dh - 1, dw - 1);
    return;
  }
}

static void random_mma(uint64_t *s, char *text, size_t len) {
  for (;;) {
    int m = rng_extent(s, 600), n = rng_extent(s, 600), k = rng_extent(s, 600);
    if ((double)m * n * k > RANDOM_MACS) continue;
    snprintf(text, len, "m%dn%dk%dn\"random\"", m, n, k);
    return;
  }
}

int cbp_points_random(cbp_point_list *l, int count, uint64_t seed, char *err, size_t err_len) {
  uint64_t s = seed;
  for (int i = 0; i < count; i++) {
    char text[160];
    if (i % 5 == 4)
      random_mma(&s, text, sizeof text);
    else
      random_conv(&s, text, sizeof text);
    cbp_point pt;
    if (cbp_point_parse(text, &pt, err, err_len)) return -1;
    if (cbp_points_add(l, &pt)) return err_out(err, err_len, "out of memory");
  }
  return 0;
}

/* A whole decimal number in [min_value, INT_MAX], with nothing after it. */
static int parse_int(const char *s, size_t len, int min_value, int *out) {
  if (len == 0 || len > 12) return -1;
  char buf[16];
  memcpy(buf, s, len);
  buf[len] = 0;
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (*end || errno || v < min_value || v > INT_MAX || !(isdigit((unsigned char)buf[0]) || buf[0] == '-')) return -1;
  *out = (int)v;
  return 0;
}

int cbp_parse_int_list(const char *text, int min_value, int **values, int *count, char *err,
                       size_t err_len) {
  int *v = NULL, n = 0, cap = 0;
  const char *s = text;
  if (!*s) return err_out(err, err_len, "empty list");
  for (;;) {
    size_t len = strcspn(s, ",");
    const char *c1 = memchr(s, ':', len);
    int lo, hi, step = 1, mult = 0;
    if (!c1) {
      if (parse_int(s, len, min_value, &lo))
        return free(v), err_out(err, err_len, "'%.*s' in '%s' is not a whole number >= %d",
                                (int)len, s, text, min_value);
      hi = lo;
    } else {
      const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s));
      size_t hlen = (size_t)((c2 ? c2 : s + len) - (c1 + 1));
      if (parse_int(s, (size_t)(c1 - s), -INT_MAX, &lo) || parse_int(c1 + 1, hlen, -INT_MAX, &hi))
        return free(v), err_out(err, err_len, "range '%.*s' in '%s' needs LO:HI[:STEP|:xFACTOR] with whole numbers",
                                (int)len, s, text);
      if (lo < min_value)
        return free(v), err_out(err, err_len, "range '%.*s' in '%s' starts below %d", (int)len, s, text, min_value);
      if (c2) {
        const char *st = c2 + 1;
        size_t slen = (size_t)(s + len - st);
        if (slen && *st == 'x') mult = 1, st++, slen--;
        if (parse_int(st, slen, mult ? 2 : 1, &step))
          return free(v), err_out(err, err_len, "range '%.*s' in '%s': step must be a whole number >= 1 (or x2 and up)",
                                  (int)len, s, text);
      }
      if (hi < lo) return free(v), err_out(err, err_len, "range '%.*s' in '%s' is empty (%d > %d)", (int)len, s, text, lo, hi);
    }
    for (long long x = lo; x <= hi; x = mult ? x * step : x + step) {
      if (mult && x == 0) return free(v), err_out(err, err_len, "range '%.*s' multiplies 0", (int)len, s);
      if (n == cap) {
        cap = cap ? 2 * cap : 8;
        if (cap > 100000) return free(v), err_out(err, err_len, "list '%s' is too long", text);
        int *nv = realloc(v, (size_t)cap * sizeof *nv);
        if (!nv) return free(v), err_out(err, err_len, "out of memory");
        v = nv;
      }
      v[n++] = (int)x;
    }
    s += len;
    if (!*s) break;
    s++;
  }
  *values = v;
  *count = n;
  return 0;
}

int cbp_strategy_matches(const char *item, const char *name) {
  return !strcmp(item, "all") || fnmatch(item, name, 0) == 0;
}

/* A row labelled T threads must have run on T: OMP_THREAD_LIMIT caps every
   parallel region, so more would time (and verify) something else. */
int cbp_threads_allowed(long threads, char *err, size_t err_len) {
  const int limit = omp_get_thread_limit();
  if (threads <= limit) return 0;
  snprintf(err, err_len, "%ld threads requested, OMP_THREAD_LIMIT allows %d", threads, limit);
  return -1;
}

/* Sets a field of a conv problem; the height fields also set their width twins
   unless the width field has its own axis (square rule, as in descriptors). */
static int set_field(convbp_conv *c, const char *field, int v, int width_has_axis) {
  static const struct {
    const char *name;
    size_t off, twin; /* twin: width field offset, or (size_t)-1 */
    int delta;        /* value stored = v + delta (dh is 0-based) */
  } map[] = {
      {"mb", offsetof(convbp_conv, n), (size_t)-1, 0},
      {"ic", offsetof(convbp_conv, c), (size_t)-1, 0},
      {"oc", offsetof(convbp_conv, k), (size_t)-1, 0},
      {"ih", offsetof(convbp_conv, h), offsetof(convbp_conv, w), 0},
      {"iw", offsetof(convbp_conv, w), (size_t)-1, 0},
      {"kh", offsetof(convbp_conv, r), offsetof(convbp_conv, s), 0},
      {"kw", offsetof(convbp_conv, s), (size_t)-1, 0},
      {"sh", offsetof(convbp_conv, stride_h), offsetof(convbp_conv, stride_w), 0},
      {"sw", offsetof(convbp_conv, stride_w), (size_t)-1, 0},
      {"ph", offsetof(convbp_conv, pad_h), offsetof(convbp_conv, pad_w), 0},
      {"pw", offsetof(convbp_conv, pad_w), (size_t)-1, 0},
      {"dh", offsetof(convbp_conv, dil_h), offsetof(convbp_conv, dil_w), 1},
      {"dw", offsetof(convbp_conv, dil_w), (size_t)-1, 1},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    if (strcmp(map[i].name, field)) continue;
    int stored = v + map[i].delta;
    memcpy((char *)c + map[i].off, &stored, sizeof stored);
    if (map[i].twin != (size_t)-1 && !width_has_axis) memcpy((char *)c + map[i].twin, &stored, sizeof stored);
    return 0;
  }
  return -1;
}

static const char *width_twin(const char *field) {
  static const char *const pairs[][2] = {{"ih", "iw"}, {"kh", "kw"}, {"sh", "sw"}, {"ph", "pw"}, {"dh", "dw"}};
  for (size_t i = 0; i < 5; i++)
    if (!strcmp(field, pairs[i][0])) return pairs[i][1];
  return NULL;
}

int cbp_grid_expand(cbp_point_list *l, const cbp_grid_axis *axes, int naxes, char *err,
                    size_t err_len) {
  if (naxes == 0) return 0;
  cbp_point_list out = {0};
  for (int b = 0; b < l->count; b++) {
    const cbp_point *base = &l->items[b];
    if (base->is_mma) {
      if (cbp_points_add(&out, base)) goto nomem;
      continue;
    }
    long long combos = 1;
    for (int a = 0; a < naxes; a++) combos *= axes[a].count;
    if (combos > 1000000) {
      cbp_points_free(&out);
      return err_out(err, err_len, "grid has %lld points; at most 1000000", combos);
    }
    for (long long idx = 0; idx < combos; idx++) {
      cbp_point pt = *base;
      long long rest = idx;
      for (int a = 0; a < naxes; a++) {
        int v = axes[a].values[rest % axes[a].count];
        rest /= axes[a].count;
        const char *twin = width_twin(axes[a].field);
        int twin_has_axis = 0;
        for (int t = 0; twin && t < naxes; t++) twin_has_axis |= !strcmp(axes[t].field, twin);
        if (set_field(&pt.conv, axes[a].field, v, twin_has_axis)) {
          cbp_points_free(&out);
          return err_out(err, err_len, "unknown grid field '%s'", axes[a].field);
        }
      }
      int st = convbp_conv_validate(&pt.conv);
      if (st == CONVBP_ERR_PROBLEM) continue; /* empty output: not a point of the grid */
      if (st) {
        cbp_points_free(&out);
        return err_out(err, err_len, "grid point from '%s': %s", base->desc, convbp_strerror(st));
      }
      char name[64];
      snprintf(name, sizeof name, "%s", base->name);
      convbp_conv_format(&pt.conv, name, pt.desc, sizeof pt.desc);
      if (cbp_points_add(&out, &pt)) goto nomem;
    }
  }
  cbp_points_free(l);
  *l = out;
  return 0;
nomem:
  cbp_points_free(&out);
  return err_out(err, err_len, "out of memory");
}

/* OpenBLAS 0.3.21 does not know every recent CPU and may pick kernels below what
   it runs: its generic Prescott (SSE3) ones on Intel family 6 model 207, about
   5x below the AVX-512 ones on sgemm.  Any core narrower than the CPU's vectors
   costs as much: AVX2 Haswell kernels on an AVX-512 AMD Zen 5 run sgemm
   1568x1024x512 in 14.4 ms against 7.2 with SkylakeX's.  OpenBLAS reads
   OPENBLAS_CORETYPE when it loads, so the only fix from inside is to run again
   with it set: the commands that time do that when OpenBLAS's own choice uses
   less than the CPU's widest vectors, say so on stderr, and the sidecar records
   the core used.  A user's own OPENBLAS_CORETYPE, or
   CONVBP_KEEP_BLAS_CORETYPE=1, is left alone; the first is obeyed with a note
   on stderr when it names a core narrower than the CPU's vectors (the Zen 5
   machine's sandbox exports OPENBLAS_CORETYPE=Haswell, and a sweep there
   otherwise halves every sgemm without a word). */
static int avx512_core(const char *name) {
  return !strcmp(name, "SkylakeX") || !strcmp(name, "Cooperlake") ||
         !strcmp(name, "SapphireRapids");
}

void cbp_fix_blas_coretype(char **argv) {
  if (getenv("CONVBP_KEEP_BLAS_CORETYPE")) return;
  const char *chosen = openblas_get_corename(), *user = getenv("OPENBLAS_CORETYPE");
  /* SkylakeX's kernels use AVX-512 F, CD, BW, DQ and VL. */
  const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                     __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                     __builtin_cpu_supports("avx512vl");
  const char *core = NULL;
  if (avx512 && !avx512_core(chosen))
    core = "SkylakeX";
  else if (!strcmp(chosen, "Prescott") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma"))
    core = "Haswell";
  if (!core) return;
  if (user) {
    fprintf(stderr, "convbp: note: OPENBLAS_CORETYPE=%.40s makes OpenBLAS run its %s kernels, "
                    "narrower than this CPU's vectors, so every sgemm runs slower (unset it for "
                    "convbp to pick %s)\n",
            user, chosen, core);
    return;
  }
  fprintf(stderr, "convbp: OpenBLAS chose its %s kernels on this CPU; running with "
                  "OPENBLAS_CORETYPE=%s (CONVBP_KEEP_BLAS_CORETYPE=1 keeps OpenBLAS's choice)\n",
          chosen, core);
  setenv("OPENBLAS_CORETYPE", core, 1);
  execv("/proc/self/exe", argv);
  /* execv failed: go on with OpenBLAS's own choice, which is correct, only slower. */
}

/* ---- The machine sidecar beside a CSV ----------------------------------- */

const char *cbp_build_isa(void) {
#if defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2";
#else
  return "scalar";
#endif
}

/* <dir>/<stem>.machine.txt beside <dir>/<stem>.csv; -1 when it does not fit in
   len (cut short, it could name the CSV itself, which the sidecar's rename
   would then replace). */
int cbp_sidecar_path(const char *csv, char *buf, size_t len) {
  static const char suffix[] = ".machine.txt";
  if (snprintf(buf, len, "%s", csv) >= (int)len) return -1;
  char *dot = strrchr(buf, '.'), *slash = strrchr(buf, '/');
  if (dot && (!slash || dot > slash)) *dot = 0;
  if (strlen(buf) + sizeof suffix > len) return -1;
  strcat(buf, suffix);
  return 0;
}

/* The sidecar read back whole (for --resume and compare) into *text: NULL
   when there is none (or it is empty).  -1 with errno set when it exists but
   cannot be read, out of memory included: a resumed sweep would otherwise
   write a new sidecar over the one its rows were measured with.  A resumed
   sweep copies it verbatim, so no line of it is lost, however long. */
int cbp_sidecar_load(const char *path, char **text) {
  size_t len;
  errno = 0;
  *text = cbp_read_file(path, &len);
  if (!*text) return errno == ENOENT ? 0 : -1;
  if (!len) {
    free(*text);
    *text = NULL;
  }
  return 0;
}

int cbp_peak_shortfall(int threads, double peak_n, double peak_1, char *msg, size_t len) {
  /* 3/4: a healthy 2-core guest measures 1.8-2.0x; with one vCPU taken by the
     host it measured 1.0x (223.9 against 223.2 GFLOP/s, a Zen 5 EPYC). */
  if (threads < 2 || peak_1 <= 0 || peak_n >= 0.75 * threads * peak_1) return 0;
  snprintf(msg, len,
           "%d threads reached %.1f GFLOP/s in the FMA loop, %.2fx one thread's %.1f: other "
           "load shares these CPUs, or fewer CPUs are allowed than threads; times on %d threads "
           "and their percent of peak will not show what the code does",
           threads, peak_n, peak_n / peak_1, peak_1, threads);
  return 1;
}

double cbp_peak_retry(int threads, double peak_n, double peak_1, int retries,
                      double (*measure)(int threads, void *ctx), void *ctx, int *tries) {
  char msg[320];
  *tries = 0;
  while (*tries < retries && cbp_peak_shortfall(threads, peak_n, peak_1, msg, sizeof msg)) {
    const double again = measure(threads, ctx);
    ++*tries;
    if (again > peak_n) peak_n = again;
  }
  return peak_n;
}

void cbp_sidecar_peak_notes(const char *who, const char *csv, const char *text) {
  char v[64];
  if (!text || !cbp_sidecar_get(text, "peak_gflops_1t", v, sizeof v)) return;
  const double peak_1 = atof(v);
  for (int n = 2; n < 256; n++) {
    char key[32], msg[320];
    snprintf(key, sizeof key, "peak_gflops_%dt", n);
    if (cbp_sidecar_get(text, key, v, sizeof v) && cbp_peak_shortfall(n, atof(v), peak_1, msg, sizeof msg))
      fprintf(stderr, "%s: note: %s was measured where %s\n", who, csv, msg);
  }
}

/* OpenBLAS's kernel set as the sidecar's openblas= value records it, "... (core
   NAME)": NAME into out; 0 when the value has none. */
int cbp_blas_core(const char *openblas, char *out, size_t len) {
  const char *p = strstr(openblas, "(core ");
  if (!p) return 0;
  p += strlen("(core ");
  const size_t n = strcspn(p, ")");
  if (!n || p[n] != ')') return 0;
  snprintf(out, len, "%.*s", (int)n, p);
  return 1;
}

const char *cbp_blas_core_now(void) {
  const char *core = openblas_get_corename();
  return core ? core : "unknown";
}

/* The value of the last "key=value" line of the sidecar text into out; 0 when
   no line has that key. */
int cbp_sidecar_get(const char *text, const char *key, char *out, size_t len) {
  const size_t klen = strlen(key);
  int found = 0;
  for (const char *line = text; line && *line;) {
    const char *eol = strchr(line, '\n');
    const size_t n = eol ? (size_t)(eol - line) : strlen(line);
    if (n > klen && !strncmp(line, key, klen) && line[klen] == '=') {
      snprintf(out, len, "%.*s", (int)(n - klen - 1), line + klen + 1);
      found = 1;
    }
    line = eol ? eol + 1 : NULL;
  }
  return found;
}
