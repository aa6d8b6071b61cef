#pragma once
// LamportClock: the logical clock Celery stamps on events and pidbox messages.
//
// What for: every event body carries `clock`, every pidbox reply a `clock` header, and
// `clock` / `stats` / `hello` report the value.
// Python tools order events of one worker by it. Semantics are kombu's
// (kombu/clocks.py, LamportClock): forward() adds one and returns the new value;
// adjust(other) sets max(own, other) + 1.
// How Celery 5.2 drives it (celery/worker/pidbox.py, kombu/pidbox.py), which the app
// should copy: one clock per worker shared by events and pidbox; on each pidbox request
// forward() (clients "usually don't have a valid clock"), then adjust() with the
// request's `clock` header (0 when absent); forward() once per event sent and once per
// pidbox reply (its `clock` header); `hello` replies carry forward() too, and mingle
// adjusts with a peer's `clock`.
// What not: no locking; it lives on the worker's loop.

#include <algorithm>
#include <cstdint>

namespace celeriac::worker::celery {

class LamportClock {
 public:
  explicit LamportClock(std::uint64_t initial = 0) : value_(initial) {}

  // Before sending: increments and returns the value to put on the message.
  std::uint64_t forward() { return ++value_; }

  // After receiving a message stamped `other`: max(own, other) + 1, returned.
  std::uint64_t adjust(std::uint64_t other) {
    value_ = std::max(value_, other) + 1;
    return value_;
  }

  [[nodiscard]] std::uint64_t value() const { return value_; }

 private:
  std::uint64_t value_;
};

}  // namespace celeriac::worker::celery
