// The attempt observer (Balancer::setAttemptObserver): one AttemptRecord per attempt that
// went out, with its labels, outcome, usage and cost, the pause a 429 caused, and the
// balancer's own overhead kept apart from the time spent waiting on the provider.

#include <chrono>
#include <vector>

#include "balancer/attempt_record.h"
#include "balancer_fixture.h"

namespace celeriac::balancer {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kPricedTwoKeys = R"(
endpoints:
  - name: e
    url: "http://e/v1"
    models: [m]
    keys: [{alias: ka, env: KEY_A}, {alias: kb, env: KEY_B}]
pricing:
  m: {input: 2.0, output: 10.0}
)";

class AttemptObserverTest : public BalancerTest {
 protected:
  void SetUp() override {
    make(kPricedTwoKeys);
    balancer_->setAttemptObserver([this](const AttemptRecord& r) { records_.push_back(r); });
  }
  std::vector<AttemptRecord> records_;
};

TEST_F(AttemptObserverTest, ASuccessIsRecordedWithLabelsUsageAndCost) {
  submitModel("m");
  loop_.runReady();
  loop_.advance(milliseconds(1500));
  http_.reply(0, 200, okBody("hi", "m"));
  loop_.runReady();
  ASSERT_EQ(records_.size(), 1u);
  const AttemptRecord& r = records_[0];
  EXPECT_EQ(r.endpoint, "e");
  EXPECT_EQ(r.model, "m");
  EXPECT_TRUE(r.key_alias == "ka" || r.key_alias == "kb") << r.key_alias;
  EXPECT_EQ(r.outcome, FailureClass::kNone);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.latency, microseconds(1'500'000));
  EXPECT_EQ(r.input_tokens, 100);
  EXPECT_EQ(r.output_tokens, 50);
  EXPECT_DOUBLE_EQ(r.cost_usd, (100 * 2.0 + 50 * 10.0) / 1e6);
  EXPECT_EQ(r.pause, milliseconds(0));
}

TEST_F(AttemptObserverTest, A429IsRecordedWithThePauseItCaused) {
  submitModel("m");
  loop_.runReady();
  http_.reply(0, 429, R"({"error":{"message":"slow down"}})", {{"retry-after", "3"}});
  loop_.runReady();
  ASSERT_GE(records_.size(), 1u);
  EXPECT_EQ(records_[0].outcome, FailureClass::kRateLimited);
  EXPECT_EQ(records_[0].http_status, 429);
  EXPECT_EQ(records_[0].pause, seconds(3));
  EXPECT_EQ(records_[0].input_tokens, 0);
  EXPECT_DOUBLE_EQ(records_[0].cost_usd, 0.0);
}

// With a clock that moves 1 us on every read, the balancer's synchronous work takes
// time; the provider's 2 s wait must show in latency and not in overhead.
TEST_F(AttemptObserverTest, OverheadCountsTheBalancersOwnWorkNotTheProvidersWait) {
  loop_.manualClock().tickOnEveryRead(microseconds(1));
  submitModel("m");
  loop_.runReady();
  loop_.advance(seconds(2));
  http_.reply(0, 200, okBody("hi", "m"));
  loop_.runReady();
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_GT(records_[0].overhead, microseconds(0));
  EXPECT_LT(records_[0].overhead, milliseconds(1));
  EXPECT_GE(records_[0].latency, seconds(2));
}

TEST_F(AttemptObserverTest, EachAttemptOfARetriedCallIsRecordedWithItsOwnOverhead) {
  loop_.manualClock().tickOnEveryRead(microseconds(1));
  submitModel("m");
  loop_.runReady();
  http_.reply(0, 503, R"({"error":{"message":"busy"}})");
  loop_.advance(seconds(5));  // past any backoff: the retry goes out
  ASSERT_EQ(http_.count(), 2u);
  http_.reply(1, 200, okBody("hi", "m"));
  loop_.runReady();
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[0].outcome, FailureClass::kOverloaded);
  EXPECT_EQ(records_[1].outcome, FailureClass::kNone);
  for (const AttemptRecord& r : records_) {
    EXPECT_GT(r.overhead, microseconds(0));
    EXPECT_LT(r.overhead, milliseconds(1));  // the 5 s backoff is a wait, not overhead
  }
}

}  // namespace
}  // namespace celeriac::balancer
