#pragma once
// HostResolver: turns a Redis host name into an address without blocking the loop.
//
// What for: hiredis 0.14's redisAsyncConnect() resolves the host with a blocking
// getaddrinfo() inside the call, on every reconnect, so a slow or dead DNS server
// freezes every task, timer and socket of the worker. RedisConnection resolves first with
// uv_getaddrinfo (libuv's thread pool) and hand hiredis the numeric address, which it
// connects to without a lookup.
// What not: no caching (each reconnect resolves again, so a moved Redis is followed),
// no connecting.
// Ownership: loop thread only. `done` fires exactly once per resolve(), on the loop,
// never inside resolve(); never after the resolver is destroyed.

#include <uv.h>

#include <functional>
#include <set>
#include <string>

#include "common/lifetime_token.h"
#include "common/result.h"

namespace celeriac::worker::redis {

class HostResolver {
 public:
  // `address` is numeric (e.g. "10.0.0.5" or "::1") on success; otherwise empty, with
  // `error` saying why (safe to log: it names the host, never a credential).
  using Done = std::function<void(std::string address, std::string error)>;

  explicit HostResolver(uv_loop_t* loop) : loop_(loop) {}
  ~HostResolver();
  HostResolver(const HostResolver&) = delete;
  HostResolver& operator=(const HostResolver&) = delete;

  // Starts a lookup: then `done` fires later. An Error saying why it could not start
  // (and `done` never fires).
  [[nodiscard]] common::Result<void> resolve(const std::string& host, Done done);

  // True for an IPv4 or IPv6 literal, which needs no lookup.
  [[nodiscard]] static bool isNumeric(const std::string& host);

 private:
  struct Lookup;
  uv_loop_t* loop_;
  std::set<Lookup*> pending_;       // cancelled if we go first
  common::LifetimeToken lifetime_;  // a lookup that finishes after us finds it gone
};

}  // namespace celeriac::worker::redis
