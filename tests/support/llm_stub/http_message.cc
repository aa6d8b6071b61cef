// HttpRequest lookups and HttpResponse serialisation (see http_message.h).

#include "http_message.h"

#include <fmt/format.h>

namespace celeriac::testing::stub {

const std::string* HttpRequest::header(std::string_view lower_name) const {
  for (const auto& h : headers) {
    if (h.name == lower_name) return &h.value;
  }
  return nullptr;
}

std::string_view HttpRequest::path() const {
  std::string_view u = url;
  const auto q = u.find('?');
  return q == std::string_view::npos ? u : u.substr(0, q);
}

void HttpResponse::addHeader(std::string name, std::string value) {
  headers.push_back(HttpHeader{std::move(name), std::move(value)});
}

std::string HttpResponse::serialize(bool keep_alive) const {
  std::string out =
      fmt::format("HTTP/1.1 {} {}\r\nServer: llm-stub\r\n", status, reasonPhrase(status));
  if (!content_type.empty()) out += fmt::format("Content-Type: {}\r\n", content_type);
  out += fmt::format("Content-Length: {}\r\n", body.size());
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& h : headers) out += fmt::format("{}: {}\r\n", h.name, h.value);
  out += "\r\n";
  out += body;
  return out;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 529:
      return "Overloaded";  // Anthropic's non-standard overload status
    default:
      return "Unknown";
  }
}

}  // namespace celeriac::testing::stub
