#pragma once
// FakeDispatcher and FakeTransport: a hand-driven loop for Balancer tests.
//
// FakeDispatcher runs posted work and due timers only when the test calls runReady() or
// advance(); time comes from a ManualClock, so nothing sleeps. FakeTransport records every
// request; the test answers one with reply(), whose completion is delivered through the
// dispatcher (never inside send), as the real curl transport does.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "balancer/http_transport.h"
#include "common/dispatcher.h"
#include "manual_clock.h"

namespace celeriac::testing {

class FakeDispatcher final : public common::Dispatcher {
 public:
  void post(std::function<void()> fn) override { posted_.push_back(std::move(fn)); }
  common::TimerId schedule(std::chrono::milliseconds delay, std::function<void()> fn) override {
    const common::TimerId id = next_id_++;
    timers_.emplace(std::make_pair(clock_.now() + delay, id), std::move(fn));
    return id;
  }
  void cancel(common::TimerId id) override {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return;
      }
    }
  }
  [[nodiscard]] const common::Clock& clock() const override { return clock_; }
  void setWall(common::WallTime t) { clock_.setWall(t); }

  // Runs posted work and due timers until nothing is ready.
  void runReady() {
    for (;;) {
      if (!posted_.empty()) {
        auto fn = std::move(posted_.front());
        posted_.erase(posted_.begin());
        fn();
        continue;
      }
      if (!timers_.empty() && timers_.begin()->first.first <= clock_.now()) {
        auto fn = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
        fn();
        continue;
      }
      return;
    }
  }
  // Moves time forward, firing timers in order at their due times.
  void advance(std::chrono::nanoseconds by) {
    const auto end = clock_.now() + by;
    runReady();
    while (!timers_.empty() && timers_.begin()->first.first <= end) {
      const auto due = timers_.begin()->first.first;
      if (due > clock_.now()) clock_.advance(due - clock_.now());
      runReady();
    }
    if (end > clock_.now()) clock_.advance(end - clock_.now());
    runReady();
  }
  [[nodiscard]] std::size_t pendingTimers() const { return timers_.size(); }
  ManualClock& manualClock() { return clock_; }

 private:
  ManualClock clock_;
  std::vector<std::function<void()>> posted_;
  std::map<std::pair<common::SteadyTime, common::TimerId>, std::function<void()>> timers_;
  common::TimerId next_id_ = 1;
};

class FakeTransport final : public balancer::HttpTransport {
 public:
  struct Sent {
    balancer::HttpRequestId id;
    balancer::HttpRequest request;
    std::function<void(balancer::HttpResponse)> on_done;
    bool done = false;
  };

  explicit FakeTransport(FakeDispatcher& dispatcher) : dispatcher_(dispatcher) {}

  balancer::HttpRequestId send(balancer::HttpRequest request,
                               std::function<void(balancer::HttpResponse)> on_done) override {
    const balancer::HttpRequestId id = next_id_++;
    sent_.push_back({id, std::move(request), std::move(on_done), false});
    return id;
  }
  void cancel(balancer::HttpRequestId id) override {
    for (auto& s : sent_) {
      if (s.id == id && !s.done) {
        balancer::HttpResponse r;
        r.error = balancer::TransportError::kCancelled;
        complete(s, std::move(r));
      }
    }
  }

  // Answers request number `index` (in send order) through the dispatcher.
  void reply(std::size_t index, balancer::HttpResponse response) {
    complete(sent_.at(index), std::move(response));
  }
  void reply(std::size_t index, int status, std::string body,
             std::vector<balancer::HttpHeader> headers = {}) {
    balancer::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    reply(index, std::move(r));
  }
  void fail(std::size_t index, balancer::TransportError error) {
    balancer::HttpResponse r;
    r.error = error;
    r.error_detail = "injected";
    reply(index, std::move(r));
  }

  [[nodiscard]] std::size_t count() const { return sent_.size(); }
  [[nodiscard]] const balancer::HttpRequest& request(std::size_t i) const {
    return sent_.at(i).request;
  }
  [[nodiscard]] std::size_t open() const {
    std::size_t n = 0;
    for (const auto& s : sent_) n += s.done ? 0 : 1;
    return n;
  }

 private:
  void complete(Sent& s, balancer::HttpResponse response) {
    if (s.done) return;
    s.done = true;
    dispatcher_.post([cb = s.on_done, r = std::move(response)]() mutable { cb(std::move(r)); });
  }

  FakeDispatcher& dispatcher_;
  std::vector<Sent> sent_;
  balancer::HttpRequestId next_id_ = 1;
};

}  // namespace celeriac::testing
