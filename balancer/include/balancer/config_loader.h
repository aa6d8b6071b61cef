#pragma once
// ConfigLoader: builds a validated BalancerConfig from YAML text or an environment map.
//
// For: start-up only. Errors are exceptions (ConfigError) naming the path of the bad
// field, e.g. "endpoints[2].weight: must be a positive number"; they never contain a
// secret (keys are references, resolved later by the caller). Pure: the environment is
// passed in as a map (no getenv), files are read by the caller.
// See balancer/config/example.yaml for the full YAML form and
// schemas/balancer_config.schema.json for the rules fromYaml checks first.

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "balancer/config.h"

namespace celeriac::balancer {

using EnvMap = std::map<std::string, std::string, std::less<>>;

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string path, const std::string& message)
      : std::runtime_error(path + ": " + message), path_(std::move(path)) {}
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ConfigLoader {
 public:
  // Parses YAML, checks it against the schema (every violation's path and expected
  // value, the first one's path in ConfigError::path()), then validate(). Throws
  // ConfigError.
  [[nodiscard]] static BalancerConfig fromYaml(std::string_view yaml_text);

  // The seed's environment form: LLM_ENDPOINTS (comma list of base URLs), LLM_API_KEYS
  // (comma list matched by position), LLM_STRATEGY, LLM_HEALTH_CHECK (true/false),
  // LLM_TIMEOUT (seconds); and ours: LLM_MODELS (comma list served by every endpoint,
  // default "*"), LLM_PROVIDER (openai|anthropic), and per-replica key sets
  // LLM_API_KEYS_0, LLM_API_KEYS_1, ... (each a comma list matched to LLM_ENDPOINTS by
  // position, like LLM_API_KEYS; set n is named "env-<n>"). Throws ConfigError.
  [[nodiscard]] static BalancerConfig fromEnv(const EnvMap& env);

  // The key set an operator pinned for this replica: INSTANCE_ID, else a StatefulSet
  // ordinal at the end of HOSTNAME ("gpt5-analyzer-3" -> 3: a last segment of at most
  // four digits; a Deployment pod's generated suffix such as "-x2k4q" or "-24567" pins
  // nothing), modulo the number of sets. nullopt: not pinned (the worker then leases a
  // free set in Redis), or no key sets. Throws ConfigError on a bad INSTANCE_ID.
  [[nodiscard]] static std::optional<std::size_t> pinnedKeySet(const BalancerConfig& config,
                                                               const EnvMap& env);
  // Adds key set `index` to the endpoints; returns its name. No-op (empty name)
  // without key sets.
  static std::string applyKeySet(BalancerConfig& config, std::size_t index);
  // applyKeySet(config, pinnedKeySet(config, env) or 0).
  static std::string applyKeySet(BalancerConfig& config, const EnvMap& env);

  // A SecretResolver over an environment map (SecretRef::env, honouring list_index for
  // comma lists like LLM_API_KEYS) and a caller-supplied file reader (SecretRef::file;
  // trailing newlines are stripped).
  [[nodiscard]] static SecretResolver secretResolver(
      EnvMap env, std::function<std::optional<std::string>(const std::string& path)> read_file);

  // Cross-checks a config built by hand (routes name served models, keys unique, ...).
  static void validate(const BalancerConfig& config);
};

}  // namespace celeriac::balancer
