// StubProcess: fork/exec the llm-stub and parse its listening line (see stub_process.h).

#include "stub_process.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

#include "child_output.h"

namespace celeriac::testing::stub {

StubProcess::StubProcess(const std::vector<std::string>& extra_args) {
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> args{LLM_STUB_PATH, "--host", "127.0.0.1", "--port", "0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  const std::string line = readChildOutput(
      out[0], [](const std::string& text) { return text.find('\n') != std::string::npos; },
      std::chrono::seconds(10));
  close(out[0]);
  const std::string prefix = "llm-stub listening on 127.0.0.1:";
  if (line.rfind(prefix, 0) != 0) {
    stop(std::chrono::milliseconds(500));
    throw std::runtime_error("llm-stub did not report its port; got: " + line);
  }
  port_ = std::stoi(line.substr(prefix.size()));
}

StubProcess::~StubProcess() {
  // Every test also checks that the stub shut down cleanly (exit 0 after SIGTERM, no
  // handle left on its loop, no sanitizer abort).
  if (pid_ > 0) {
    const int rc = stop();
    if (rc != 0) ADD_FAILURE() << "llm-stub did not exit cleanly after SIGTERM: status " << rc;
  }
}

int StubProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // bounded by |deadline|
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace celeriac::testing::stub
