#pragma once
// ConfigLoader: builds a validated BalancerConfig from YAML text or an environment map.
//
// For: start-up only. A config that cannot be used is an Error whose message starts
// with the path of the bad field, e.g. "endpoints[2].weight: must be a positive number";
// it never contains a secret (keys are references, resolved later by the caller). Pure: the
// environment is passed in as a map (no getenv), files are read by the caller. See
// balancer/config/example.yaml for the full YAML form and schemas/balancer_config.schema.json for
// the rules fromYaml checks first.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "balancer/config.h"
#include "common/result.h"

namespace celeriac::balancer {

using EnvMap = std::map<std::string, std::string, std::less<>>;

class ConfigLoader {
 public:
  // Parses YAML, checks it against the schema (every violation's path and expected
  // value, the first one's path first), then validate().
  [[nodiscard]] static common::Result<BalancerConfig> fromYaml(std::string_view yaml_text);

  // The seed's environment form: LLM_ENDPOINTS (comma list of base URLs), LLM_API_KEYS
  // (comma list matched by position), LLM_STRATEGY, LLM_HEALTH_CHECK (true/false),
  // LLM_TIMEOUT (seconds); and ours: LLM_MODELS (comma list served by every endpoint,
  // default "*"), LLM_PROVIDER (openai|anthropic), and per-replica key sets
  // LLM_API_KEYS_0, LLM_API_KEYS_1, ... (each a comma list matched to LLM_ENDPOINTS by
  // position, like LLM_API_KEYS; set n is named "env-<n>").
  [[nodiscard]] static common::Result<BalancerConfig> fromEnv(const EnvMap& env);

  // The key set an operator pinned for this replica: INSTANCE_ID, else a StatefulSet
  // ordinal at the end of HOSTNAME ("gpt5-analyzer-3" -> 3: a last segment of at most
  // four digits; a Deployment pod's generated suffix such as "-x2k4q" or "-24567" pins
  // nothing), modulo the number of sets. nullopt: not pinned (the worker then leases a
  // free set in Redis), or no key sets. An Error for an INSTANCE_ID that is no number.
  [[nodiscard]] static common::Result<std::optional<std::size_t>> pinnedKeySet(
      const BalancerConfig& config, const EnvMap& env);
  // Adds key set `index` to the endpoints; returns its name. No-op (empty name)
  // without key sets.
  static std::string applyKeySet(BalancerConfig& config, std::size_t index);
  // applyKeySet(config, pinnedKeySet(config, env) or 0).
  static common::Result<std::string> applyKeySet(BalancerConfig& config, const EnvMap& env);

  // A SecretResolver over an environment map (SecretRef::env, honouring list_index for
  // comma lists like LLM_API_KEYS) and a caller-supplied file reader (SecretRef::file;
  // trailing newlines are stripped).
  [[nodiscard]] static SecretResolver secretResolver(
      EnvMap env, std::function<std::optional<std::string>(const std::string& path)> read_file);

  // Cross-checks a config built by hand (routes name served models, keys unique, ...).
  [[nodiscard]] static common::Result<void> validate(const BalancerConfig& config);
};

}  // namespace celeriac::balancer
