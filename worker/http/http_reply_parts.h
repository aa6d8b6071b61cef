#pragma once
// Small pieces both HTTP clients (CurlTransport, H2Transport) use to build an
// HttpResponse: a transport failure, and the case-insensitive header-name test.
//
// For: keeping the two clients' replies alike. Not for: parsing or classifying replies
// (the balancer does that). Plain functions, no state.

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "balancer/http_transport.h"

namespace celeriac::worker::http {

// A response that says only that the transport failed, and why.
inline balancer::HttpResponse transportFailure(balancer::TransportError error,
                                               std::string detail) {
  balancer::HttpResponse r;
  r.error = error;
  r.error_detail = std::move(detail);
  return r;
}

// True if header name `s` equals `lower` (already lower-case), ignoring ASCII case.
inline bool headerNameIs(std::string_view s, std::string_view lower) {
  return s.size() == lower.size() &&
         std::equal(s.begin(), s.end(), lower.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
         });
}

}  // namespace celeriac::worker::http
