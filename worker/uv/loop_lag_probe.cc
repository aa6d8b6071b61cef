#include "worker/uv/loop_lag_probe.h"

#include <algorithm>

namespace celeriac::worker::uv {

namespace {
constexpr std::uint64_t kTickNs = 10'000'000;
static_assert(LoopLagProbe::kTick == std::chrono::milliseconds(kTickNs / 1'000'000));
}  // namespace

LoopLagProbe::LoopLagProbe(uv_loop_t* loop, std::chrono::milliseconds report_every,
                           std::function<void(const LoopLagSummary&)> on_report)
    : tick_timer_(makeHandle<uv_timer_t>(loop, this)),
      report_timer_(makeHandle<uv_timer_t>(loop, this)),
      on_report_(std::move(on_report)) {
  // A repeating timer is re-armed by libuv for `repeat` after the moment it ran, so
  // each tick is due 10 ms after the previous one actually ran.
  due_ns_ = uv_hrtime() + kTickNs;
  uv_timer_start(
      tick_timer_.get(),
      [](uv_timer_t* t) noexcept { static_cast<LoopLagProbe*>(t->data)->tick(); },
      static_cast<std::uint64_t>(kTick.count()), static_cast<std::uint64_t>(kTick.count()));
  const auto every_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(1, report_every.count()));
  uv_timer_start(
      report_timer_.get(),
      [](uv_timer_t* t) noexcept { static_cast<LoopLagProbe*>(t->data)->report(); }, every_ms,
      every_ms);
  // The probe must not keep a loop alive that has nothing else to do.
  uv_unref(asHandle(tick_timer_));
  uv_unref(asHandle(report_timer_));
}

// The timers close with their HandlePtrs (closing stops them).
LoopLagProbe::~LoopLagProbe() = default;

void LoopLagProbe::tick() {
  const std::uint64_t now = uv_hrtime();
  // libuv's timers have millisecond resolution and may run up to ~1 ms early by
  // uv_hrtime; LoopLagStats counts an early tick as 0.
  const auto lag_ns = static_cast<std::int64_t>(now) - static_cast<std::int64_t>(due_ns_);
  stats_.record(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::nanoseconds(lag_ns)));
  due_ns_ = now + kTickNs;
}

void LoopLagProbe::report() {
  last_ = stats_.take();
  if (on_report_) {
    try {
      on_report_(last_);
    } catch (...) {
      // A C callback must not throw; a failed report is not worth the process.
    }
  }
}

}  // namespace celeriac::worker::uv
