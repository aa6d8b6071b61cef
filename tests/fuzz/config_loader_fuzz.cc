// Fuzz target: ConfigLoader on the input as a balancer config (README.md).
//
// Input: YAML text for ConfigLoader::fromYaml; or, when the input starts with "LLM_",
// KEY=VALUE lines for ConfigLoader::fromEnv (the environment form).
// fromYaml runs the YAML through its JSON Schema (valijson) before reading it, so the
// schema check is fuzzed too.
// Contract checked (config_loader.h): both return an Error for a bad config and throw
// nothing (a YAML error, std::out_of_range and the like are crashes here). A config they
// return passes validate() again, and applyKeySet() with any INSTANCE_ID or HOSTNAME
// either picks a set or returns an Error.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "balancer/config_loader.h"
#include "fuzz_input.h"

namespace {

using celeriac::balancer::EnvMap;

EnvMap envFrom(std::string_view text) {
  EnvMap env;
  while (!text.empty()) {
    const std::string_view line = celeriac::fuzz::takeLine(text);
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return env;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace celeriac::balancer;
  const std::string_view text = celeriac::fuzz::asText(data, size);
  const bool env_form = text.starts_with("LLM_");
  auto loaded = env_form ? ConfigLoader::fromEnv(envFrom(text)) : ConfigLoader::fromYaml(text);
  if (!loaded) return 0;  // the documented refusal
  const BalancerConfig& config = *loaded;
  if (!ConfigLoader::validate(config)) std::abort();  // a loaded config is valid
  (void)usesSharedBuckets(config);
  // Key-set choice by INSTANCE_ID, by a StatefulSet HOSTNAME, and by neither.
  const std::string tail(text.substr(text.size() > 8 ? text.size() - 8 : 0));
  for (const EnvMap& env : {EnvMap{{"INSTANCE_ID", tail}}, EnvMap{{"HOSTNAME", "w-" + tail}},
                            EnvMap{{"INSTANCE_ID", "18446744073709551615"}}, EnvMap{}}) {
    BalancerConfig copy = config;
    (void)ConfigLoader::applyKeySet(copy, env);
  }
  return 0;
}
