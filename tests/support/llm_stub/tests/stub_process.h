#pragma once
// StubProcess: runs the real llm-stub binary for a test and stops it again.
//
// For: end-to-end tests that talk to the stub over 127.0.0.1. Starts the binary with
// --port 0, reads the one "llm-stub listening on 127.0.0.1:<port>" line from its stdout
// (bounded wait), and on destruction stops it (SIGTERM, then SIGKILL after a deadline).
// Not for: anything on a loop; plain POSIX process handling on the test thread.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace celeriac::testing::stub {

class StubProcess {
 public:
  // Throws std::runtime_error when the stub does not report its port within 10 s.
  explicit StubProcess(const std::vector<std::string>& extra_args = {});
  StubProcess(const StubProcess&) = delete;
  StubProcess& operator=(const StubProcess&) = delete;
  ~StubProcess();

  [[nodiscard]] int port() const { return port_; }
  // SIGTERM and wait up to |timeout|: the exit status (0 = clean), or -1 when it had to
  // be killed or did not exit normally.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace celeriac::testing::stub
