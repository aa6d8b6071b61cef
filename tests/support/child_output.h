#pragma once
// readChildOutput: what the tests' helper processes (llm-stub, redis-server) print on
// their stdout pipe, read until they say they are ready, for at most `timeout`.
//
// Why here: every launcher waits for its child's ready line the same way (poll with
// the time left, read, append) and only the "ready" test differs. Blocking on purpose:
// it runs in a test's set-up, before any loop exists.

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

namespace celeriac::testing {

// Reads `fd` until `ready(text so far)` holds, EOF, an error, or `timeout`; returns the
// text read (the caller checks it, as the child may have died or printed something else).
inline std::string readChildOutput(int fd, const std::function<bool(const std::string&)>& ready,
                                   std::chrono::milliseconds timeout) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready(text)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[1024];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace celeriac::testing
