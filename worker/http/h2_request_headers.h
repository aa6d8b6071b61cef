#pragma once
// H2RequestHeaders: a call's request as the header block nghttp2_submit_request takes:
// the pseudo-headers first (:method, :scheme, :path, :authority), then the request's
// headers with lower-case names (HTTP/2 requires them, RFC 9113 section 8.2), without
// the HTTP/1.1 connection headers HTTP/2 forbids, plus user-agent and content-length.
// Credential headers (authorization, x-api-key, ...) are marked never to be indexed by
// HPACK.
//
// For: H2Connection::submit, which hands nva() to nghttp2; nghttp2 copies every name
// and value before submit returns, so the block lives only for that call. Not for:
// anything after the headers (the body is read from the call by nghttp2's data source).
//
// Ownership: owns the scheme, authority, user agent and lower-cased names that nva()
// points into; borrows the call's strings (the call outlives the block).

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "worker/http/h2_call.h"

namespace celeriac::worker::http {

class H2RequestHeaders {
 public:
  // `scheme`: "http" or "https". The authority and user agent are copied, so they may
  // be temporaries.
  H2RequestHeaders(const H2Call& call, std::string_view scheme, std::string authority,
                   std::string user_agent);
  H2RequestHeaders(const H2RequestHeaders&) = delete;
  H2RequestHeaders& operator=(const H2RequestHeaders&) = delete;

  [[nodiscard]] const std::vector<nghttp2_nv>& nva() const { return nva_; }

 private:
  void add(std::string_view name, std::string_view value,
           std::uint8_t flags = NGHTTP2_NV_FLAG_NONE);

  std::vector<std::string> names_;  // lower-cased; reserved up front, so never moved
  std::string scheme_;
  std::string authority_;
  std::string user_agent_;
  std::string content_length_;
  std::vector<nghttp2_nv> nva_;
};

}  // namespace celeriac::worker::http
