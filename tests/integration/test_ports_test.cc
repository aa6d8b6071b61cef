// reserveLoopbackPorts (test_ports.h): the ports every C++ server test gives its
// RabbitMQ, Redis and stub. Checked from outside: where the ports lie, and that another
// process cannot take them until their holder exits.
#include "test_ports.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace celeriac::testing::integration {
namespace {

// Whether this process could take `port`'s lock now (then drops it again).
bool lockIsFree(int port) {
  const std::string path = "/tmp/celeriac-test-ports/" + std::to_string(port);
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return true;
  const bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd);
  return free;
}

TEST(TestPortsTest, ReservedPortsLieOutsideTheKernelsEphemeralRange) {
  int low = 0, high = 0;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
  ASSERT_GT(high, low);
  for (int i = 0; i < 50; ++i) {
    const int base = reserveLoopbackPorts(3);
    for (int port = base; port < base + 3; ++port)
      EXPECT_FALSE(port >= low && port <= high) << port;
  }
}

TEST(TestPortsTest, PortsAnotherProcessHoldsStayItsUntilItExits) {
  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(to_parent[0]);
    close(to_child[1]);
    const int base = reserveLoopbackPorts(3);
    (void)!write(to_parent[1], &base, sizeof base);
    char byte;
    (void)!read(to_child[0], &byte, 1);  // holds the ports until the parent says go
    _exit(0);
  }
  close(to_parent[1]);
  close(to_child[0]);
  int held = 0;
  ASSERT_EQ(read(to_parent[0], &held, sizeof held), static_cast<ssize_t>(sizeof held));
  for (int port = held; port < held + 3; ++port) EXPECT_FALSE(lockIsFree(port)) << port;
  close(to_child[1]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(to_parent[0]);
  for (int port = held; port < held + 3; ++port) EXPECT_TRUE(lockIsFree(port)) << port;
}

}  // namespace
}  // namespace celeriac::testing::integration
