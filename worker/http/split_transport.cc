#include "worker/http/split_transport.h"

#include <utility>

namespace celeriac::worker::http {

bool SplitTransport::forH2c(const balancer::HttpRequest& request) {
  return request.connection.version == balancer::HttpVersion::kHttp2 &&
         request.url.size() > 7 && request.url.compare(0, 7, "http://") == 0;
}

balancer::HttpRequestId SplitTransport::send(
    balancer::HttpRequest request, std::function<void(balancer::HttpResponse)> on_done) {
  balancer::HttpTransport& to = forH2c(request) ? h2c_ : curl_;
  return to.send(std::move(request), std::move(on_done));
}

void SplitTransport::cancel(balancer::HttpRequestId id) {
  (id >= kH2FirstId ? h2c_ : curl_).cancel(id);
}

}  // namespace celeriac::worker::http
