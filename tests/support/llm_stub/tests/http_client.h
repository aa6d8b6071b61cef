#pragma once
// A minimal blocking HTTP/1.1 client for the llm-stub tests, over 127.0.0.1 only.
//
// For: sending one request at a time on a kept-alive socket and reading the response
// with Node's http_parser (never a hand-written parser), with a deadline on every wait.
// Records how the answer arrived (number of reads, reset, timeout) so fault tests can
// assert on delivery, not only on content. Not for: production use.

#include <http_parser.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::testing::stub {

struct HttpResult {
  int status = 0;                              // 0 when no response arrived
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool complete = false;   // a whole response was parsed
  bool timed_out = false;  // the deadline passed first
  bool reset = false;      // the peer reset the connection (ECONNRESET)
  bool closed = false;     // the peer closed the connection (EOF)
  std::size_t bytes = 0;   // response bytes received
  int reads = 0;           // recv() calls that returned data
  std::chrono::milliseconds elapsed{0};

  [[nodiscard]] nlohmann::json json() const;  // discarded value when not JSON
  [[nodiscard]] std::string header(const std::string& lower_name) const;
};

// Incremental response parser over http_parser. Collects every response in the byte
// stream, so pipelined answers can be checked in order.
class ResponseParser {
 public:
  ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // False on a parse error.
  bool feed(const char* data, std::size_t len);
  [[nodiscard]] std::size_t completed() const { return done_.size(); }
  [[nodiscard]] bool complete() const { return !done_.empty(); }
  // The first complete response, or the partial one.
  [[nodiscard]] HttpResult first() const { return done_.empty() ? current_ : done_.front(); }
  [[nodiscard]] const std::vector<HttpResult>& all() const { return done_; }

 private:
  static int onHeaderField(http_parser* p, const char* at, std::size_t len);
  static int onHeaderValue(http_parser* p, const char* at, std::size_t len);
  static int onHeadersComplete(http_parser* p);
  static int onBody(http_parser* p, const char* at, std::size_t len);
  static int onMessageComplete(http_parser* p);

  http_parser parser_{};
  http_parser_settings settings_{};
  HttpResult current_;
  std::vector<HttpResult> done_;
  std::string field_;
  std::string value_;
  bool in_value_ = false;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// Connects to 127.0.0.1:|port| (blocking, bounded). Returns the fd or -1.
int connectLoopback(int port);
// Serialises a request with Host, Content-Length and |headers|.
std::string formatRequest(const std::string& method, const std::string& path,
                          const std::string& body, const Headers& headers);

class HttpClient {
 public:
  explicit HttpClient(int port) : port_(port) {}
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  ~HttpClient();

  // Sends one request (connecting first when needed) and waits up to |timeout| for the
  // response. The socket stays open for the next call unless the server closed it.
  HttpResult send(const std::string& method, const std::string& path, const std::string& body = "",
                  const Headers& headers = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void close();
  [[nodiscard]] bool connected() const { return fd_ >= 0; }

 private:
  int port_;
  int fd_ = -1;
};

// One-shot helpers on a fresh connection.
HttpResult request(int port, const std::string& method, const std::string& path,
                   const std::string& body = "", const Headers& headers = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));
HttpResult chat(int port, const std::string& key, const nlohmann::json& body,
                std::chrono::milliseconds timeout = std::chrono::seconds(5));
nlohmann::json simpleChat(const std::string& model, const std::string& text);
// POST /admin/faults with |spec|; returns the response.
HttpResult armFault(int port, const nlohmann::json& spec);
nlohmann::json stats(int port);

}  // namespace celeriac::testing::stub
