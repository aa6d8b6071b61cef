// Endpoints on its own: targets made once per (endpoint, model) with each key's admission
// state, at addresses that stay put, and the model rows a pick walks.
#include "core/endpoints.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "manual_clock.h"

namespace celeriac::balancer {
namespace {

class EndpointsTest : public ::testing::Test {
 protected:
  EndpointsTest() {
    add("a", {"m1"}, {"k1", "k2"});
    add("b", {"*"}, {"k3"});
    add("c", {"m2"}, {});
  }
  void add(std::string name, std::vector<std::string> models, std::vector<std::string> keys) {
    EndpointConfig config;
    config.name = std::move(name);
    config.models = std::move(models);
    EndpointState state{config, {}, RetryBudget(), 0, {}};
    for (const std::string& alias : keys) state.keys.push_back({alias, "sk", alias, false, false});
    endpoints_.add(std::move(state));
  }

  ::celeriac::testing::ManualClock clock_;
  AdmissionControl admission_;
  Endpoints endpoints_{CircuitBreakerOptions{}, admission_, clock_};
};

TEST_F(EndpointsTest, AModelRowListsTheEndpointsServingItInOrderWildcardIncluded) {
  const ModelRow& m1 = endpoints_.modelRow("m1");
  EXPECT_EQ(m1.endpoints, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(m1.targets, (std::vector<Target*>{nullptr, nullptr})) << "targets made on use";
  EXPECT_EQ(endpoints_.modelRow("m2").endpoints, (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(endpoints_.modelRow("other").endpoints, (std::vector<std::size_t>{1}));
  EXPECT_EQ(&endpoints_.modelRow("m1"), &m1) << "looked up once";
}

TEST_F(EndpointsTest, ATargetIsMadeOnceWithEachKeysAdmissionState) {
  Target& t = endpoints_.target(0, "m1");
  EXPECT_EQ(&endpoints_.target(0, "m1"), &t);
  ASSERT_EQ(t.admission.size(), 2u);
  EXPECT_EQ(t.admission[0], &admission_.entry("k1", "m1", clock_.now()));
  EXPECT_EQ(t.admission[1], &admission_.entry("k2", "m1", clock_.now()));
  EXPECT_EQ(t.in_flight, 0u);
  EXPECT_TRUE(endpoints_.target(2, "m2").admission.empty()) << "a keyless endpoint";
}

TEST_F(EndpointsTest, TargetsStayWhereTheyAreAsOthersAreMade) {
  Target* first = &endpoints_.target(1, "m1");
  for (int n = 0; n < 100; ++n) (void)endpoints_.target(1, "model-" + std::to_string(n));
  EXPECT_EQ(&endpoints_.target(1, "m1"), first);
  EXPECT_EQ(endpoints_[1].targets.size(), 101u);
}

}  // namespace
}  // namespace celeriac::balancer
