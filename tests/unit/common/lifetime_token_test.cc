#include "common/lifetime_token.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace celeriac::common {
namespace {

// Stands in for a Dispatcher's queue: callbacks run later, after the test decides.
using Queue = std::vector<std::function<void()>>;

void runAll(Queue& queue) {
  Queue batch;
  batch.swap(queue);
  for (auto& fn : batch) fn();
}

// An owner as the worker writes them: posts callbacks capturing `this`.
class Owner {
 public:
  explicit Owner(Queue& queue) : queue_(queue) {}
  void postIncrement() {
    queue_.push_back(lifetime_.guard([this] { ++count_; }));
  }
  [[nodiscard]] int count() const { return count_; }
  LifetimeToken& lifetime() { return lifetime_; }

 private:
  Queue& queue_;
  int count_ = 0;
  LifetimeToken lifetime_;
};

TEST(LifetimeTokenTest, AWatchIsAliveWhileTheTokenIsAndGoneAfter) {
  LifetimeWatch watch;
  {
    LifetimeToken token;
    watch = token.watch();
    EXPECT_TRUE(watch.alive());
  }
  EXPECT_FALSE(watch.alive());
}

TEST(LifetimeTokenTest, ADefaultWatchIsNeverAlive) { EXPECT_FALSE(LifetimeWatch{}.alive()); }

TEST(LifetimeTokenTest, GuardedCallbacksRunWhileTheOwnerLives) {
  Queue queue;
  Owner owner(queue);
  owner.postIncrement();
  owner.postIncrement();
  runAll(queue);
  EXPECT_EQ(owner.count(), 2);
}

TEST(LifetimeTokenTest, GuardedCallbacksOfADestroyedOwnerDoNothing) {
  // Under ASan a callback that touched the freed owner would be reported here.
  Queue queue;
  auto owner = std::make_unique<Owner>(queue);
  owner->postIncrement();
  owner.reset();
  runAll(queue);
  SUCCEED();
}

TEST(LifetimeTokenTest, RevokeEndsTheLifeForEveryWatchBeforeAndAfter) {
  LifetimeToken token;
  const LifetimeWatch before = token.watch();
  token.revoke();
  EXPECT_FALSE(before.alive());
  EXPECT_FALSE(token.watch().alive());
}

TEST(LifetimeTokenTest, RenewEndsOldWatchesAndStartsANewLife) {
  LifetimeToken token;
  const LifetimeWatch old_life = token.watch();
  token.renew();
  const LifetimeWatch new_life = token.watch();
  EXPECT_FALSE(old_life.alive());
  EXPECT_TRUE(new_life.alive());
}

TEST(LifetimeTokenTest, GuardPassesArgumentsThrough) {
  LifetimeToken token;
  std::optional<int> got;
  std::function<void(int)> cb = token.guard([&got](int v) { got = v; });
  cb(7);
  EXPECT_EQ(got, 7);
  token.revoke();
  cb(8);
  EXPECT_EQ(got, 7);
}

TEST(LifetimeTokenTest, ACallbackMayDestroyItsOwnerAndLaterOnesSeeIt) {
  // What CurlTransport::onFinished does: several callbacks in a row, the first destroys
  // the owner, the rest must not run.
  auto token = std::make_unique<LifetimeToken>();
  const LifetimeWatch life = token->watch();
  int ran = 0;
  std::vector<std::function<void()>> callbacks;
  callbacks.emplace_back([&] {
    ++ran;
    token.reset();
  });
  callbacks.emplace_back([&] { ++ran; });
  for (auto& cb : callbacks) {
    if (!life.alive()) break;
    cb();
  }
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace celeriac::common
