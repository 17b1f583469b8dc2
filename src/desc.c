/* Problem descriptors in oneDNN benchdnn's syntax, parsed and printed back.
 *
 * conv: mb2ic16ih14iw14oc32oh14ow14kh3kw3sh1sw1ph1pw1dh0dw0n"name"
 * mma:  m64n128k256n"name"
 * Fields may be separated by '_'.  Dilation is 0-based as in benchdnn (dh0 is a
 * dense kernel), so convbp's dil_h = dh + 1.  format() prints the canonical
 * short form, which parse() reads back to the same problem and format() then
 * prints unchanged. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static int fail(char *err, size_t len, const char *fmt, ...) {
  if (err && len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
  }
  return CONVBP_ERR_PARSE;
}

typedef struct {
  const char *key;
  long long value;
  int set;
} field;

/* Splits text into key/value fields from the table; n"..." is the name. */
static int scan_fields(const char *text, field *fields, int nfields, char *name, size_t name_len,
                       char *err, size_t err_len) {
  if (!text) return fail(err, err_len, "no descriptor given");
  if (name && name_len) name[0] = '\0';
  int have_name = 0;
  const char *s = text;
  while (*s) {
    if (*s == '_') {
      s++;
      continue;
    }
    const char *k0 = s;
    while (*s >= 'a' && *s <= 'z') s++;
    size_t klen = (size_t)(s - k0);
    if (klen == 0) return fail(err, err_len, "unexpected '%c' at position %d in '%s'", *s, (int)(k0 - text), text);
    if (klen == 1 && k0[0] == 'n' && *s == '"') {
      const char *n0 = ++s;
      while (*s && *s != '"') s++;
      if (*s != '"') return fail(err, err_len, "unterminated name in '%s'", text);
      if (have_name) return fail(err, err_len, "duplicate field 'n' (name) in '%s'", text);
      have_name = 1;
      size_t nlen = (size_t)(s - n0);
      if (name && name_len) {
        /* Cut short, two names could become one problem in the CSV's keys. */
        if (nlen >= name_len)
          return fail(err, err_len, "name '%.*s' in '%s' is longer than %zu characters", (int)nlen, n0,
                      text, name_len - 1);
        memcpy(name, n0, nlen);
        name[nlen] = '\0';
      }
      s++;
      continue;
    }
    int idx = -1;
    for (int i = 0; i < nfields; i++)
      if (strlen(fields[i].key) == klen && strncmp(fields[i].key, k0, klen) == 0) idx = i;
    if (idx < 0) return fail(err, err_len, "unknown field '%.*s' in '%s'", (int)klen, k0, text);
    if (fields[idx].set) return fail(err, err_len, "duplicate field '%s' in '%s'", fields[idx].key, text);
    const char *v0 = s;
    if (*s == '-' || *s == '+') s++;
    if (!(*s >= '0' && *s <= '9'))
      return fail(err, err_len, "field '%s' needs a number, got '%.*s'", fields[idx].key,
                  (int)strcspn(v0, "_"), v0);
    long long v = 0;
    int neg = *v0 == '-';
    while (*s >= '0' && *s <= '9') {
      v = v * 10 + (*s - '0');
      if (v > INT_MAX) {
        while (*s >= '0' && *s <= '9') s++;
        return fail(err, err_len, "field '%s' value '%.*s' exceeds %d", fields[idx].key,
                    (int)(s - v0), v0, INT_MAX);
      }
      s++;
    }
    fields[idx].value = neg ? -v : v;
    fields[idx].set = 1;
  }
  return CONVBP_OK;
}

enum { F_G, F_MB, F_IC, F_IH, F_IW, F_OC, F_OH, F_OW, F_KH, F_KW, F_SH, F_SW, F_PH, F_PW, F_DH, F_DW, F_COUNT };
static const char *const conv_keys[F_COUNT] = {"g",  "mb", "ic", "ih", "iw", "oc", "oh", "ow",
                                               "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw"};

