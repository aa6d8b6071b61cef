#include "test_ports.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace celeriac::testing::integration {

namespace {

constexpr const char* kLockDir = "/tmp/celeriac-test-ports";

// [low, high): below the kernel's ephemeral range (or above it if there is no room).
std::pair<int, int> candidateRange() {
  int low = 32768, high = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
  if (low - 10000 >= 2000) return {10000, low};
  if (65535 - high >= 2000) return {high + 1, 65536};
  throw std::runtime_error("no port range outside the ephemeral one");
}

bool bindable(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// The lock file's fd if this process now holds `port`, else -1.
int claim(int port) {
  const std::string path = std::string(kLockDir) + "/" + std::to_string(port);
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0) return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0 || !bindable(port)) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int reserveLoopbackPorts(int count) {
  static std::mutex mutex;  // tests may start servers from more than one thread
  const std::lock_guard lock(mutex);
  const auto [low, high] = candidateRange();
  mkdir(kLockDir, 01777);
  chmod(kLockDir, 01777);  // shared by every user's tests; fails harmlessly if not ours
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(low, high - count - 1);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int base = pick(rng);
    std::vector<int> locks;
    for (int port = base; port < base + count; ++port) {
      const int fd = claim(port);
      if (fd < 0) break;
      locks.push_back(fd);
    }
    // Held, never closed: the locks go when the process does.
    if (static_cast<int>(locks.size()) == count) return base;
    for (const int fd : locks) close(fd);
  }
  throw std::runtime_error("no " + std::to_string(count) + " free consecutive loopback ports");
}

}  // namespace celeriac::testing::integration
