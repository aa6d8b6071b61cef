// ConfigLoader: `shared` on endpoints and keys, and the `replicas` it needs.
#include <gtest/gtest.h>

#include "balancer/config_loader.h"
#include "config_error_of.h"

namespace celeriac::balancer {
namespace {

TEST(SharedConfigTest, ReplicasWithoutSharedIsAnError) {
  EXPECT_EQ(testing::pathOf(R"(
endpoints:
  - {name: e, url: "http://e/v1", replicas: 2}
)"),
            "endpoints[0].replicas");
}

TEST(SharedConfigTest, ParsesSharedOnEndpointsAndKeys) {
  const auto cfg = ConfigLoader::fromYaml(R"(
endpoints:
  - name: e
    url: "http://e/v1"
    shared: true
    replicas: 4
    keys:
      - {alias: a, env: A}
      - {alias: b, env: B, shared: false}
)")
                       .value();
  EXPECT_TRUE(cfg.endpoints[0].shared);
  EXPECT_EQ(cfg.endpoints[0].replicas, 4);
  EXPECT_FALSE(cfg.endpoints[0].keys[0].shared.has_value());
  EXPECT_EQ(cfg.endpoints[0].keys[1].shared, false);
  EXPECT_EQ(testing::pathOf(R"(
endpoints:
  - {name: e, url: "http://e/v1", shared: yes-please}
)"),
            "endpoints[0].shared");
}

}  // namespace
}  // namespace celeriac::balancer
