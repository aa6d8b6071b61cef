#pragma once
// SplitTransport: the worker's one HttpTransport, sending each request to the client
// that serves it best: requests whose endpoint says `http2: true` to the lean HTTP/2
// client (H2Transport: TLS with ALPN on https://, prior knowledge on http://),
// everything else (HTTP/1.1, kAuto, which may fall back to HTTP/1.1) to CurlTransport.
//
// For: keeping that choice out of the balancer, which sees one transport. Not for:
// anything a transport does itself.
//
// Ids: the H2 client numbers its requests from 2^62 on, CurlTransport from 1, so
// cancel() knows from the id alone which one has the request (no table per call).
//
// Loop and threading: loop thread only, like both transports. Ownership: borrows both;
// they must outlive it.

#include <functional>

#include "balancer/http_transport.h"

namespace celeriac::worker::http {

class SplitTransport final : public balancer::HttpTransport {
 public:
  // The first id H2Transport must use (H2TransportOptions::first_id).
  static constexpr balancer::HttpRequestId kH2FirstId = balancer::HttpRequestId{1} << 62;

  SplitTransport(balancer::HttpTransport& curl, balancer::HttpTransport& h2)
      : curl_(curl), h2_(h2) {}

  // True for the requests the H2 client takes: HTTP/2 required, on an http:// or
  // https:// URL.
  [[nodiscard]] static bool forH2(const balancer::HttpRequest& request);

  balancer::HttpRequestId send(balancer::HttpRequest request,
                               std::function<void(balancer::HttpResponse)> on_done) override;
  void cancel(balancer::HttpRequestId id) override;

 private:
  balancer::HttpTransport& curl_;
  balancer::HttpTransport& h2_;
};

}  // namespace celeriac::worker::http
