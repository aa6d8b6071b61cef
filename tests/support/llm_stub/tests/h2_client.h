#pragma once
// H2Client: a minimal blocking HTTP/2 client (h2c with prior knowledge) for the llm-stub
// tests, over 127.0.0.1 only, on nghttp2's client API (never a hand-written framer).
//
// For: sending several requests at once as streams of ONE connection and waiting for
// all of them, so tests can check that the stub serves HTTP/2 on its HTTP/1.1 port,
// multiplexes, and applies the same routes, faults and stats. Records per stream what
// arrived (status, headers, body) or how it ended (RST_STREAM code). Every wait has a
// deadline. Not for: production use.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::testing::stub {

struct H2Request {
  std::string method = "POST";
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;
};

struct H2Result {
  int status = 0;  // 0 when no response headers arrived
  std::map<std::string, std::string> headers;
  std::string body;
  bool closed = false;           // the stream ended (normally or by reset)
  std::uint32_t reset_code = 0;  // the stream's error code; 0 = ended normally
  [[nodiscard]] nlohmann::json json() const;
};

struct H2Exchange {
  std::vector<H2Result> results;   // one per request, in order
  bool timed_out = false;          // the deadline passed before every stream ended
  bool connection_failed = false;  // refused, or the server closed it mid-exchange
};

// Connects to 127.0.0.1:|port|, sends the client preface and every request as its own
// stream, all at once, and waits up to |timeout| for every stream to end.
H2Exchange h2Exchange(int port, const std::vector<H2Request>& requests,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A chat completion request for |model| with the API key |key|.
H2Request h2Chat(const std::string& key, const std::string& model, const std::string& text);

}  // namespace celeriac::testing::stub
