#include "tls_h2_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_ports.h"

extern char** environ;

namespace celeriac::testing::integration {

namespace {

bool accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

}  // namespace

TlsH2Server::TlsH2Server(Kind kind) {
  std::string pattern = (std::filesystem::temp_directory_path() / "celeriac-tls-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  std::filesystem::create_directory(dir_ + "/htdocs");
  const std::string make_cert =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
      " -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " +
      dir_ + "/key.pem -out " + dir_ + "/cert.pem >" + dir_ + "/openssl.log 2>&1";
  if (std::system(make_cert.c_str()) != 0) {
    stop();
    throw std::runtime_error("openssl could not make a test certificate");
  }
  port_ = reserveLoopbackPorts(1);
  const std::string port = std::to_string(port_);
  const std::string htdocs = dir_ + "/htdocs";
  const std::string key = dir_ + "/key.pem";
  const std::string cert = dir_ + "/cert.pem";
  const std::string log = dir_ + "/nghttpd.log";
  const std::vector<std::string> args =
      kind == Kind::kHttp2
          ? std::vector<std::string>{"/usr/sbin/nghttpd", "-a", "127.0.0.1", "-d", htdocs,
                                     "--echo-upload",     port, key,         cert}
          : std::vector<std::string>{"/usr/bin/openssl",
                                     "s_server",
                                     "-accept",
                                     "127.0.0.1:" + port,
                                     "-cert",
                                     cert,
                                     "-key",
                                     key,
                                     "-www",
                                     "-quiet"};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    stop();
    throw std::runtime_error("cannot start " + args[0]);
  }
  // Neither server says when it listens: wait for a connect to succeed (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!accepts(port_)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      stop();
      throw std::runtime_error(args[0] + " exited at start");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error(args[0] + " did not listen within 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TlsH2Server::~TlsH2Server() { stop(); }

void TlsH2Server::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);  // nothing of its state is worth a graceful stop
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace celeriac::testing::integration
