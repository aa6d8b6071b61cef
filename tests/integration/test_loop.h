#pragma once
// TestLoop: a real libuv loop for integration tests, run until a condition or a deadline.
//
// For: waiting on outcomes without sleeping. runUntil() runs the loop and checks the
// condition before the loop would block (uv_prepare: a timer callback may have made it
// true) and after I/O callbacks (uv_check), stopping as soon as it holds or when a
// deadline timer fires. close() runs the pending close callbacks and closes
// the loop; it returns uv_loop_close's result, so a test can assert that nothing it
// created was left open (0). Test thread only.

#include <uv.h>

#include <chrono>
#include <functional>

#include "worker/uv/uv_handle.h"

namespace celeriac::testing::integration {

class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    if (!closed_) close();
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  [[nodiscard]] uv_loop_t* get() { return &loop_; }

  // Runs the loop until `done()` is true or `timeout` passes; returns done().
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    if (done()) return true;
    struct State {
      const std::function<bool()>* done;
      uv_loop_t* loop;
    } state{&done, &loop_};
    auto prepare = worker::uv::makeHandle<uv_prepare_t>(&loop_, &state);
    auto check = worker::uv::makeHandle<uv_check_t>(&loop_, &state);
    auto timer = worker::uv::makeHandle<uv_timer_t>(&loop_, &state);
    uv_prepare_start(prepare.get(), [](uv_prepare_t* p) noexcept {
      auto* s = static_cast<State*>(p->data);
      if ((*s->done)()) uv_stop(s->loop);  // also makes the coming poll not block
    });
    uv_check_start(check.get(), [](uv_check_t* c) noexcept {
      auto* s = static_cast<State*>(c->data);
      if ((*s->done)()) uv_stop(s->loop);
    });
    // The deadline counts from now, not from the loop's cached time: the thread may
    // have worked for seconds since the loop last ran (a rabbitmqctl call).
    uv_update_time(&loop_);
    uv_timer_start(
        timer.get(), [](uv_timer_t* t) noexcept { uv_stop(static_cast<State*>(t->data)->loop); },
        static_cast<std::uint64_t>(timeout.count()), 0);
    uv_run(&loop_, UV_RUN_DEFAULT);
    prepare.reset();
    check.reset();
    timer.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);  // runs the close callbacks
    return done();
  }

  // Runs the loop for `duration` (to show that something does NOT happen).
  void runFor(std::chrono::milliseconds duration) {
    runUntil([] { return false; }, duration);
  }

  // Lets pending close callbacks run, then closes the loop. 0 means nothing was left
  // open; UV_EBUSY means a handle leaked. A request still in libuv's thread pool (a
  // getaddrinfo its owner could no longer cancel because it had started) is not a leak:
  // it ends on its own, so while no handle is open the loop runs until it has.
  int close() {
    for (int i = 0; i < 10; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    int rc = uv_loop_close(&loop_);
    for (int i = 0; rc != 0 && openHandles() == 0 && i < 100; ++i) {
      uv_run(&loop_, UV_RUN_ONCE);  // blocks until a request completes
      rc = uv_loop_close(&loop_);
    }
    closed_ = true;
    if (rc != 0) {
      // Close whatever is left so the loop memory can go; the test already failed.
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void*) noexcept {
            if (uv_is_closing(h) == 0) uv_close(h, nullptr);
          },
          nullptr);
      uv_run(&loop_, UV_RUN_NOWAIT);
      uv_loop_close(&loop_);
    }
    return rc;
  }

 private:
  // Handles not closing (uv_walk skips libuv's internal ones).
  int openHandles() {
    int open = 0;
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void* arg) noexcept {
          if (uv_is_closing(h) == 0) ++*static_cast<int*>(arg);
        },
        &open);
    return open;
  }

  uv_loop_t loop_{};
  bool closed_ = false;
};

}  // namespace celeriac::testing::integration
