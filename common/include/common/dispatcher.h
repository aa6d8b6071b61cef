#pragma once
// Dispatcher: how pure code schedules work for later on the owning event loop.
//
// The worker implements it over libuv (worker/uv/uv_dispatcher.h); tests implement it
// with a manual queue driven by a ManualClock. All callbacks run on the loop thread,
// never inside the call that scheduled them.

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/clock.h"

namespace celeriac::inline common {

// Identifies a scheduled timer so it can be cancelled. 0 is never a valid id.
using TimerId = std::uint64_t;

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  // Runs `fn` on a later loop turn (never inside this call).
  virtual void post(std::function<void()> fn) = 0;

  // Runs `fn` once, no earlier than `delay` from now. Returns an id for cancel().
  virtual TimerId schedule(std::chrono::milliseconds delay, std::function<void()> fn) = 0;

  // Cancels a timer that has not fired; a no-op for a fired or unknown id.
  virtual void cancel(TimerId id) = 0;

  [[nodiscard]] virtual const Clock& clock() const = 0;
};

}  // namespace celeriac::inline common
