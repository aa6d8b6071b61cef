#pragma once
// FakeSharedBucketStore: a SharedBucketStore the test answers by hand.
//
// Every reserve() is recorded and answered only when the test calls answer(); adjust()
// is recorded and answered at once with `adjust_status` (applied unless a test says the
// store is away). Answers go through the FakeDispatcher, never inside the call that
// asked, as the Redis store does. `calls()` is the order of both, as Redis would run them.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "balancer/shared_bucket_store.h"
#include "fake_loop.h"

namespace celeriac::testing {

class FakeSharedBucketStore final : public balancer::SharedBucketStore {
 public:
  using Specs = std::vector<balancer::SharedBucketSpec>;
  using Done = std::function<void(balancer::SharedReserveResult)>;
  struct Reserve {
    Specs buckets;
    Done done;
    bool answered = false;
  };

  explicit FakeSharedBucketStore(FakeDispatcher& dispatcher) : dispatcher_(dispatcher) {}

  void reserve(Specs buckets, Done done) override {
    reserves_.push_back({std::move(buckets), std::move(done), false});
    calls_.push_back("reserve");
  }
  void adjust(Specs buckets, Done done) override {
    adjusts_.push_back(std::move(buckets));
    calls_.push_back("adjust");
    dispatcher_.post([done = std::move(done), status = adjust_status] { done({status, {}, {}}); });
  }

  void answer(std::size_t index, balancer::SharedReserveResult::Status status,
              std::chrono::milliseconds retry_after = {}, std::string grant = {}) {
    Reserve& r = reserves_.at(index);
    if (r.answered) return;
    r.answered = true;
    dispatcher_.post([done = r.done, status, retry_after, grant = std::move(grant)] {
      done({status, retry_after, grant});
    });
  }
  // Answers every reserve not answered yet.
  void answerAll(balancer::SharedReserveResult::Status status) {
    for (std::size_t i = 0; i < reserves_.size(); ++i) answer(i, status);
  }

  [[nodiscard]] std::size_t reserves() const { return reserves_.size(); }
  [[nodiscard]] const Specs& reserved(std::size_t i) const { return reserves_.at(i).buckets; }
  [[nodiscard]] const std::vector<Specs>& adjusts() const { return adjusts_; }
  [[nodiscard]] const std::vector<std::string>& calls() const { return calls_; }

  balancer::SharedReserveResult::Status adjust_status =
      balancer::SharedReserveResult::Status::kReserved;

 private:
  FakeDispatcher& dispatcher_;
  std::vector<Reserve> reserves_;
  std::vector<Specs> adjusts_;
  std::vector<std::string> calls_;
};

}  // namespace celeriac::testing
