#pragma once
// StubServer: one real `llm-stub` process for an integration test, plus its admin API.
//
// For: tests that drive CurlTransport or a Balancer against a real HTTP server on
// 127.0.0.1. Starts the binary (LLM_STUB_PATH) with --port 0, reads its one
// "llm-stub listening on 127.0.0.1:<port>" line within a deadline, and stops it on
// destruction (SIGTERM, then SIGKILL after a deadline; waits with a pidfd, no sleeping).
// The admin calls are blocking libcurl easy calls made from the test thread while the
// test's loop is not running (the stub is another process, so nothing deadlocks).
// Not for: anything on the loop under test.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::testing::integration {

class StubServer {
 public:
  // Throws std::runtime_error if the stub does not report its port within 10 s.
  explicit StubServer(const std::vector<std::string>& extra_args = {});
  ~StubServer();
  StubServer(const StubServer&) = delete;
  StubServer& operator=(const StubServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string baseUrl() const;  // http://127.0.0.1:<port>/v1

  // Arms one fault spec (or an array); returns the ids. Throws on a non-200 answer.
  std::vector<int> armFault(const nlohmann::json& spec);
  void clearFaults();
  void resetCounters();
  [[nodiscard]] nlohmann::json stats();

  // SIGTERM and wait up to `timeout`; returns the exit status, or -1 if killed.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  nlohmann::json admin(const std::string& method, const std::string& path,
                       const std::string& body = "");

  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace celeriac::testing::integration
