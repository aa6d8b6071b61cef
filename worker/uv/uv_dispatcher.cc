#include "worker/uv/uv_dispatcher.h"

namespace celeriac::worker::uv {

UvDispatcher::UvDispatcher(uv_loop_t* loop)
    : loop_(loop), idle_(makeHandle<uv_idle_t>(loop, this)) {}

// Members go in reverse order: every timer handle is closed (and so never fires), then
// the idle handle. Their memory is freed by the loop's close callbacks.
UvDispatcher::~UvDispatcher() = default;

void UvDispatcher::post(std::function<void()> fn) {
  posted_.push_back(std::move(fn));
  if (uv_is_active(asHandle(idle_)) == 0) uv_idle_start(idle_.get(), &onIdle);
}

void UvDispatcher::onIdle(uv_idle_t* idle) noexcept {
  static_cast<UvDispatcher*>(idle->data)->runPosted();
}

void UvDispatcher::runPosted() {
  // Swap first: callbacks may post more work, which runs on the next turn, so a
  // callback that re-posts itself cannot starve I/O.
  std::vector<std::function<void()>> batch;
  batch.swap(posted_);
  for (auto& fn : batch) fn();
  if (posted_.empty()) uv_idle_stop(idle_.get());
}

common::TimerId UvDispatcher::schedule(std::chrono::milliseconds delay,
                                       std::function<void()> fn) {
  const common::TimerId id = next_timer_id_++;
  Timer& timer = timers_[id];
  timer.owner = this;
  timer.id = id;
  timer.fn = std::move(fn);
  timer.handle = makeHandle<uv_timer_t>(loop_, &timer);
  const auto ms = delay.count() < 0 ? 0 : static_cast<std::uint64_t>(delay.count());
  uv_timer_start(
      timer.handle.get(),
      [](uv_timer_t* t) noexcept {
        auto* fired = static_cast<Timer*>(t->data);
        fired->owner->fire(fired->id);
      },
      ms, 0);
  return id;
}

void UvDispatcher::fire(common::TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  std::function<void()> fn = std::move(it->second.fn);
  timers_.erase(it);  // closes the handle: we are inside its callback, which libuv allows
  fn();
}

void UvDispatcher::cancel(common::TimerId id) { timers_.erase(id); }

common::SteadyTime UvDispatcher::now() const {
  // uv_hrtime: nanoseconds of a monotonic clock with an arbitrary origin; only
  // differences matter to callers. (uv_now is cheaper but only has milliseconds,
  // too coarse for latency percentiles.)
  return common::SteadyTime{} + std::chrono::nanoseconds(uv_hrtime());
}

common::WallTime UvDispatcher::wallNow() const { return std::chrono::system_clock::now(); }

}  // namespace celeriac::worker::uv
