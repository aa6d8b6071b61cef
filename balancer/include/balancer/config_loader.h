#pragma once
// ConfigLoader: builds a validated BalancerConfig from YAML text or an environment map.
//
// For: start-up only. Errors are exceptions (ConfigError) naming the path of the bad
// field, e.g. "endpoints[2].weight: must be a positive number"; they never contain a
// secret (keys are references, resolved later by the caller). Pure: the environment is
// passed in as a map (no getenv), files are read by the caller.
// See balancer/config/example.yaml for the full YAML form.

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
  // Parses and validates YAML. Throws ConfigError.
  [[nodiscard]] static BalancerConfig fromYaml(std::string_view yaml_text);

  // The seed's environment form: LLM_ENDPOINTS (comma list of base URLs), LLM_API_KEYS
  // (comma list matched by position), LLM_STRATEGY, LLM_HEALTH_CHECK (true/false),
  // LLM_TIMEOUT (seconds); and ours: LLM_MODELS (comma list served by every endpoint,
  // default "*"), LLM_PROVIDER (openai|anthropic). Throws ConfigError.
  [[nodiscard]] static BalancerConfig fromEnv(const EnvMap& env);

  // Adds this replica's key set to the endpoints: INSTANCE_ID, else the ordinal at the
  // end of HOSTNAME ("gpt5-analyzer-3" -> 3, as a StatefulSet names pods), modulo the
  // number of sets. No-op without key sets. Throws ConfigError on a bad INSTANCE_ID.
  // Returns the name of the chosen set (empty if none).
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
