#pragma once
// pythonIsoformat(): a UTC time as Python's aware datetime.isoformat() writes it.
//
// What for: the `eta` / `expires` of `task-received` events and the `eta` of `inspect
// scheduled` entries, which Celery fills with `req.eta.isoformat()`.
// Unlike formatIsoTime() (iso_time.h, always 6 fraction digits for result documents),
// Python leaves the fraction out when the microseconds are zero.
// What not: the sender's own UTC offset is not kept (TaskMessage holds a time point),
// so the text always ends in +00:00 where Python would echo the offset it was sent.
// Ownership: pure function.

#include <chrono>
#include <string>

namespace celeriac::worker::celery {

// "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00", truncated to the microsecond.
std::string pythonIsoformat(std::chrono::system_clock::time_point time);

}  // namespace celeriac::worker::celery
