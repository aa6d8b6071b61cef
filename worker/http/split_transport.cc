#include "worker/http/split_transport.h"

#include <utility>

namespace celeriac::worker::http {

bool SplitTransport::forH2(const balancer::HttpRequest& request) {
  const std::string& url = request.url;
  return request.connection.version == balancer::HttpVersion::kHttp2 &&
         (url.starts_with("http://") || url.starts_with("https://"));
}

balancer::HttpRequestId SplitTransport::send(
    balancer::HttpRequest request, std::function<void(balancer::HttpResponse)> on_done) {
  balancer::HttpTransport& to = forH2(request) ? h2_ : curl_;
  return to.send(std::move(request), std::move(on_done));
}

void SplitTransport::cancel(balancer::HttpRequestId id) {
  (id >= kH2FirstId ? h2_ : curl_).cancel(id);
}

}  // namespace celeriac::worker::http
