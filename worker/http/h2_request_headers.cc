#include "worker/http/h2_request_headers.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

namespace celeriac::worker::http {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// Connection-specific headers an HTTP/2 request must not carry (RFC 9113 section
// 8.2.2), "host" (the :authority says it) and "expect" (no 100-continue dance here), and
// the two this block sets itself.
bool dropped(std::string_view lower_name) {
  static constexpr std::array<std::string_view, 9> kDropped{
      "connection", "keep-alive",     "proxy-connection", "transfer-encoding", "upgrade",
      "host",       "expect",         "content-length",   "te"};
  return std::find(kDropped.begin(), kDropped.end(), lower_name) != kDropped.end();
}

// Headers that carry a credential: never put in HPACK's dynamic table (RFC 7541
// section 7.1.3), so no later request's compression can be used to guess them.
bool secret(std::string_view lower_name) {
  static constexpr std::array<std::string_view, 5> kSecret{
      "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"};
  return std::find(kSecret.begin(), kSecret.end(), lower_name) != kSecret.end();
}

}  // namespace

H2RequestHeaders::H2RequestHeaders(const H2Call& call, std::string_view scheme,
                                   std::string authority, std::string user_agent)
    : scheme_(scheme), authority_(std::move(authority)), user_agent_(std::move(user_agent)) {
  names_.reserve(call.headers.size());
  nva_.reserve(call.headers.size() + 6);
  add(":method", call.method);
  add(":scheme", scheme_);
  add(":path", call.path.empty() ? std::string_view("/") : std::string_view(call.path));
  add(":authority", authority_);
  bool has_user_agent = false;
  for (const auto& h : call.headers) {
    std::string name = lower(h.name);
    if (dropped(name)) continue;
    has_user_agent = has_user_agent || name == "user-agent";
    const bool never_indexed = secret(name);
    names_.push_back(std::move(name));
    add(names_.back(), h.value, never_indexed ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE);
  }
  if (!has_user_agent) add("user-agent", user_agent_);
  if (!call.body.empty() || call.method == "POST") {
    content_length_ = std::to_string(call.body.size());
    add("content-length", content_length_);
  }
}

void H2RequestHeaders::add(std::string_view name, std::string_view value, std::uint8_t flags) {
  nva_.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                            name.size(), value.size(), flags});
}

}  // namespace celeriac::worker::http
