#pragma once
// withEndpointConnection: what every request to an endpoint carries from its config
// besides the payload: its timeouts and how to connect (HTTP version, connection and
// stream limits), so chat calls and health probes to one endpoint share one connection
// pool in the transport. Internal to the codecs. Pure: sets fields of a value.

#include "balancer/config.h"
#include "balancer/http_transport.h"

namespace celeriac::balancer {

inline void withEndpointConnection(HttpRequest& http, const EndpointConfig& endpoint) {
  http.connect_timeout = endpoint.connect_timeout;
  http.total_timeout = endpoint.total_timeout;
  HttpConnectionPolicy& c = http.connection;
  c.version = !endpoint.http2   ? HttpVersion::kAuto
              : *endpoint.http2 ? HttpVersion::kHttp2
                                : HttpVersion::kHttp1;
  c.max_connections = endpoint.max_connections;
  c.max_streams_per_connection = endpoint.max_streams_per_connection;
}

}  // namespace celeriac::balancer
