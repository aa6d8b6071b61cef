#pragma once
// RequestHandler: the seam between the I/O shell (Listener, Connection) and the policy
// (Router). Connection calls it on the loop thread; it never blocks and never touches
// the loop, so it can be driven directly by tests.

#include <chrono>

#include "http_message.h"
#include "reply.h"

namespace celeriac::testing::stub {

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;

  // Decides the reply to one complete request received at |now|. Called once per
  // request, in arrival order per connection.
  virtual Reply handle(const HttpRequest& request, WallTime now) = 0;

  // Called exactly once for every Reply that handle() returned: |delivered| is true when
  // the last byte was handed to the kernel, false when the reply was dropped (reset,
  // hang, or the peer went away first).
  virtual void finished(const Reply& reply, bool delivered) = 0;

  // Connection gauges for /admin/stats: opened at accept, its protocol once the first
  // bytes tell (HTTP/2 after the client preface, else HTTP/1.1), closed with the
  // protocol it spoke (kUnknown if it sent nothing).
  virtual void connectionOpened() = 0;
  virtual void connectionSpeaks(WireProtocol protocol) = 0;
  // An HTTP/1.1 connection switches to HTTP/2 ("Upgrade: h2c" accepted; its 101 goes
  // out after upgradeDelay()).
  virtual void connectionUpgraded() = 0;
  [[nodiscard]] virtual std::chrono::milliseconds upgradeDelay() const { return {}; }
  virtual void connectionClosed(WireProtocol protocol) = 0;
};

}  // namespace celeriac::testing::stub
