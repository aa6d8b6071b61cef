#pragma once
// RedisServer: a throwaway redis-server for one integration test.
//
// For: tests of the worker's Redis clients against a real server. Runs
// `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no --dir <tmp>` in a
// fresh temp dir on a free loopback port, waits (bounded, by reading its log from a
// pipe, no sleeping) for "Ready to accept connections", and stops it on destruction.
// stop() and start() again reuse the same port, to test reconnects. Test thread only.

#include <sys/types.h>

#include <chrono>
#include <string>

namespace celeriac::testing::integration {

class RedisServer {
 public:
  // Starts at once. Throws std::runtime_error if it is not ready within 10 s.
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  void start();
  // SIGTERM, then SIGKILL after `timeout`.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  [[nodiscard]] bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

}  // namespace celeriac::testing::integration
