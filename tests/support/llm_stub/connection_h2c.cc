// Connection: the switch from HTTP/1.1 to HTTP/2 on one socket, by prior knowledge or
// by "Upgrade: h2c" (RFC 7540 section 3.2), optionally with the 101 held for
// --h2c-upgrade-delay-ms (see connection.h for the whole state picture).

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "connection.h"

namespace celeriac::testing::stub {

void Connection::upgradeToHttp2(const char* rest, std::size_t rest_len) {
  // Only "Upgrade: h2c" after every earlier request was answered (a client must not
  // pipeline before it): anything else cannot be served on this connection.
  const std::string* upgrade = queue_.empty() ? nullptr : queue_.back().header("upgrade");
  const std::string* settings = queue_.empty() ? nullptr : queue_.back().header("http2-settings");
  if (active_ || queue_.size() != 1 || upgrade == nullptr || *upgrade != "h2c" ||
      settings == nullptr) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    rejectAndClose(400, "unsupported upgrade");
    return;
  }
  upgrade_ = std::move(queue_.front());
  queue_.clear();
  early_bytes_.assign(rest, rest_len);
  // Counted as an HTTP/2 connection from here, so a test sees the upgrade request has
  // arrived while its 101 is still held.
  handler_.connectionUpgraded();
  const auto delay = handler_.upgradeDelay();
  if (delay.count() > 0) {
    // Whatever the client sends meanwhile waits in early_bytes_ (consume()); a correct
    // client sends nothing before the 101.
    uv_timer_start(&timer_, &Connection::onTimer, static_cast<std::uint64_t>(delay.count()), 0);
    return;
  }
  finishUpgrade();
}

void Connection::finishUpgrade() {
  HttpRequest request = std::move(*upgrade_);
  upgrade_.reset();
  const std::string settings_header = *request.header("http2-settings");
  request.protocol = "HTTP/2";  // answered as stream 1 of the HTTP/2 connection
  write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", false);
  if (closing_) return;  // the 101 could not be written
  protocol_ = WireProtocol::kHttp2;
  startHttp2();
  if (!h2_->upgrade(std::move(request), settings_header)) {
    closeWith(false);
    return;
  }
  // What followed the upgrade request must be the client preface: anything else (an
  // HTTP/1.1 request written behind the upgrade) is a protocol error that ends the
  // connection, as in any HTTP/2 server.
  std::string early = std::move(early_bytes_);
  early_bytes_.clear();
  if (!early.empty()) h2_->receive(early.data(), early.size());
}

void Connection::startHttp2() {
  h2_ = std::make_unique<H2Session>(
      tcp_.loop, handler_,
      H2Session::Io{[this](std::string bytes) { write(std::move(bytes), false); },
                    [this] { closeWith(false); }},
      kMaxBodyBytes);
}

}  // namespace celeriac::testing::stub
