#pragma once
// ReadyQueue: the tasks a worker holds that may start now but wait for a free slot
// (prefetched while -c is full), in the order they start.
//
// What for: RabbitMQ orders a priority queue (x-max-priority) only among the messages it
// still holds; a large prefetch moves most of them into the worker, where a FIFO would
// start a high-priority task after every low one already prefetched. Here the highest
// AMQP priority starts first and, within one priority, the first to arrive, so the
// broker's ordering survives the prefetch. A message without a priority counts as 0,
// as RabbitMQ counts it.
// What not: no I/O, no clock, no slot accounting (the TaskPipeline pops when a slot is
// free). Header-only template so tests use it with plain values.
// Ownership: owns the queued values. Not thread-safe (loop thread).

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <utility>

namespace celeriac::worker::app::pipeline {

template <typename T>
class ReadyQueue {
 public:
  void push(int priority, T value) { by_priority_[priority].push_back(std::move(value)); }

  // Removes and returns the next one to start. Precondition: !empty().
  T pop() {
    auto it = by_priority_.begin();  // highest priority (std::greater)
    T value = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) by_priority_.erase(it);
    return value;
  }

  [[nodiscard]] bool empty() const { return by_priority_.empty(); }
  [[nodiscard]] std::size_t size() const {
    std::size_t n = 0;
    for (const auto& [priority, values] : by_priority_) n += values.size();
    return n;
  }
  void clear() { by_priority_.clear(); }

  // Visits every value in start order.
  template <typename Visit>
  void forEach(Visit&& visit) const {
    for (const auto& [priority, values] : by_priority_) {
      for (const auto& value : values) visit(value);
    }
  }

 private:
  std::map<int, std::deque<T>, std::greater<>> by_priority_;
};

}  // namespace celeriac::worker::app::pipeline
