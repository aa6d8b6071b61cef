#include "stub_server.h"

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include "child_output.h"

extern char** environ;

namespace celeriac::testing::integration {

namespace {

// Waits for `pid` to exit for up to `timeout` without sleeping (pidfd becomes readable
// on exit). Returns true and fills `status` when it exited.
bool waitExit(pid_t pid, std::chrono::milliseconds timeout, int& status) {
  // glibc 2.36's <sys/pidfd.h> lacks C linkage for C++, so use the raw syscall.
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) {
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(timeout.count()));
    close(fd);
  }
  return waitpid(pid, &status, WNOHANG) == pid;
}

std::size_t collect(char* data, std::size_t size, std::size_t count, void* userp) noexcept {
  static_cast<std::string*>(userp)->append(data, size * count);
  return size * count;
}

}  // namespace

StubServer::StubServer(const std::vector<std::string>& extra_args) {
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> args{LLM_STUB_PATH, "--host", "127.0.0.1", "--port", "0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, out[1]);
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    pid_ = -1;
    throw std::runtime_error("cannot start " + args[0]);
  }
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

StubServer::~StubServer() { stop(); }

std::string StubServer::baseUrl() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1";
}

int StubServer::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  int result = -1;
  if (waitExit(pid_, timeout, status)) {
    result = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  return result;
}

nlohmann::json StubServer::admin(const std::string& method, const std::string& path,
                                 const std::string& body) {
  std::unique_ptr<CURL, void (*)(CURL*)> easy(curl_easy_init(), &curl_easy_cleanup);
  if (!easy) throw std::runtime_error("curl_easy_init failed");
  const std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
  std::string response;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(easy.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &response);
  if (!body.empty()) {
    curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  const CURLcode code = curl_easy_perform(easy.get());
  curl_slist_free_all(headers);
  long status = 0;
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
  if (code != CURLE_OK || status != 200) {
    throw std::runtime_error("llm-stub admin " + method + " " + path +
                             " failed: " + curl_easy_strerror(code) + " status " +
                             std::to_string(status) + " " + response);
  }
  return nlohmann::json::parse(response, nullptr, false);
}

std::vector<int> StubServer::armFault(const nlohmann::json& spec) {
  const nlohmann::json r = admin("POST", "/admin/faults", spec.dump());
  return r.at("ids").get<std::vector<int>>();
}

void StubServer::clearFaults() { admin("DELETE", "/admin/faults"); }
void StubServer::resetCounters() { admin("POST", "/admin/reset", "{}"); }
nlohmann::json StubServer::stats() { return admin("GET", "/admin/stats"); }

}  // namespace celeriac::testing::integration
