// ConfigLoader, second half: the environment form, key-set selection and the
// cross-field validation shared by every form. (The YAML half is config_loader.cc;
// split only to keep each file readable.) Straight-line checks: each returns its Error.
#include <charconv>
#include <set>

#include "balancer/config_loader.h"
#include "config/config_error.h"
#include "routing/strategy.h"

namespace celeriac::balancer {
namespace {

std::vector<std::string> splitComma(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t end = std::min(s.find(',', start), s.size());
    std::string_view item = s.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

const std::string* lookup(const EnvMap& env, std::string_view name) {
  auto it = env.find(name);
  return it == env.end() || it->second.empty() ? nullptr : &it->second;
}

std::optional<std::int64_t> parseNonNegative(std::string_view s) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

common::Result<BalancerConfig> ConfigLoader::fromEnv(const EnvMap& env) {
  BalancerConfig cfg;
  const std::string* urls = lookup(env, "LLM_ENDPOINTS");
  if (urls == nullptr) return configError("LLM_ENDPOINTS", "is required");
  const auto url_list = splitComma(*urls);
  std::vector<std::string> key_list;
  if (const std::string* keys = lookup(env, "LLM_API_KEYS")) key_list = splitComma(*keys);
  if (!key_list.empty() && key_list.size() != url_list.size()) {
    // Never echo the keys themselves: only their count.
    return configError("LLM_API_KEYS", "has " + std::to_string(key_list.size()) +
                                           " entries but LLM_ENDPOINTS has " +
                                           std::to_string(url_list.size()));
  }
  Provider provider = Provider::kOpenAi;
  if (const std::string* p = lookup(env, "LLM_PROVIDER")) {
    if (*p == "anthropic") {
      provider = Provider::kAnthropic;
    } else if (*p != "openai") {
      return configError("LLM_PROVIDER", "must be openai or anthropic");
    }
  }
  std::vector<std::string> models = {"*"};
  if (const std::string* m = lookup(env, "LLM_MODELS")) models = splitComma(*m);
  for (std::size_t i = 0; i < url_list.size(); ++i) {
    const std::string path = "LLM_ENDPOINTS[" + std::to_string(i) + "]";
    EndpointConfig ep;
    ep.base_url = url_list[i];
    if (!ep.base_url.starts_with("http://") && !ep.base_url.starts_with("https://")) {
      return configError(path, "must start with http:// or https://");
    }
    while (ep.base_url.ends_with('/')) ep.base_url.pop_back();
    ep.name = "endpoint-" + std::to_string(i);
    ep.provider = provider;
    ep.models = models;
    if (!key_list.empty() && !key_list[i].empty()) {
      ep.keys.push_back(ApiKeyConfig{ep.name, SecretRef{"LLM_API_KEYS", "", i}, "", std::nullopt});
    }
    cfg.endpoints.push_back(std::move(ep));
  }
  // Per-replica key sets: LLM_API_KEYS_0, LLM_API_KEYS_1, ... with no gap.
  for (std::size_t n = 0;; ++n) {
    const std::string name = "LLM_API_KEYS_" + std::to_string(n);
    const std::string* keys = lookup(env, name);
    if (keys == nullptr) break;
    const auto items = splitComma(*keys);
    if (items.size() != url_list.size()) {
      return configError(name, "has " + std::to_string(items.size()) +
                                   " entries but LLM_ENDPOINTS has " +
                                   std::to_string(url_list.size()));
    }
    KeySetConfig set;
    set.name = "env-" + std::to_string(n);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].empty()) continue;
      const std::string endpoint = cfg.endpoints[i].name;
      set.keys.push_back(
          KeySetConfig::Key{endpoint, ApiKeyConfig{endpoint + "-set" + std::to_string(n),
                                                   SecretRef{name, "", i}, "", std::nullopt}});
    }
    cfg.key_sets.push_back(std::move(set));
  }
  if (const std::string* s = lookup(env, "LLM_STRATEGY")) {
    auto k = parseStrategyKind(*s);
    if (!k) return configError("LLM_STRATEGY", "unknown strategy '" + *s + "'");
    cfg.strategy = *k;
  }
  if (const std::string* h = lookup(env, "LLM_HEALTH_CHECK")) {
    if (*h == "true" || *h == "1") {
      cfg.health_check.enabled = true;
    } else if (*h == "false" || *h == "0") {
      cfg.health_check.enabled = false;
    } else {
      return configError("LLM_HEALTH_CHECK", "must be true or false");
    }
  }
  if (const std::string* t = lookup(env, "LLM_TIMEOUT")) {
    auto secs = parseNonNegative(*t);
    if (!secs || *secs == 0)
      return configError("LLM_TIMEOUT", "must be a positive number of seconds");
    // As in the YAML form: a longer one would not fit the milliseconds count.
    if (*secs > 30 * 24 * 3600)
      return configError("LLM_TIMEOUT", "must be at most 2592000 seconds (30 days)");
    cfg.timeout = std::chrono::seconds{*secs};
  }
  if (auto valid = validate(cfg); !valid) return valid.error();
  return cfg;
}

