// The one C++ file: adapts Google Benchmark to the C API in gbench_shim.h.
#include "gbench_shim.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

struct cbp_gb_state {
  benchmark::State *st;
};

extern "C" int cbp_gb_keep_running(cbp_gb_state *s) { return s->st->KeepRunning() ? 1 : 0; }
extern "C" void cbp_gb_pause(cbp_gb_state *s) { s->st->PauseTiming(); }
extern "C" void cbp_gb_resume(cbp_gb_state *s) { s->st->ResumeTiming(); }
extern "C" void cbp_gb_skip_with_error(cbp_gb_state *s, const char *m) { s->st->SkipWithError(m); }
extern "C" void cbp_gb_set_rate(cbp_gb_state *s, const char *name, double per_iteration) {
  s->st->counters[name] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

namespace {

double stat_min(const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); }
double stat_max(const std::vector<double> &v) { return *std::max_element(v.begin(), v.end()); }

std::map<std::string, int> &ids() {
  static std::map<std::string, int> m;  // function name -> caller's id, for one run
  return m;
}

// Collects each repetition's time and the aggregates of one family, then hands
// one cbp_gb_result per benchmark to C.
class CollectReporter : public benchmark::BenchmarkReporter {
 public:
  CollectReporter(cbp_gb_report_fn fn, void *ctx) : fn_(fn), ctx_(ctx) {}
  bool ReportContext(const Context &) override { return true; }
  void ReportRuns(const std::vector<Run> &runs) override {
    for (const Run &r : runs) {
      auto it = ids().find(r.run_name.function_name);
      if (it == ids().end()) continue;
      cbp_gb_result &res = pending_[it->second];  // zero-initialised on first use
      res.id = it->second;
      if (r.error_occurred) {
        res.error = 1;
        messages_[it->second] = r.error_message;
        continue;
      }
      if (r.run_type == Run::RT_Iteration) {
        res.repetitions++;
        res.iterations = static_cast<double>(r.iterations);
        // One repetition reports no aggregates: its own time is every statistic.
        if (r.iterations > 0) {
          double t = r.real_accumulated_time / static_cast<double>(r.iterations);
          if (res.repetitions == 1) res.min_s = res.max_s = res.median_s = res.mean_s = t;
        }
        continue;
      }
      // Aggregates arrive in the benchmark's time unit (ns by default), cv as a ratio.
      double seconds = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
      if (r.aggregate_name == "min") res.min_s = seconds;
      else if (r.aggregate_name == "max") res.max_s = seconds;
      else if (r.aggregate_name == "median") res.median_s = seconds;
      else if (r.aggregate_name == "mean") res.mean_s = seconds;
      else if (r.aggregate_name == "stddev") res.stddev_s = seconds;
      else if (r.aggregate_name == "cv") res.cv = r.real_accumulated_time;
    }
  }
  // Called once by RunSpecifiedBenchmarks when every benchmark has finished.
  void Finalize() override {
    for (auto &kv : pending_) {
      if (kv.second.error) kv.second.error_message = messages_[kv.first].c_str();
      fn_(&kv.second, ctx_);
    }
    pending_.clear();
  }

 private:
  cbp_gb_report_fn fn_;
  void *ctx_;
  std::map<int, cbp_gb_result> pending_;
  std::map<int, std::string> messages_;
};

}  // namespace

extern "C" void cbp_gb_register(const char *name, int id, cbp_gb_fn fn, void *arg,
                                const cbp_gb_options *opts) {
  ids()[name] = id;
  benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &st) {
    cbp_gb_state s{&st};
    fn(&s, arg);
  });
  // Kernels are parallel inside: wall-clock time, never the main thread's CPU time.
  b->UseRealTime();
  b->ComputeStatistics("min", stat_min);
  b->ComputeStatistics("max", stat_max);
  if (opts && opts->repetitions > 0) b->Repetitions(opts->repetitions);
  if (opts && opts->min_time > 0) b->MinTime(opts->min_time);
}

extern "C" void cbp_gb_initialize(int *argc, char **argv) { benchmark::Initialize(argc, argv); }

extern "C" int cbp_gb_run_collect(cbp_gb_report_fn report, void *ctx) {
  CollectReporter reporter(report, ctx);
  size_t n = benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::ClearRegisteredBenchmarks();
  ids().clear();
  return static_cast<int>(n);
}

extern "C" int cbp_gb_run_default(void) {
  size_t n = benchmark::RunSpecifiedBenchmarks();
  benchmark::ClearRegisteredBenchmarks();
  ids().clear();
  return static_cast<int>(n);
}
