// Concurrency test: the stub holds thousands of slow requests at once on one loop.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <vector>

#include "http_client.h"
#include "stub_process.h"

namespace celeriac::testing::stub {
namespace {

using std::chrono::steady_clock;

TEST(LlmStubLoadTest, HoldsTwoThousandSlowConnectionsAndAnswersAll) {
  constexpr std::size_t kConnections = 2000;
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur < kConnections + 64) GTEST_SKIP() << "file limit too low: " << lim.rlim_cur;

  StubProcess stub({"--latency-ms", "1500"});
  const std::string req =
      formatRequest("POST", "/v1/chat/completions", simpleChat("gpt-4o", "load").dump(),
                    {{"Authorization", "Bearer load"}});
  const auto start = steady_clock::now();
  std::vector<int> fds;
  fds.reserve(kConnections);
  for (std::size_t i = 0; i < kConnections; ++i) {
    const int fd = connectLoopback(stub.port());
    ASSERT_GE(fd, 0) << "connection " << i;
    fds.push_back(fd);
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  }

  std::vector<std::unique_ptr<ResponseParser>> parsers;
  for (std::size_t i = 0; i < kConnections; ++i)
    parsers.push_back(std::make_unique<ResponseParser>());
  std::size_t done = 0;
  // Bounds the wait only: that the requests were held at once is what the stub's own
  // in_flight_peak says below, never a wall-clock figure (it failed beside other work).
  const auto deadline = start + std::chrono::seconds(60);
  std::vector<pollfd> pfds(kConnections);
  char buf[8192];
  while (done < kConnections && steady_clock::now() < deadline) {
    std::vector<std::size_t> index;
    pfds.clear();
    for (std::size_t i = 0; i < kConnections; ++i) {
      if (!parsers[i]->complete() && fds[i] >= 0) {
        pfds.push_back(pollfd{fds[i], POLLIN, 0});
        index.push_back(i);
      }
    }
    if (poll(pfds.data(), pfds.size(), 200) <= 0) continue;
    for (std::size_t j = 0; j < pfds.size(); ++j) {
      if ((pfds[j].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const std::size_t i = index[j];
      const ssize_t n = recv(fds[i], buf, sizeof(buf), 0);
      if (n <= 0) {
        ::close(fds[i]);
        fds[i] = -1;
        continue;
      }
      ASSERT_TRUE(parsers[i]->feed(buf, static_cast<std::size_t>(n)));
      if (parsers[i]->complete()) ++done;
    }
  }
  std::size_t ok = 0;
  for (std::size_t i = 0; i < kConnections; ++i) {
    const HttpResult r = parsers[i]->first();
    if (r.complete && r.status == 200 && r.json()["choices"].is_array()) ++ok;
  }
  EXPECT_EQ(ok, kConnections);

  const auto s = stats(stub.port());
  EXPECT_GE(s["totals"]["connections_peak"].get<std::size_t>(), kConnections);
  EXPECT_GE(s["totals"]["in_flight_peak"].get<std::size_t>(), kConnections);
  EXPECT_EQ(s["keys"]["load"]["served"].get<std::size_t>(), kConnections);
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace
}  // namespace celeriac::testing::stub
