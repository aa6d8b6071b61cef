#pragma once
// UvDispatcher: common::Dispatcher (and Clock) over one libuv loop.
//
// post() runs callbacks on a later loop turn (an idle handle keeps the loop from
// blocking while work is queued); schedule() arms a one-shot uv_timer per call.
// now() is libuv's high-resolution monotonic clock (uv_hrtime); wallNow() is the
// system clock.
// Loop thread only. Must be destroyed before the loop is closed; pending callbacks
// are dropped on destruction, never run.

#include <uv.h>

#include <functional>
#include <unordered_map>
#include <vector>

#include "common/dispatcher.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::uv {

class UvDispatcher final : public common::Dispatcher, public common::Clock {
 public:
  explicit UvDispatcher(uv_loop_t* loop);
  ~UvDispatcher() override;
  UvDispatcher(const UvDispatcher&) = delete;
  UvDispatcher& operator=(const UvDispatcher&) = delete;

  void post(std::function<void()> fn) override;
  common::TimerId schedule(std::chrono::milliseconds delay, std::function<void()> fn) override;
  void cancel(common::TimerId id) override;
  [[nodiscard]] const common::Clock& clock() const override { return *this; }

  [[nodiscard]] common::SteadyTime now() const override;
  [[nodiscard]] common::WallTime wallNow() const override;

  [[nodiscard]] uv_loop_t* loop() const { return loop_; }
  [[nodiscard]] std::size_t pendingTimers() const { return timers_.size(); }

 private:
  // One scheduled callback. The handle's data points here: unordered_map nodes never
  // move, and erasing the entry closes the handle, after which libuv never calls it.
  struct Timer {
    UvDispatcher* owner = nullptr;
    common::TimerId id = 0;
    std::function<void()> fn;
    HandlePtr<uv_timer_t> handle;
  };
  static void onIdle(uv_idle_t* idle) noexcept;
  void runPosted();
  void fire(common::TimerId id);

  uv_loop_t* loop_;
  HandlePtr<uv_idle_t> idle_;
  std::vector<std::function<void()>> posted_;
  std::unordered_map<common::TimerId, Timer> timers_;
  common::TimerId next_timer_id_ = 1;
};

}  // namespace celeriac::worker::uv
