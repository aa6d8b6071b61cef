// HandlePtr, makeHandle and tryMakeHandle (worker/uv/uv_handle.h) on a real libuv loop:
// a handle dropped before it fires never calls back, one dropped inside its own callback
// is fine, a handle libuv refuses is an Error, and in every case nothing is left open
// when the loop closes (uv_loop_close returns 0; ASan would see a leaked handle).

#include "worker/uv/uv_handle.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "test_loop.h"

namespace celeriac::worker::uv {
namespace {

using celeriac::testing::integration::TestLoop;
using std::chrono::milliseconds;

struct Fired {
  int count = 0;
  HandlePtr<uv_timer_t>* self = nullptr;  // set: the callback drops its own handle
};

void onTimer(uv_timer_t* t) noexcept {
  auto* fired = static_cast<Fired*>(t->data);
  ++fired->count;
  if (fired->self != nullptr) fired->self->reset();
}

TEST(UvHandleTest, MakeHandleSetsDataAndTheHandleRuns) {
  TestLoop loop;
  Fired fired;
  {
    HandlePtr<uv_timer_t> timer = makeHandle<uv_timer_t>(loop.get(), &fired);
    ASSERT_NE(timer, nullptr);
    EXPECT_EQ(timer->data, &fired);
    uv_timer_start(timer.get(), &onTimer, 1, 0);
    EXPECT_TRUE(loop.runUntil([&fired] { return fired.count == 1; }, milliseconds(2000)));
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(UvHandleTest, AHandleDroppedBeforeItFiresNeverCallsBack) {
  TestLoop loop;
  Fired fired;
  {
    HandlePtr<uv_timer_t> timer = makeHandle<uv_timer_t>(loop.get(), &fired);
    uv_timer_start(timer.get(), &onTimer, 1, 0);
    timer.reset();  // closing stops it
    loop.runFor(milliseconds(20));
  }
  EXPECT_EQ(fired.count, 0);
  EXPECT_EQ(loop.close(), 0);
}

TEST(UvHandleTest, AHandleMayBeDroppedInsideItsOwnCallback) {
  TestLoop loop;
  Fired fired;
  HandlePtr<uv_timer_t> timer = makeHandle<uv_timer_t>(loop.get(), &fired);
  fired.self = &timer;
  uv_timer_start(timer.get(), &onTimer, 1, 1);  // repeating: would fire again if not closed
  EXPECT_TRUE(loop.runUntil([&timer] { return timer == nullptr; }, milliseconds(2000)));
  loop.runFor(milliseconds(20));
  EXPECT_EQ(fired.count, 1);
  EXPECT_EQ(loop.close(), 0);
}

TEST(UvHandleTest, AHandleLibuvRefusesIsAnErrorAndLeavesNothingOpen) {
  TestLoop loop;
  {
    // -1 is no socket: uv_poll_init_socket refuses it.
    auto poll = tryMakeHandle<uv_poll_t>(loop.get(), nullptr, static_cast<uv_os_sock_t>(-1));
    ASSERT_FALSE(poll.ok());
    EXPECT_EQ(poll.error().message.rfind("libuv: ", 0), 0U) << poll.error().message;
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(UvHandleTest, TryMakeHandlePassesTheInitArguments) {
  TestLoop loop;
  int woken = 0;
  {
    auto async = tryMakeHandle<uv_async_t>(
        loop.get(), &woken, [](uv_async_t* a) noexcept { ++*static_cast<int*>(a->data); });
    ASSERT_TRUE(async.ok()) << async.error().message;
    uv_async_send(async.value().get());
    EXPECT_TRUE(loop.runUntil([&woken] { return woken == 1; }, milliseconds(2000)));
  }
  EXPECT_EQ(loop.close(), 0);
}

}  // namespace
}  // namespace celeriac::worker::uv
