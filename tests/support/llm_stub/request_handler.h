#pragma once
// RequestHandler: the seam between the I/O shell (Listener, Connection) and the policy
// (Router). Connection calls it on the loop thread; it never blocks and never touches
// the loop, so it can be driven directly by tests.

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

  // Connection gauges for /admin/stats.
  virtual void connectionOpened() = 0;
  virtual void connectionClosed() = 0;
};

}  // namespace celeriac::testing::stub
