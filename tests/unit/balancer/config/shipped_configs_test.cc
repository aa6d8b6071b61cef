// Every balancer config shipped in the repository passes the schema and loads: each
// YAML file with a top-level `endpoints:` key (deploy/, balancer/config/, bench/, tests/)
// and each ```yaml block of a Markdown file that has one. Found by walking the tree, so a
// config added later is checked without being listed here. (Configs written by Python
// helpers are checked by tests/deploy/test_balancer_config_schema.py; the C++ tests'
// own configs go through ConfigLoader::fromYaml where they are used.)

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "balancer/config_loader.h"
#include "common/yaml_to_json.h"
#include "config/config_schema.h"
#include "config_error_of.h"

namespace celeriac::balancer {
namespace {

namespace fs = std::filesystem;

struct ShippedConfig {
  std::string where;  // path relative to the repository, "#n" for the n-th block
  std::string text;
};

std::string readFile(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool isBalancerConfig(const std::string& text) {
  static const std::regex top_level_endpoints("(^|\n)endpoints:");
  return std::regex_search(text, top_level_endpoints);
}

std::vector<ShippedConfig> shippedConfigs() {
  const fs::path root = fs::path(CELERIAC_SOURCE_DIR).lexically_normal();
  std::vector<ShippedConfig> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory()) {
      // Build trees (build/, build-fuzz/, ...) and version control hold no shipped file.
      if (name.starts_with("build") || name.starts_with('.')) it.disable_recursion_pending();
      continue;
    }
    const std::string ext = it->path().extension().string();
    const std::string rel = it->path().lexically_relative(root).string();
    if (ext == ".yaml" || ext == ".yml") {
      std::string text = readFile(it->path());
      if (isBalancerConfig(text)) out.push_back({rel, std::move(text)});
    } else if (ext == ".md") {
      const std::string text = readFile(it->path());
      static const std::regex block("```yaml\n([\\s\\S]*?)```");
      int n = 0;
      for (std::sregex_iterator m(text.begin(), text.end(), block), end; m != end; ++m) {
        ++n;
        if (isBalancerConfig((*m)[1].str())) {
          out.push_back({rel + "#" + std::to_string(n), (*m)[1].str()});
        }
      }
    }
  }
  return out;
}

TEST(ShippedConfigsTest, EveryShippedBalancerConfigPassesTheSchemaAndLoads) {
  const auto configs = shippedConfigs();
  std::set<std::string> found;
  for (const auto& config : configs) {
    SCOPED_TRACE(config.where);
    found.insert(config.where);
    const auto violations = config_schema::check(yamlToJson(YAML::Load(config.text)).value());
    for (const auto& v : violations) ADD_FAILURE() << v.path << ": " << v.message;
    EXPECT_EQ(testing::errorOf(ConfigLoader::fromYaml(config.text)), "(no error)");
  }
  // The walk finds the ones we know of (it would find nothing if the root were wrong).
  for (const char* known : {"balancer/config/example.yaml", "deploy/k8s/base/config/balancer.yaml",
                            "deploy/compose/fleet-balancer.yaml"}) {
    EXPECT_TRUE(found.contains(known)) << known;
  }
}

}  // namespace
}  // namespace celeriac::balancer
