#pragma once
// StubConfig: the llm-stub's settings, from the command line (main.cc) and adjustable at
// run time through POST /admin/config. Plain data, owned by the Router.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace celeriac::testing::stub {

struct StubConfig {
  std::string host = "127.0.0.1";
  int port = 0;                          // 0: the kernel picks a free port
  std::chrono::milliseconds latency{0};  // added to every API answer
  // How long an "Upgrade: h2c" request waits for its 101 (a client's upgrade window,
  // held open so tests can start other calls inside it).
  std::chrono::milliseconds h2c_upgrade_delay{0};
  std::uint64_t rpm_limit = 0;           // per API key, sliding 60 s; 0 = off
  std::uint64_t tpm_limit = 0;           // per API key, sliding 60 s; 0 = off
  std::uint64_t completion_tokens = 0;   // reported usage; 0 = estimate from the content
  std::size_t embedding_dimensions = 8;  // unless the request asks for "dimensions"
  std::vector<std::string> models{"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-latest",
                                  "text-embedding-3-small"};
};

}  // namespace celeriac::testing::stub
