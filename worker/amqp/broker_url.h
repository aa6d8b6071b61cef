#pragma once
// BrokerUrl: an `amqp://user:password@host:port/vhost` URL as Celery/kombu read it.
//
// kombu rules: the path after the first '/' is the vhost, percent-decoded; an empty
// path means "/", so `amqp://h//` and `amqp://h/` and `amqp://h` all name vhost "/".
// Default port 5672, default user and password "guest". Several URLs may be given
// separated by ';' (failover between cluster nodes): parseBrokerUrls splits them.
// Pure: no I/O. The password never appears in redacted() nor in a parse error.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace celeriac::worker::amqp {

struct BrokerUrl {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";

  // The URL with the password replaced by "***", safe for logs and errors.
  [[nodiscard]] std::string redacted() const;
};

// Parses one URL; the Error never quotes the password.
common::Result<BrokerUrl> parseBrokerUrl(std::string_view url);

// Parses a ';'-separated list of URLs (at least one); the first bad one's Error.
common::Result<std::vector<BrokerUrl>> parseBrokerUrls(std::string_view urls);

// Percent-decodes a URL component; returns nullopt on a bad escape.
std::optional<std::string> percentDecode(std::string_view text);

}  // namespace celeriac::worker::amqp
