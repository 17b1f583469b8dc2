/* Descriptor parsing and formatting, from tables: valid texts with the problem
 * they mean and their canonical form; invalid texts with the words the error
 * must contain (so the message names the field). */
#include <string.h>

#include "convbp.h"
#include "testing.h"

typedef struct {
  const char *text;
  convbp_conv want; /* n c h w k r s pad_h pad_w stride_h stride_w dil_h dil_w */
  const char *canonical;
  const char *name;
} valid_case;

static const valid_case valid[] = {
    /* resnet-style, square rule, dense kernel */
    {"mb32ic64ih56oc64oh56kh3ph1n\"res2a\"", {32, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1},
     "mb32ic64ih56oc64oh56kh3ph1n\"res2a\"", "res2a"},
    /* mb defaults to 2, pad deduced from oh */
    {"ic3ih224oc64oh112kh7sh2", {2, 3, 224, 224, 64, 7, 7, 3, 3, 2, 2, 1, 1},
     "mb2ic3ih224oc64oh112kh7sh2ph3", ""},
    /* no oh: pad 0 */
    {"mb1ic1ih5oc1kh3sh2", {1, 1, 5, 5, 1, 3, 3, 0, 0, 2, 2, 1, 1}, "mb1ic1ih5oc1oh2kh3sh2ph0", ""},
    /* benchdnn dilation is 0-based: dh1 means every other tap */
    {"mb1ic1ih5oc1kh2dh1", {1, 1, 5, 5, 1, 2, 2, 0, 0, 1, 1, 2, 2}, "mb1ic1ih5oc1oh3kh2ph0dh1", ""},
    /* every width field different, underscores, g1 */
    {"g1_mb3_ic5ih7iw9_oc2oh4ow2_kh3kw5sh2sw3ph1pw2dh0dw1",
     {3, 5, 7, 9, 2, 3, 5, 1, 2, 2, 3, 1, 2}, "mb3ic5ih7iw9oc2oh4ow2kh3kw5sh2sw3ph1pw2dh0dw1", ""},
    /* H != W with equal P and Q needs no ow */
    {"mb1ic2ih6iw8oc3kh1kw3ph0", {1, 2, 6, 8, 3, 1, 3, 0, 0, 1, 1, 1, 1},
     "mb1ic2ih6iw8oc3oh6kh1kw3ph0", ""},
    /* pad larger than the kernel reach */
    {"mb1ic1ih4oc1kh3ph5", {1, 1, 4, 4, 1, 3, 3, 5, 5, 1, 1, 1, 1}, "mb1ic1ih4oc1oh12kh3ph5", ""},
};

typedef struct {
  const char *text;
  const char *must_contain;
} invalid_case;

static const invalid_case invalid[] = {
    {"", "missing field 'ic'"},
    {"mb2ih5oc1kh3", "missing field 'ic'"},
    {"mb2ic3ih5kh3", "missing field 'oc'"},
    {"mb0ic3ih5oc1kh3", "'mb' must be >= 1, got 0"},
    {"mb2ic-3ih5oc1kh3", "'ic' must be >= 1, got -3"},
    {"mb2ic_ih5oc1kh3", "field 'ic' needs a number"},
    {"mb2ic3ih5oc1kh3zz4", "unknown field 'zz'"},
    {"mb2ic3ih5oc1kh3ic4", "duplicate field 'ic'"},
    {"mb2ic3ih5oc1kh3 ", "unexpected ' '"},
    {"mb2ic3ih5oc1kh3n\"abc", "unterminated name"},
    {"mb2ic3ih5oc1kh3n\"a\"n\"b\"", "duplicate field 'n'"},
    {"mb2ic3ih5oc1kh3n\"" "0123456789012345678901234567890123456789012345678901234567890123" "\"",
     "is longer than 63 characters"},
    {"mb2ic3ih5oc1kh3ph-1", "'ph' must be >= 0, got -1"},
    {"mb2ic3ih5oc1kh3sh0", "'sh' must be >= 1, got 0"},
    {"mb2ic3ih5oc1kh3dh-1", "'dh' must be >= 0, got -1"},
    {"mb2ic99999999999ih5oc1kh3", "'ic' value '99999999999' exceeds"},
    {"mb2ic3ih2oc1kh3", "output is empty"},
    {"mb2ic3ih5oc1oh4kh3ph0", "field 'oh' is 4 but the problem gives 3"},
    {"mb2ic3ih5oc1kh3g2", "grouped convolution is not supported"},
    {"mb2000000000ic2000000000ih100000oc1kh1", "too large"},
    {"mb2ic3ih5id5oc1kh3", "unknown field 'id'"},
};

