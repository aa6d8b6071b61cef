#include "amqp_rabbit_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test_ports.h"

extern char** environ;

namespace celeriac::testing::integration {

namespace {

constexpr const char* kRabbitBin = "/usr/lib/rabbitmq/bin";
// rabbitmqctl calls a test may have running at once (each is an Erlang node).
constexpr int kCtlPorts = 8;

// The end of the node's console output: why it did not start, when it did not.
std::string outputTail(const std::string& path, std::size_t max_lines = 30) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string tail;
  for (std::size_t i = lines.size() > max_lines ? lines.size() - max_lines : 0; i < lines.size();
       ++i)
    tail += lines[i] + "\n";
  return tail;
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Runs `argv` with `env`, waits for it; stdout into `output` if given.
int run(std::vector<std::string> argv, std::vector<std::string> env, std::string* output) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  auto args = cStrings(argv);
  auto envp = cStrings(env);
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return -1;
  }
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (output != nullptr) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

RabbitServer::RabbitServer() {
  char tmpl[] = "/tmp/celeriac-rabbit-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  // The AMQP port, the node's distribution port, and a range for the Erlang nodes
  // rabbitmqctl starts (its default, 35672-35682, is shared by every node).
  port_ = reserveLoopbackPorts(2 + kCtlPorts);
  dist_port_ = port_ + 1;
  node_ = "celeriac-it-" + std::to_string(port_) + "@localhost";
  std::filesystem::create_directories(dir_ + "/home");
  std::ofstream(dir_ + "/enabled_plugins") << "[].\n";
  std::ofstream(dir_ + "/rabbitmq.conf") << "loopback_users = none\n";

  std::vector<std::string> argv{std::string(kRabbitBin) + "/rabbitmq-server"};
  auto args = cStrings(argv);
  auto env = environment();
  auto envp = cStrings(env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = dir_ + "/server.out";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: the script starts Erlang's beam and epmd children.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  const int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start rabbitmq-server");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("rabbitmq-server exited; see " + dir_ + "; its output ends:\n" +
                               outputTail(log));
    }
    // Blocks until the node has booted or the timeout passes.
    if (ctl({"await_startup", "--timeout", "10"}) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  stop();
  throw std::runtime_error("rabbitmq-server did not come up in 120 s; see " + dir_ +
                           "; its output ends:\n" + outputTail(log));
}

RabbitServer::~RabbitServer() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

RabbitServer& RabbitServer::shared() {
  static RabbitServer server;
  return server;
}

std::vector<std::string> RabbitServer::environment() const {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var = *e;
    if (var.rfind("RABBITMQ_", 0) == 0 || var.rfind("HOME=", 0) == 0 || var.rfind("ERL_", 0) == 0) {
      continue;
    }
    env.push_back(var);
  }
  env.push_back("HOME=" + dir_ + "/home");
  env.push_back("RABBITMQ_NODENAME=" + node_);
  env.push_back("RABBITMQ_NODE_IP_ADDRESS=127.0.0.1");
  env.push_back("RABBITMQ_NODE_PORT=" + std::to_string(port_));
  env.push_back("RABBITMQ_DIST_PORT=" + std::to_string(dist_port_));
  env.push_back("RABBITMQ_CTL_DIST_PORT_MIN=" + std::to_string(dist_port_ + 1));
  env.push_back("RABBITMQ_CTL_DIST_PORT_MAX=" + std::to_string(dist_port_ + kCtlPorts));
  env.push_back("RABBITMQ_MNESIA_BASE=" + dir_ + "/mnesia");
  env.push_back("RABBITMQ_LOG_BASE=" + dir_ + "/log");
  env.push_back("RABBITMQ_ENABLED_PLUGINS_FILE=" + dir_ + "/enabled_plugins");
  env.push_back("RABBITMQ_CONFIG_FILE=" + dir_ + "/rabbitmq");
  env.push_back("RABBITMQ_PID_FILE=" + dir_ + "/pid");
  env.push_back("ERL_EPMD_ADDRESS=127.0.0.1");
  env.push_back("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}");
  return env;
}

int RabbitServer::ctl(const std::vector<std::string>& args, std::string* output) const {
  std::vector<std::string> argv{std::string(kRabbitBin) + "/rabbitmqctl", "-n", node_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, environment(), output);
}

std::pair<int, int> RabbitServer::queueCounts(const std::string& queue) const {
  std::string out;
  ctl({"-q", "list_queues", "name", "messages_ready", "messages_unacknowledged",
       "--no-table-headers"},
      &out);
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name;
    int ready = 0, unacked = 0;
    if (fields >> name >> ready >> unacked && name == queue) return {ready, unacked};
  }
  return {-1, -1};
}

int RabbitServer::queueConsumers(const std::string& queue) const {
  // list_consumers, not list_queues' consumers column: for quorum queues that one lags
  // (it showed a consumer cancelled seconds before).
  std::string out;
  if (ctl({"-q", "list_consumers", "queue_name", "--no-table-headers"}, &out) != 0) return -1;
  std::istringstream lines(out);
  int n = 0;
  for (std::string line; std::getline(lines, line);) n += line == queue ? 1 : 0;
  return n;
}

std::string RabbitServer::queueInfo(const std::string& queue,
                                    const std::vector<std::string>& columns) const {
  std::vector<std::string> args{"-q", "list_queues", "name"};
  args.insert(args.end(), columns.begin(), columns.end());
  args.push_back("--no-table-headers");
  std::string out;
  ctl(args, &out);
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const auto tab = line.find('\t');
    if (tab != std::string::npos && line.substr(0, tab) == queue) return line.substr(tab + 1);
  }
  return {};
}

int RabbitServer::python(const std::string& code, std::string* output) const {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.push_back("AMQP_PORT=" + std::to_string(port_));
  return run({"/usr/bin/python3", "-c", code}, env, output);
}

int RabbitServer::closeAllConnections(const std::string& reason) const {
  std::string out;
  ctl({"-q", "list_connections", "pid", "--no-table-headers"}, &out);
  std::istringstream lines(out);
  int closed = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto start = line.find('<');
    if (start == std::string::npos) continue;
    if (ctl({"close_connection", line.substr(start, line.find('>') - start + 1), reason}) == 0) {
      ++closed;
    }
  }
  return closed;
}

bool RabbitServer::setMemoryAlarm(bool on) const {
  if (ctl({"set_vm_memory_high_watermark", on ? "0.0001" : "0.4"}) != 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out;
    ctl({"-q", "eval", "rabbit_alarm:get_alarms()."}, &out);
    if ((out.find("memory") != std::string::npos) == on) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void RabbitServer::pause() const {
  if (pid_ > 0) kill(-pid_, SIGSTOP);
}

void RabbitServer::resume() const {
  if (pid_ > 0) kill(-pid_, SIGCONT);
}

void RabbitServer::stop() {
  if (pid_ <= 0) return;
  ctl({"stop"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  pid_ = -1;
}

}  // namespace celeriac::testing::integration
