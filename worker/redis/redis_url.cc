#include "worker/redis/redis_url.h"

#include <charconv>

#include "worker/amqp/broker_url.h"

namespace celeriac::worker::redis {

namespace {
bool parseInt(std::string_view text, int& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}
}  // namespace

std::string RedisUrl::redacted() const {
  std::string auth;
  if (!username.empty() || !password.empty()) auth = username + ":***@";
  return "redis://" + auth + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

common::Result<RedisUrl> parseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) {
    return common::Error{
        "result backend URL must start with redis:// (rediss, unix sockets and other "
        "backends are not supported)"};
  }
  url.remove_prefix(kScheme.size());
  RedisUrl out;
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : url.substr(slash + 1);
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);

  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const auto colon = userinfo.find(':');
    auto user = amqp::percentDecode(userinfo.substr(0, colon));
    auto password = colon == std::string_view::npos
                        ? std::optional<std::string>(std::string{})
                        : amqp::percentDecode(userinfo.substr(colon + 1));
    if (!user || !password) {
      return common::Error{"result backend URL: bad percent-escape in credentials"};
    }
    out.username = *user;
    out.password = *password;
  }
  std::string_view host = authority;
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    if (!parseInt(authority.substr(colon + 1), out.port) || out.port <= 0 || out.port > 65535) {
      return common::Error{"result backend URL: port must be a number from 1 to 65535"};
    }
  }
  if (!host.empty()) out.host = std::string(host);
  if (!path.empty() && (!parseInt(path, out.db) || out.db < 0)) {
    return common::Error{"result backend URL: database must be a non-negative number"};
  }
  return out;
}

}  // namespace celeriac::worker::redis