common::Result<std::optional<std::size_t>> ConfigLoader::pinnedKeySet(const BalancerConfig& cfg,
                                                                      const EnvMap& env) {
  if (cfg.key_sets.empty()) return std::nullopt;
  if (const std::string* id = lookup(env, "INSTANCE_ID")) {
    auto v = parseNonNegative(*id);
    if (!v) return configError("INSTANCE_ID", "must be a non-negative integer");
    return std::optional<std::size_t>(static_cast<std::size_t>(*v) % cfg.key_sets.size());
  }
  if (const std::string* host = lookup(env, "HOSTNAME")) {
    // A StatefulSet pod is named <set>-<ordinal>. A Deployment's is <name>-<hash>-<5
    // generated characters>, which may happen to be all digits: five or more digits
    // are not taken for an ordinal (a StatefulSet of 10,000 replicas is not a thing).
    const auto dash = host->rfind('-');
    if (dash != std::string::npos) {
      const std::string_view tail = std::string_view(*host).substr(dash + 1);
      if (!tail.empty() && tail.size() <= 4) {
        if (auto v = parseNonNegative(tail)) {
          return std::optional<std::size_t>(static_cast<std::size_t>(*v) % cfg.key_sets.size());
        }
      }
    }
  }
  return std::nullopt;
}

common::Result<std::string> ConfigLoader::applyKeySet(BalancerConfig& cfg, const EnvMap& env) {
  const auto pinned = pinnedKeySet(cfg, env);
  if (!pinned) return pinned.error();
  return applyKeySet(cfg, pinned->value_or(0));
}

std::string ConfigLoader::applyKeySet(BalancerConfig& cfg, std::size_t index) {
  if (cfg.key_sets.empty()) return {};
  const auto& set = cfg.key_sets[index % cfg.key_sets.size()];
  for (const auto& k : set.keys) {
    for (auto& ep : cfg.endpoints) {
      if (ep.name == k.endpoint) ep.keys.push_back(k.key);
    }
  }
  return set.name;
}

SecretResolver ConfigLoader::secretResolver(
    EnvMap env, std::function<std::optional<std::string>(const std::string& path)> read_file) {
  return [env = std::move(env),
          read_file = std::move(read_file)](const SecretRef& ref) -> std::optional<std::string> {
    std::optional<std::string> value;
    if (!ref.env.empty()) {
      const std::string* v = lookup(env, ref.env);
      if (v == nullptr) return std::nullopt;
      if (!ref.list_index) return *v;
      const auto items = splitComma(*v);
      if (*ref.list_index >= items.size()) return std::nullopt;
      value = items[*ref.list_index];
    } else if (!ref.file.empty() && read_file) {
      value = read_file(ref.file);
      while (value && !value->empty() && (value->back() == '\n' || value->back() == '\r')) {
        value->pop_back();
      }
    }
    if (value && value->empty()) return std::nullopt;
    return value;
  };
}

common::Result<void> ConfigLoader::validate(const BalancerConfig& cfg) {
  if (cfg.endpoints.empty()) return configError("endpoints", "at least one endpoint is required");
  std::set<std::string, std::less<>> names, aliases;
  for (std::size_t i = 0; i < cfg.endpoints.size(); ++i) {
    const auto& ep = cfg.endpoints[i];
    const std::string path = "endpoints[" + std::to_string(i) + "]";
    if (!names.insert(ep.name).second) {
      return configError(path + ".name", "duplicate endpoint name '" + ep.name + "'");
    }
    if (!(ep.weight > 0)) return configError(path + ".weight", "must be a positive number");
    if (ep.replicas < 1) return configError(path + ".replicas", "must be at least 1");
    if (ep.replicas > 1 && !ep.shared) {
      // A share only sizes the fallback of shared buckets; alone it would silently cut
      // this replica's limits.
      return configError(path + ".replicas", "only applies with shared: true");
    }
    for (std::size_t k = 0; k < ep.keys.size(); ++k) {
      if (!aliases.insert(ep.keys[k].alias).second) {
        return configError(path + ".keys[" + std::to_string(k) + "].alias",
                           "duplicate key alias '" + ep.keys[k].alias + "'");
      }
    }
  }
  for (std::size_t s = 0; s < cfg.key_sets.size(); ++s) {
    for (std::size_t k = 0; k < cfg.key_sets[s].keys.size(); ++k) {
      const auto& key = cfg.key_sets[s].keys[k];
      if (!names.contains(key.endpoint)) {
        return configError(
            "key_sets[" + std::to_string(s) + "].keys[" + std::to_string(k) + "].endpoint",
            "no endpoint named '" + key.endpoint + "'");
      }
    }
  }
  auto served = [&](const std::string& model) {
    for (const auto& ep : cfg.endpoints) {
      if (serves(ep, model)) return true;
    }
    return false;
  };
  for (const auto& r : cfg.routes) {
    for (std::size_t m = 0; m < r.models.size(); ++m) {
      if (!served(r.models[m])) {
        return configError(
            "routes." + r.task_type + "." + r.priority + "[" + std::to_string(m) + "]",
            "model '" + r.models[m] + "' is served by no endpoint");
      }
    }
  }
  for (const auto& [model, chain] : cfg.fallbacks) {
    for (std::size_t m = 0; m < chain.size(); ++m) {
      if (!served(chain[m])) {
        return configError("fallbacks." + model + "[" + std::to_string(m) + "]",
                           "model '" + chain[m] + "' is served by no endpoint");
      }
    }
  }
  if (cfg.max_attempts < 1) return configError("max_attempts", "must be at least 1");
  return {};
}

}  // namespace celeriac::balancer
