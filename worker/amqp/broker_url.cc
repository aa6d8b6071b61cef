#include "worker/amqp/broker_url.h"

#include <charconv>

namespace celeriac::worker::amqp {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;  // '%' needs two hex digits after it
    const int hi = hexValue(text[i + 1]);
    const int lo = hexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string BrokerUrl::redacted() const {
  return "amqp://" + user + ":***@" + host + ":" + std::to_string(port) + "/" + vhost;
}

common::Result<BrokerUrl> parseBrokerUrl(std::string_view url) {
  constexpr std::string_view kScheme = "amqp://";
  constexpr std::string_view kSchemePyamqp = "pyamqp://";
  if (url.starts_with(kScheme)) {
    url.remove_prefix(kScheme.size());
  } else if (url.starts_with(kSchemePyamqp)) {
    url.remove_prefix(kSchemePyamqp.size());
  } else {
    return common::Error{
        "broker URL must start with amqp:// (amqps and other transports are not supported)"};
  }
  BrokerUrl out;
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : url.substr(slash + 1);

  // userinfo is everything before the LAST '@' (a password may contain '@' only
  // when percent-encoded, but be lenient).
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const auto colon = userinfo.find(':');
    auto user = percentDecode(userinfo.substr(0, colon));
    if (!user) {
      return common::Error{"broker URL: bad percent-escape in user name"};
    }
    out.user = *user;
    if (colon != std::string_view::npos) {
      auto password = percentDecode(userinfo.substr(colon + 1));
      if (!password) {
        return common::Error{"broker URL: bad percent-escape in password"};
      }
      out.password = *password;
    }
  }
  std::string_view host = authority;
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    std::string_view port_text = authority.substr(colon + 1);
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port <= 0 ||
        port > 65535) {
      return common::Error{"broker URL: port must be a number from 1 to 65535"};
    }
    out.port = port;
  }
  if (!host.empty()) out.host = std::string(host);
  auto vhost = percentDecode(path);
  if (!vhost) {
    return common::Error{"broker URL: bad percent-escape in virtual host"};
  }
  out.vhost = vhost->empty() ? "/" : *vhost;
  return out;
}

common::Result<std::vector<BrokerUrl>> parseBrokerUrls(std::string_view urls) {
  std::vector<BrokerUrl> out;
  while (!urls.empty()) {
    const auto semi = urls.find(';');
    std::string_view one = urls.substr(0, semi);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (!one.empty()) {
      auto parsed = parseBrokerUrl(one);
      if (!parsed) return parsed.error();
      out.push_back(std::move(parsed).value());
    }
    if (semi == std::string_view::npos) break;
    urls.remove_prefix(semi + 1);
  }
  if (out.empty()) {
    return common::Error{"no broker URL given"};
  }
  return out;
}

}  // namespace celeriac::worker::amqp
