#pragma once
// RedisUrl: `redis://[[user]:password@]host[:port][/db]` as Celery's result_backend
// setting spells it. Pure. The password never appears in redacted() nor in a parse
// error.

#include <string>
#include <string_view>

#include "common/result.h"

namespace celeriac::worker::redis {

struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string username;
  std::string password;

  [[nodiscard]] std::string redacted() const;
};

common::Result<RedisUrl> parseRedisUrl(std::string_view url);

}  // namespace celeriac::worker::redis
