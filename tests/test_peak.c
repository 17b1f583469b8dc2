/* The sweep's peak checks, on made-up measurements: cbp_peak_shortfall's 3/4
 * rule, and cbp_peak_retry measuring again while a peak is short, keeping the
 * highest, and stopping at its limit. */
#include <string.h>

#include "cli.h"
#include "testing.h"

typedef struct {
  const char *why;
  int threads;
  double first, peak_1;
  double again[6]; /* what each measurement after the first returns */
  int retries;
  double want_peak;
  int want_tries;
} retry_case;

static const retry_case cases[] = {
    {"healthy: no measurement again", 2, 459.6, 228.4, {0}, 5, 459.6, 0},
    {"just at 3/4 of 2x: not short", 2, 0.75 * 2 * 200.0, 200.0, {0}, 5, 300.0, 0},
    {"a load that ends: the second measurement settles it", 2, 287.3, 228.4, {459.6}, 5, 459.6, 1},
    {"ends later: measured until it is not short", 2, 287.3, 228.4, {290.0, 300.0, 455.0}, 5, 455.0, 3},
    {"never ends: stops at the limit, keeps the highest", 2, 287.3, 228.4,
     {250.0, 300.1, 290.0, 280.0, 270.0, 999.0}, 5, 300.1, 5},
    {"a lower measurement never replaces a higher", 2, 300.0, 228.4, {100.0, 460.0}, 5, 460.0, 2},
    {"no retries allowed", 2, 287.3, 228.4, {459.6}, 0, 287.3, 0},
    {"one thread is never short", 1, 50.0, 228.4, {228.4}, 5, 50.0, 0},
    {"four threads: 3/4 of 4x", 4, 600.0, 228.4, {690.0}, 5, 690.0, 1},
    {"no one-thread peak: nothing to test against", 2, 100.0, 0.0, {459.6}, 5, 100.0, 0},
};

typedef struct {
  const retry_case *c;
  int calls;
} fake;

static double fake_measure(int threads, void *ctx) {
  fake *f = ctx;
  (void)threads;
  return f->calls < 6 ? f->c->again[f->calls++] : 0.0;
}

int main(void) {
  char msg[320];
  /* the message names the count, both peaks and their ratio */
  CHECK(cbp_peak_shortfall(2, 287.3, 228.4, msg, sizeof msg) == 1 && strstr(msg, "287.3") &&
            strstr(msg, "1.26x") && strstr(msg, "228.4"),
        "shortfall message: %s", msg);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const retry_case *c = &cases[i];
    fake f = {c, 0};
    int tries = -1;
    const double got =
        cbp_peak_retry(c->threads, c->first, c->peak_1, c->retries, fake_measure, &f, &tries);
    CHECK(got == c->want_peak && tries == c->want_tries && f.calls == tries,
          "%s: peak %.1f after %d measurement(s), want %.1f after %d", c->why, got, tries,
          c->want_peak, c->want_tries);
  }
  TEST_END();
}
