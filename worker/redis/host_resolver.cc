#include "worker/redis/host_resolver.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <memory>

namespace celeriac::worker::redis {

struct HostResolver::Lookup {
  uv_getaddrinfo_t request{};
  HostResolver* owner = nullptr;
  common::LifetimeWatch owner_life;  // the owner may be destroyed first
  std::string host;
  Done done;
};

HostResolver::~HostResolver() {
  // A lookup on the thread pool cannot be stopped once running; its callback still
  // comes (with UV_EAI_CANCELED when it had not started) and finds its owner gone.
  for (Lookup* lookup : pending_) uv_cancel(reinterpret_cast<uv_req_t*>(&lookup->request));
}

bool HostResolver::isNumeric(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

common::Result<void> HostResolver::resolve(const std::string& host, Done done) {
  auto lookup = std::make_unique<Lookup>();
  lookup->owner = this;
  lookup->owner_life = lifetime_.watch();
  lookup->host = host;
  lookup->done = std::move(done);
  lookup->request.data = lookup.get();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = uv_getaddrinfo(
      loop_, &lookup->request,
      [](uv_getaddrinfo_t* request, int status, addrinfo* result) noexcept {
        std::unique_ptr<Lookup> finished(static_cast<Lookup*>(request->data));
        std::string address;
        std::string error;
        if (status != 0) {
          error = "cannot resolve " + finished->host + ": " + uv_strerror(status);
        } else if (result != nullptr) {
          char text[INET6_ADDRSTRLEN] = {};
          if (result->ai_family == AF_INET6) {
            uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(result->ai_addr), text, sizeof text);
          } else {
            uv_ip4_name(reinterpret_cast<const sockaddr_in*>(result->ai_addr), text, sizeof text);
          }
          address = text;
        }
        if (result != nullptr) uv_freeaddrinfo(result);
        if (address.empty() && error.empty()) error = "no address for " + finished->host;
        if (!finished->owner_life.alive()) return;
        finished->owner->pending_.erase(finished.get());
        finished->done(std::move(address), std::move(error));
      },
      host.c_str(), nullptr, &hints);
  if (rc != 0) return common::Error{"cannot resolve " + host + ": " + uv_strerror(rc)};
  pending_.insert(lookup.release());
  return {};
}

}  // namespace celeriac::worker::redis