typedef struct {
  const char *text;
  convbp_mma want;
  const char *must_contain; /* NULL for a valid case */
} mma_case;

static const mma_case mma_cases[] = {
    {"m64n128k256", {64, 128, 256}, NULL},
    {"m1n1k1n\"fc\"", {1, 1, 1}, NULL},
    {"m64k256", {0, 0, 0}, "missing field 'n'"},
    {"m0n1k1", {0, 0, 0}, "'m' must be >= 1, got 0"},
    {"m1n1k1x2", {0, 0, 0}, "unknown field 'x'"},
    {"m1n1k3000000000", {0, 0, 0}, "exceeds"},
    {"m1n1k1n\"" "0123456789012345678901234567890123456789012345678901234567890123" "\"", {0, 0, 0},
     "is longer than 63 characters"},
};

int main(void) {
  char name[64], err[256], buf[256];
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
    const valid_case *v = &valid[i];
    convbp_conv p;
    int st = convbp_conv_parse(v->text, &p, name, sizeof name, err, sizeof err);
    CHECK(st == 0, "parse '%s': %s", v->text, err);
    if (st) continue;
    CHECK(memcmp(&p, &v->want, sizeof p) == 0, "parse '%s' gave the wrong problem", v->text);
    CHECK(strcmp(name, v->name) == 0, "parse '%s' name '%s'", v->text, name);
    CHECK(convbp_conv_format(&p, name, buf, sizeof buf) == 0, "format '%s'", v->text);
    CHECK(strcmp(buf, v->canonical) == 0, "format '%s' gave '%s', want '%s'", v->text, buf,
          v->canonical);
    /* Round trip: the canonical form parses to the same problem and prints unchanged. */
    convbp_conv back;
    char buf2[256];
    CHECK(convbp_conv_parse(buf, &back, name, sizeof name, err, sizeof err) == 0, "reparse %s", buf);
    CHECK(memcmp(&back, &p, sizeof p) == 0, "round trip of '%s' changed the problem", buf);
    convbp_conv_format(&back, name, buf2, sizeof buf2);
    CHECK(strcmp(buf, buf2) == 0, "round trip '%s' -> '%s'", buf, buf2);
  }
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    convbp_conv p = {0};
    err[0] = 0;
    int st = convbp_conv_parse(invalid[i].text, &p, name, sizeof name, err, sizeof err);
    CHECK(st == CONVBP_ERR_PARSE, "'%s' should be rejected", invalid[i].text);
    CHECK(strstr(err, invalid[i].must_contain) != NULL, "'%s': error '%s' lacks '%s'",
          invalid[i].text, err, invalid[i].must_contain);
  }
  for (size_t i = 0; i < sizeof mma_cases / sizeof mma_cases[0]; i++) {
    const mma_case *c = &mma_cases[i];
    convbp_mma m;
    err[0] = 0;
    int st = convbp_mma_parse(c->text, &m, name, sizeof name, err, sizeof err);
    if (!c->must_contain) {
      CHECK(st == 0 && m.m == c->want.m && m.n == c->want.n && m.k == c->want.k, "mma '%s': %s",
            c->text, err);
      CHECK(convbp_mma_format(&m, name, buf, sizeof buf) == 0 && strcmp(buf, c->text) == 0,
            "mma format '%s' -> '%s'", c->text, buf);
    } else {
      CHECK(st == CONVBP_ERR_PARSE && strstr(err, c->must_contain), "mma '%s': error '%s' lacks '%s'",
            c->text, err, c->must_contain);
    }
  }
  /* A buffer too small is reported, not overrun. */
  convbp_conv p = {1, 1, 5, 5, 1, 3, 3, 0, 0, 1, 1, 1, 1};
  char tiny[8];
  CHECK(convbp_conv_format(&p, NULL, tiny, sizeof tiny) == CONVBP_ERR_OVERFLOW, "short buffer");
  CHECK(strlen(tiny) < sizeof tiny, "short buffer terminated");
  TEST_END();
}
