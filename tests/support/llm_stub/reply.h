#pragma once
// Reply: what the Router decided to do with one request, and how Connection delivers it.
//
// For: separating the decision (pure, in Router) from the delivery (libuv timers and
// writes, in Connection). Not for: holding any loop handle. A Reply is a value; the
// ticket names the (key, model) the stats credit when delivery finishes.

#include <chrono>
#include <cstddef>
#include <string>

#include "http_message.h"

namespace celeriac::testing::stub {

using WallTime = std::chrono::system_clock::time_point;

enum class Delivery {
  kRespond,   // write the response once |delay| has passed
  kHang,      // accept the request and never answer; the connection stays open
  kSlowDrip,  // after |delay|, write the response |drip_chunk_bytes| at a time over
              // |drip_duration|
  kReset,     // close the connection with a TCP RST, no response at all
  kClose,     // close the whole connection (FIN; every HTTP/2 stream on it), no response
};

struct ReplyTicket {
  bool tracked = false;  // true when the stats counted it in flight
  std::string key;
  std::string model;
};

struct Reply {
  HttpResponse response;
  Delivery delivery = Delivery::kRespond;
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds drip_duration{0};
  std::size_t drip_chunk_bytes = 8;
  bool close_after = false;  // answer with "Connection: close" and close afterwards
  ReplyTicket ticket;
};

}  // namespace celeriac::testing::stub
