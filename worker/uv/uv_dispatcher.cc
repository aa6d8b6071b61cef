#include "worker/uv/uv_dispatcher.h"

#include "worker/uv/uv_handle.h"

namespace celeriac::worker::uv {

namespace {
// What a timer handle carries back to us: the owner and its id.
struct TimerData {
  UvDispatcher* owner;
  common::TimerId id;
  std::function<void()> fn;
};
}  // namespace

UvDispatcher::UvDispatcher(uv_loop_t* loop) : loop_(loop), idle_(new uv_idle_t) {
  uv_idle_init(loop_, idle_);
  idle_->data = this;
}

UvDispatcher::~UvDispatcher() {
  for (auto& [id, timer] : timers_) {
    delete static_cast<TimerData*>(timer->data);
    timer->data = nullptr;
    uv_timer_stop(timer);
    closeAndDelete(timer);
  }
  closeAndDelete(idle_);
}

void UvDispatcher::post(std::function<void()> fn) {
  posted_.push_back(std::move(fn));
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(idle_)) == 0) uv_idle_start(idle_, &onIdle);
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
  if (posted_.empty()) uv_idle_stop(idle_);
}

common::TimerId UvDispatcher::schedule(std::chrono::milliseconds delay,
                                         std::function<void()> fn) {
  const common::TimerId id = next_timer_id_++;
  auto* timer = new uv_timer_t;
  uv_timer_init(loop_, timer);
  timer->data = new TimerData{this, id, std::move(fn)};
  timers_.emplace(id, timer);
  const auto ms = delay.count() < 0 ? 0 : static_cast<std::uint64_t>(delay.count());
  uv_timer_start(
      timer,
      [](uv_timer_t* t) noexcept {
        auto* data = static_cast<TimerData*>(t->data);
        data->owner->fire(data->id);
      },
      ms, 0);
  return id;
}

void UvDispatcher::fire(common::TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  uv_timer_t* timer = it->second;
  timers_.erase(it);
  std::unique_ptr<TimerData> data(static_cast<TimerData*>(timer->data));
  timer->data = nullptr;
  closeAndDelete(timer);
  data->fn();
}

void UvDispatcher::cancel(common::TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  uv_timer_t* timer = it->second;
  timers_.erase(it);
  delete static_cast<TimerData*>(timer->data);
  timer->data = nullptr;
  uv_timer_stop(timer);
  closeAndDelete(timer);
}

common::SteadyTime UvDispatcher::now() const {
  // uv_hrtime: nanoseconds of a monotonic clock with an arbitrary origin; only
  // differences matter to callers. (uv_now is cheaper but only has milliseconds,
  // too coarse for latency percentiles.)
  return common::SteadyTime{} + std::chrono::nanoseconds(uv_hrtime());
}

common::WallTime UvDispatcher::wallNow() const { return std::chrono::system_clock::now(); }

}  // namespace celeriac::worker::uv