/* benchdnn's deduction of the front pad from a given output size. */
/* The smallest pad for which the output has `out` rows: 2*pad >= (out-1)*stride - in
   + (ker-1)*(dil0+1) + 1, rounded up (benchdnn rounds down, which misses ph3 for the
   7x7 stride-2 stem); a mismatch left after this is reported by the caller. */
static long long deduce_pad(long long out, long long in, long long ker, long long stride,
                            long long dil0) {
  long long need = (out - 1) * stride - in + (ker - 1) * (dil0 + 1) + 1;
  return need > 0 ? (need + 1) / 2 : 0;
}

int convbp_conv_parse(const char *text, convbp_conv *p, char *name, size_t name_len, char *err,
                      size_t err_len) {
  if (!p) return fail(err, err_len, "no problem to fill");
  field f[F_COUNT];
  for (int i = 0; i < F_COUNT; i++) f[i] = (field){conv_keys[i], 0, 0};
  int st = scan_fields(text, f, F_COUNT, name, name_len, err, err_len);
  if (st) return st;
  static const int required[] = {F_IC, F_IH, F_OC, F_KH};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!f[required[i]].set)
      return fail(err, err_len, "missing field '%s' in '%s'", conv_keys[required[i]], text);
  if (f[F_G].set && f[F_G].value != 1)
    return fail(err, err_len, "field 'g' value %lld: grouped convolution is not supported (g1 only)", f[F_G].value);
  /* Square rule: an omitted width field copies its height field. */
  long long mb = f[F_MB].set ? f[F_MB].value : 2;
  long long ih = f[F_IH].value, iw = f[F_IW].set ? f[F_IW].value : ih;
  long long kh = f[F_KH].value, kw = f[F_KW].set ? f[F_KW].value : kh;
  long long sh = f[F_SH].set ? f[F_SH].value : 1, sw = f[F_SW].set ? f[F_SW].value : sh;
  long long dh = f[F_DH].set ? f[F_DH].value : 0, dw = f[F_DW].set ? f[F_DW].value : dh;
  int oh_set = f[F_OH].set, ow_set = f[F_OW].set || oh_set;
  long long oh = f[F_OH].value, ow = f[F_OW].set ? f[F_OW].value : oh;
  /* Each value is checked before use, naming the field. */
  const struct { const char *key; long long v, min; } checks[] = {
      {"mb", mb, 1}, {"ic", f[F_IC].value, 1}, {"ih", ih, 1}, {"iw", iw, 1},
      {"oc", f[F_OC].value, 1}, {"kh", kh, 1}, {"kw", kw, 1}, {"sh", sh, 1},
      {"sw", sw, 1}, {"dh", dh, 0}, {"dw", dw, 0}, {"oh", oh_set ? oh : 1, 1},
      {"ow", ow_set ? ow : 1, 1}};
  for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
    if (checks[i].v < checks[i].min)
      return fail(err, err_len, "field '%s' must be >= %lld, got %lld", checks[i].key,
                  checks[i].min, checks[i].v);
  if (dh >= INT_MAX || dw >= INT_MAX)
    return fail(err, err_len, "field 'dh'/'dw' exceeds %d", INT_MAX - 1);
  long long ph = f[F_PH].set ? f[F_PH].value : oh_set ? deduce_pad(oh, ih, kh, sh, dh) : 0;
  long long pw = f[F_PW].set ? f[F_PW].value
                 : f[F_PH].set ? ph
                 : ow_set     ? deduce_pad(ow, iw, kw, sw, dw)
                              : 0;
  if (ph < 0) return fail(err, err_len, "field 'ph' must be >= 0, got %lld", ph);
  if (pw < 0) return fail(err, err_len, "field 'pw' must be >= 0, got %lld", pw);
  convbp_conv c = {(int)mb, (int)f[F_IC].value, (int)ih, (int)iw, (int)f[F_OC].value, (int)kh,
                   (int)kw, (int)ph, (int)pw, (int)sh, (int)sw, (int)dh + 1, (int)dw + 1};
  int P, Q;
  st = convbp_conv_out_dims(&c, &P, &Q);
  if (st == CONVBP_ERR_PROBLEM)
    return fail(err, err_len, "output is empty (P or Q < 1): the dilated kernel is larger than the padded input in '%s'", text);
  if (st) return fail(err, err_len, "'%s': %s", text, convbp_strerror(st));
  if (oh_set && oh != P)
    return fail(err, err_len, "field 'oh' is %lld but the problem gives %d", oh, P);
  if (ow_set && ow != Q)
    return fail(err, err_len, "field 'ow' is %lld but the problem gives %d", ow, Q);
  st = convbp_conv_validate(&c);
  if (st) return fail(err, err_len, "'%s': %s", text, convbp_strerror(st));
  *p = c;
  return CONVBP_OK;
}

