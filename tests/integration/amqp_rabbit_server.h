#pragma once
// RabbitServer: a throwaway RabbitMQ node for the AMQP integration tests.
//
// For: AmqpConnection against a real broker. Like tests/support/testenv.py's
// RabbitServer: its own node name, ports, mnesia dir, log dir and Erlang cookie (HOME)
// in a fresh temp dir, loopback only, no plugins; never the system service. Starting
// takes ~5-15 s (Erlang), so a test program shares one node (shared()) and its tests
// keep apart by queue names. ctl() runs rabbitmqctl against it (blocking: call it
// between loop runs, never from a loop callback). Test thread only.

#include <sys/types.h>

#include <string>
#include <vector>

namespace celeriac::testing::integration {

class RabbitServer {
 public:
  // Starts the node; throws std::runtime_error if it is not up within 120 s.
  RabbitServer();
  ~RabbitServer();
  RabbitServer(const RabbitServer&) = delete;
  RabbitServer& operator=(const RabbitServer&) = delete;

  // One node for the whole test program, started on first use, stopped at exit.
  static RabbitServer& shared();

  [[nodiscard]] int port() const { return port_; }
  // rabbitmqctl -n <node> args...: its exit status; stdout into `output` if given.
  int ctl(const std::vector<std::string>& args, std::string* output = nullptr) const;
  // (ready, unacked) of `queue`, or (-1, -1) if it is not listed.
  [[nodiscard]] std::pair<int, int> queueCounts(const std::string& queue) const;
  // Consumers of `queue` now (0 if it does not exist); -1 if rabbitmqctl failed.
  [[nodiscard]] int queueConsumers(const std::string& queue) const;
  // One line of `rabbitmqctl list_queues name <columns...>` for `queue` (the columns
  // tab-separated after the name), empty if it is not listed.
  [[nodiscard]] std::string queueInfo(const std::string& queue,
                                      const std::vector<std::string>& columns) const;
  // Runs /usr/bin/python3 -c `code` (Debian's, with kombu and py-amqp) with
  // AMQP_PORT=port() in its environment: its exit status; stdout into `output`.
  int python(const std::string& code, std::string* output = nullptr) const;
  // Closes every client connection from the broker's side (rabbitmqctl close_connection).
  int closeAllConnections(const std::string& reason) const;
  // Sets vm_memory_high_watermark; 0.0001 raises a memory alarm (RabbitMQ then blocks
  // every connection that publishes), 0.4 is the default. Waits until the alarm is
  // in the state asked for (at most 30 s); returns whether it is.
  bool setMemoryAlarm(bool on) const;
  // SIGSTOP / SIGCONT the node's processes (a hung broker: no heartbeats, no reads).
  void pause() const;
  void resume() const;

 private:
  void stop();
  [[nodiscard]] std::vector<std::string> environment() const;

  pid_t pid_ = -1;
  int port_ = 0;
  int dist_port_ = 0;
  std::string node_;
  std::string dir_;
};

}  // namespace celeriac::testing::integration
