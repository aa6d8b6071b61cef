#pragma once
// LoopLagProbe: how late the libuv loop runs a 10 ms repeating timer.
//
// Why: "nothing blocks the loop" is the design's first promise, and it needs a number.
// Every tick the probe measures, with uv_hrtime, how long after its due time the timer ran;
// anything that holds the loop (a blocking send, a long loop turn) shows up as lag.
// Every `report_every` it hands the interval's p50/p99/max to `on_report` and starts a
// new interval; last() keeps the latest report for readers such as a health check.
//
// Loop thread only. Owns two uv timers; destroying the probe closes them (their memory
// goes in the close callbacks), so it must die before its loop is closed.

#include <uv.h>

#include <chrono>
#include <functional>

#include "worker/uv/loop_lag_stats.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::uv {

class LoopLagProbe {
 public:
  static constexpr std::chrono::milliseconds kTick{10};

  // Starts at once. `on_report` may be empty (read last() instead).
  LoopLagProbe(uv_loop_t* loop, std::chrono::milliseconds report_every,
               std::function<void(const LoopLagSummary&)> on_report);
  ~LoopLagProbe();
  LoopLagProbe(const LoopLagProbe&) = delete;
  LoopLagProbe& operator=(const LoopLagProbe&) = delete;

  // The last completed interval (all zero before the first report).
  [[nodiscard]] const LoopLagSummary& last() const { return last_; }

 private:
  void tick();
  void report();

  HandlePtr<uv_timer_t> tick_timer_;
  HandlePtr<uv_timer_t> report_timer_;
  std::function<void(const LoopLagSummary&)> on_report_;
  LoopLagStats stats_;
  LoopLagSummary last_;
  std::uint64_t due_ns_ = 0;  // uv_hrtime() at which the next tick is due
};

}  // namespace celeriac::worker::uv