/* Appends printf output to buf at *pos; reports truncation through *ok. */
static void append(char *buf, size_t len, size_t *pos, int *ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(*pos < len ? buf + *pos : NULL, *pos < len ? len - *pos : 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    *ok = 0;
    return;
  }
  *pos += (size_t)n;
  if (*pos >= len) *ok = 0;
}

int convbp_conv_format(const convbp_conv *p, const char *name, char *buf, size_t len) {
  if (!buf || !len) return CONVBP_ERR_ARG;
  int P, Q, st = convbp_conv_out_dims(p, &P, &Q);
  if (st) return st;
  size_t pos = 0;
  int ok = 1;
  append(buf, len, &pos, &ok, "mb%dic%dih%d", p->n, p->c, p->h);
  if (p->w != p->h) append(buf, len, &pos, &ok, "iw%d", p->w);
  append(buf, len, &pos, &ok, "oc%doh%d", p->k, P);
  if (Q != P) append(buf, len, &pos, &ok, "ow%d", Q);
  append(buf, len, &pos, &ok, "kh%d", p->r);
  if (p->s != p->r) append(buf, len, &pos, &ok, "kw%d", p->s);
  if (p->stride_h != 1 || p->stride_w != 1) append(buf, len, &pos, &ok, "sh%d", p->stride_h);
  if (p->stride_w != p->stride_h) append(buf, len, &pos, &ok, "sw%d", p->stride_w);
  append(buf, len, &pos, &ok, "ph%d", p->pad_h);
  if (p->pad_w != p->pad_h) append(buf, len, &pos, &ok, "pw%d", p->pad_w);
  if (p->dil_h != 1 || p->dil_w != 1) append(buf, len, &pos, &ok, "dh%d", p->dil_h - 1);
  if (p->dil_w != p->dil_h) append(buf, len, &pos, &ok, "dw%d", p->dil_w - 1);
  if (name && *name) append(buf, len, &pos, &ok, "n\"%s\"", name);
  return ok ? CONVBP_OK : CONVBP_ERR_OVERFLOW;
}

int convbp_mma_parse(const char *text, convbp_mma *p, char *name, size_t name_len, char *err,
                     size_t err_len) {
  if (!p) return fail(err, err_len, "no problem to fill");
  field f[3] = {{"m", 0, 0}, {"n", 0, 0}, {"k", 0, 0}};
  int st = scan_fields(text, f, 3, name, name_len, err, err_len);
  if (st) return st;
  for (int i = 0; i < 3; i++) {
    if (!f[i].set) return fail(err, err_len, "missing field '%s' in '%s'", f[i].key, text);
    if (f[i].value < 1)
      return fail(err, err_len, "field '%s' must be >= 1, got %lld", f[i].key, f[i].value);
  }
  convbp_mma m = {(int)f[0].value, (int)f[1].value, (int)f[2].value};
  st = convbp_mma_validate(&m);
  if (st) return fail(err, err_len, "'%s': %s", text, convbp_strerror(st));
  *p = m;
  return CONVBP_OK;
}

int convbp_mma_format(const convbp_mma *p, const char *name, char *buf, size_t len) {
  if (!buf || !len) return CONVBP_ERR_ARG;
  int st = convbp_mma_validate(p);
  if (st) return st;
  size_t pos = 0;
  int ok = 1;
  append(buf, len, &pos, &ok, "m%dn%dk%d", p->m, p->n, p->k);
  if (name && *name) append(buf, len, &pos, &ok, "n\"%s\"", name);
  return ok ? CONVBP_OK : CONVBP_ERR_OVERFLOW;
}
