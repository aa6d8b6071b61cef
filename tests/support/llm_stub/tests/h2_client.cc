// H2Client: blocking nghttp2 client for the stub tests (see h2_client.h).

#include "h2_client.h"

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "http_client.h"

namespace celeriac::testing::stub {
namespace {

struct Exchange {
  std::map<std::int32_t, std::size_t> index;  // stream id -> request index
  std::vector<H2Result>* results = nullptr;
  std::vector<std::pair<std::string, std::size_t>> bodies;  // per request: body, offset
  std::size_t open = 0;
};

H2Result* resultOf(Exchange* x, std::int32_t stream_id) {
  auto it = x->index.find(stream_id);
  return it == x->index.end() ? nullptr : &(*x->results)[it->second];
}

int onHeader(nghttp2_session* /*s*/, const nghttp2_frame* frame, const std::uint8_t* name,
             std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
             std::uint8_t /*flags*/, void* user) {
  H2Result* r = resultOf(static_cast<Exchange*>(user), frame->hd.stream_id);
  if (r == nullptr) return 0;
  const std::string n(reinterpret_cast<const char*>(name), namelen);
  const std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") {
    r->status = std::stoi(v);
  } else {
    r->headers[n] = v;
  }
  return 0;
}

int onData(nghttp2_session* /*s*/, std::uint8_t /*flags*/, std::int32_t stream_id,
           const std::uint8_t* data, std::size_t len, void* user) {
  if (H2Result* r = resultOf(static_cast<Exchange*>(user), stream_id)) {
    r->body.append(reinterpret_cast<const char*>(data), len);
  }
  return 0;
}

int onClose(nghttp2_session* /*s*/, std::int32_t stream_id, std::uint32_t code, void* user) {
  auto* x = static_cast<Exchange*>(user);
  if (H2Result* r = resultOf(x, stream_id)) {
    r->closed = true;
    r->reset_code = code;
    --x->open;
  }
  return 0;
}

ssize_t readBody(nghttp2_session* /*s*/, std::int32_t /*stream_id*/, std::uint8_t* buf,
                 std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                 void* /*user*/) {
  auto* b = static_cast<std::pair<std::string, std::size_t>*>(source->ptr);
  const std::size_t n = std::min(length, b->first.size() - b->second);
  std::memcpy(buf, b->first.data() + b->second, n);
  b->second += n;
  if (b->second == b->first.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

nghttp2_nv nv(const std::string& name, const std::string& value) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

bool sendPending(nghttp2_session* session, int fd) {
  for (;;) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0) return false;
    if (n == 0) return true;
    ssize_t off = 0;
    while (off < n) {
      const ssize_t w = ::send(fd, data + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += w;
    }
  }
}

}  // namespace

nlohmann::json H2Result::json() const { return nlohmann::json::parse(body, nullptr, false); }

H2Request h2Chat(const std::string& key, const std::string& model, const std::string& text) {
  H2Request r;
  r.path = "/v1/chat/completions";
  r.headers = {{"content-type", "application/json"}, {"authorization", "Bearer " + key}};
  r.body = simpleChat(model, text).dump();
  return r;
}

H2Exchange h2Exchange(int port, const std::vector<H2Request>& requests,
                      std::chrono::milliseconds timeout) {
  H2Exchange out;
  out.results.resize(requests.size());
  const int fd = connectLoopback(port);
  if (fd < 0) {
    out.connection_failed = true;
    return out;
  }
  Exchange x;
  x.results = &out.results;
  x.bodies.reserve(requests.size());
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &onHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &onData);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &onClose);
  nghttp2_session* session = nullptr;
  nghttp2_session_client_new(&session, cbs, &x);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);

  const std::string authority = "127.0.0.1:" + std::to_string(port);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const H2Request& q = requests[i];
    const std::string m = ":method", p = ":path", s = ":scheme", a = ":authority", http = "http";
    std::vector<nghttp2_nv> nva{nv(m, q.method), nv(p, q.path), nv(s, http), nv(a, authority)};
    for (const auto& [name, value] : q.headers) nva.push_back(nv(name, value));
    x.bodies.emplace_back(q.body, 0);
    nghttp2_data_provider provider{};
    provider.source.ptr = &x.bodies.back();
    provider.read_callback = &readBody;
    const std::int32_t id = nghttp2_submit_request(session, nullptr, nva.data(), nva.size(),
                                                   q.body.empty() ? nullptr : &provider, nullptr);
    x.index[id] = i;
    ++x.open;
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (x.open > 0) {
    if (!sendPending(session, fd)) {
      out.connection_failed = true;
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.timed_out = true;
      break;
    }
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0 || nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(buf),
                                           static_cast<std::size_t>(n)) < 0) {
      out.connection_failed = true;
      break;
    }
  }
  nghttp2_session_del(session);
  ::close(fd);
  return out;
}

}  // namespace celeriac::testing::stub
