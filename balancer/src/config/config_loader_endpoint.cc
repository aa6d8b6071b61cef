// ConfigLoader: the `endpoints:` items and their API keys (see config_yaml.h).

#include "config/config_yaml.h"

namespace celeriac::balancer::config_yaml {
namespace {

SecretRef secretFrom(const At& at, std::string_view env_key, std::string_view file_key) {
  SecretRef ref;
  field(at, env_key, [&](const At& a) { ref.env = a.nonEmptyStr(); });
  field(at, file_key, [&](const At& a) { ref.file = a.nonEmptyStr(); });
  if (!ref.env.empty() && !ref.file.empty()) {
    throw ConfigError(at.child(env_key), std::string("give either ") + std::string(env_key) +
                                             " or " + std::string(file_key) + ", not both");
  }
  return ref;
}

Provider providerFrom(const At& at) {
  const std::string p = at.str();
  if (p == "openai") return Provider::kOpenAi;
  if (p == "anthropic") return Provider::kAnthropic;
  at.fail("must be openai or anthropic");
}

}  // namespace

ApiKeyConfig keyFrom(const At& at, std::initializer_list<std::string_view> allowed) {
  at.allowOnly(allowed);
  ApiKeyConfig key;
  field(at, "alias", [&](const At& a) { key.alias = a.nonEmptyStr(); });
  if (key.alias.empty()) throw ConfigError(at.child("alias"), "is required");
  key.secret = secretFrom(at, "env", "file");
  if (key.secret.env.empty() && key.secret.file.empty()) {
    throw ConfigError(at.child("env"), "is required (or file)");
  }
  field(at, "quota_group", [&](const At& a) { key.quota_group = a.nonEmptyStr(); });
  field(at, "shared", [&](const At& a) { key.shared = a.boolean(); });
  return key;
}

EndpointConfig endpointFrom(const At& at) {
  at.allowOnly({"name", "url", "base_url", "provider", "api_key_env", "api_key_file", "keys",
                "models", "weight", "max_tokens", "temperature", "limits", "timeouts",
                "quota_group", "shared", "replicas", "http2", "max_connections",
                "max_streams_per_connection"});
  EndpointConfig ep;
  field(at, "name", [&](const At& a) { ep.name = a.nonEmptyStr(); });
  field(at, "url", [&](const At& a) { ep.base_url = a.nonEmptyStr(); });
  field(at, "base_url", [&](const At& a) { ep.base_url = a.nonEmptyStr(); });
  if (ep.base_url.empty()) throw ConfigError(at.child("url"), "is required");
  if (!ep.base_url.starts_with("http://") && !ep.base_url.starts_with("https://")) {
    throw ConfigError(at.child("url"), "must start with http:// or https://");
  }
  while (ep.base_url.ends_with('/')) ep.base_url.pop_back();
  if (ep.name.empty()) ep.name = ep.base_url;
  field(at, "provider", [&](const At& a) { ep.provider = providerFrom(a); });
  field(at, "models", [&](const At& a) { ep.models = a.stringList(); });
  if (ep.models.empty()) ep.models = {"*"};
  field(at, "weight", [&](const At& a) { ep.weight = a.positive(); });
  field(at, "max_tokens", [&](const At& a) { ep.max_tokens = a.integer(1); });
  field(at, "temperature", [&](const At& a) {
    const double t = a.number();
    if (t < 0 || t > 2) a.fail("must be between 0 and 2");
    ep.temperature = t;
  });
  field(at, "quota_group", [&](const At& a) { ep.quota_group = a.nonEmptyStr(); });
  field(at, "shared", [&](const At& a) { ep.shared = a.boolean(); });
  field(at, "replicas", [&](const At& a) { ep.replicas = a.integer(1); });
  field(at, "http2", [&](const At& a) { ep.http2 = a.boolean(); });
  field(at, "max_connections", [&](const At& a) { ep.max_connections = a.integer(1, kMaxCount); });
  field(at, "max_streams_per_connection", [&](const At& a) {
    // An HTTP/2 SETTINGS value is 31 bits; kMaxCount is far below it.
    ep.max_streams_per_connection = a.integer(1, kMaxCount);
    if (ep.http2 == false) a.fail("needs HTTP/2 (this endpoint says http2: false)");
  });
  field(at, "timeouts", [&](const At& a) {
    a.allowOnly({"connect", "total"});
    field(a, "connect", [&](const At& t) { ep.connect_timeout = t.seconds(); });
    field(a, "total", [&](const At& t) { ep.total_timeout = t.seconds(); });
  });
  field(at, "limits", [&](const At& a) {
    a.requireMap();
    for (const auto& kv : a.node) {
      const auto model = a.keyOf(kv.first);
      const At lim{kv.second, a.child(model)};
      lim.allowOnly({"rpm", "tpm"});
      RateLimits limits;
      field(lim, "rpm", [&](const At& r) { limits.rpm = r.integer(1); });
      field(lim, "tpm", [&](const At& r) { limits.tpm = r.integer(1); });
      ep.limits[model] = limits;
    }
  });
  const SecretRef single = secretFrom(at, "api_key_env", "api_key_file");
  if (!single.env.empty() || !single.file.empty()) {
    ep.keys.push_back(ApiKeyConfig{ep.name, single, "", std::nullopt});
  }
  field(at, "keys", [&](const At& a) {
    if (!a.node.IsSequence()) a.fail("must be a list");
    for (std::size_t i = 0; i < a.node.size(); ++i) {
      const YAML::Node item = a.node[i];
      ep.keys.push_back(
          keyFrom(At{item, a.index(i)}, {"alias", "env", "file", "quota_group", "shared"}));
    }
  });
  return ep;
}

}  // namespace celeriac::balancer::config_yaml
