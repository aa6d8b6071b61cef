// Test HTTP client over http_parser (see http_client.h).

#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace celeriac::testing::stub {
namespace {

ResponseParser* self(http_parser* p) { return static_cast<ResponseParser*>(p->data); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

nlohmann::json HttpResult::json() const { return nlohmann::json::parse(body, nullptr, false); }

std::string HttpResult::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

ResponseParser::ResponseParser() {
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.data = this;
  settings_.on_header_field = &ResponseParser::onHeaderField;
  settings_.on_header_value = &ResponseParser::onHeaderValue;
  settings_.on_headers_complete = &ResponseParser::onHeadersComplete;
  settings_.on_body = &ResponseParser::onBody;
  settings_.on_message_complete = &ResponseParser::onMessageComplete;
}

bool ResponseParser::feed(const char* data, std::size_t len) {
  current_.bytes += len;
  http_parser_execute(&parser_, &settings_, data, len);
  return HTTP_PARSER_ERRNO(&parser_) == HPE_OK;
}

int ResponseParser::onHeaderField(http_parser* p, const char* at, std::size_t len) {
  ResponseParser* s = self(p);
  if (s->in_value_) {
    s->current_.headers[lower(s->field_)] = s->value_;
    s->field_.clear();
    s->value_.clear();
    s->in_value_ = false;
  }
  s->field_.append(at, len);
  return 0;
}

int ResponseParser::onHeaderValue(http_parser* p, const char* at, std::size_t len) {
  ResponseParser* s = self(p);
  s->value_.append(at, len);
  s->in_value_ = true;
  return 0;
}

int ResponseParser::onHeadersComplete(http_parser* p) {
  ResponseParser* s = self(p);
  if (s->in_value_) s->current_.headers[lower(s->field_)] = s->value_;
  s->field_.clear();
  s->value_.clear();
  s->in_value_ = false;
  s->current_.status = static_cast<int>(p->status_code);
  return 0;
}

int ResponseParser::onBody(http_parser* p, const char* at, std::size_t len) {
  self(p)->current_.body.append(at, len);
  return 0;
}

int ResponseParser::onMessageComplete(http_parser* p) {
  ResponseParser* s = self(p);
  s->current_.complete = true;
  s->done_.push_back(std::move(s->current_));
  s->current_ = HttpResult{};
  return 0;
}

int connectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};  // bounds connect() too
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

std::string formatRequest(const std::string& method, const std::string& path,
                          const std::string& body, const Headers& headers) {
  std::string out = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "POST") {
    out +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

HttpResult HttpClient::send(const std::string& method, const std::string& path,
                            const std::string& body, const Headers& headers,
                            std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  ResponseParser parser;
  bool timed_out = false;
  bool reset = false;
  bool closed = false;
  int reads = 0;
  if (fd_ < 0) fd_ = connectLoopback(port_);
  const std::string bytes = formatRequest(method, path, body, headers);
  std::size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      reset = errno == ECONNRESET;
      close();
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  char buf[16384];
  while (fd_ >= 0 && !parser.complete()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      timed_out = true;
      break;
    }
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      reset = n < 0 && errno == ECONNRESET;
      close();
      break;
    }
    ++reads;
    if (!parser.feed(buf, static_cast<std::size_t>(n))) break;
  }
  closed = fd_ < 0;
  HttpResult r = parser.first();
  r.timed_out = timed_out;
  r.reset = reset;
  r.closed = closed;
  r.reads = reads;
  if (r.complete && lower(r.header("connection")) == "close") close();
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return r;
}

HttpResult request(int port, const std::string& method, const std::string& path,
                   const std::string& body, const Headers& headers,
                   std::chrono::milliseconds timeout) {
  HttpClient client(port);
  return client.send(method, path, body, headers, timeout);
}

HttpResult chat(int port, const std::string& key, const nlohmann::json& body,
                std::chrono::milliseconds timeout) {
  return request(port, "POST", "/v1/chat/completions", body.dump(),
                 {{"Authorization", "Bearer " + key}}, timeout);
}

nlohmann::json simpleChat(const std::string& model, const std::string& text) {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}};
}

HttpResult armFault(int port, const nlohmann::json& spec) {
  return request(port, "POST", "/admin/faults", spec.dump());
}

nlohmann::json stats(int port) { return request(port, "GET", "/admin/stats").json(); }

}  // namespace celeriac::testing::stub
