#pragma once
// JsonLogFormatter: `--log-format json`, one JSON object per line:
//
//   {"time":"2024-05-01T12:00:07.123Z","level":"info","logger":"celeriac.task",
//    "message":"received task=echo task_id=5f0c… retries=0","task_id":"5f0c…"}
//
// `time` is ISO 8601 UTC with milliseconds; `level` is spdlog's name (trace, debug,
// info, warning, error, critical); `task_id` and `root_id` are copied out of the
// message's `task_id=<id>` / `root_id=<id>` fields (the house key=value style) when it
// carries them, so a log pipeline can index task lines without parsing the text.
// Invalid UTF-8 in a message is replaced (U+FFFD), never thrown, and a message with
// newlines stays on one line.
//
// Not for: redaction. The RedactingSink masks the message before any formatter sees it.
// Thread: called by its sink under the sink's lock; one instance per sink (clone()).

#include <spdlog/formatter.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace celeriac::worker::app {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  // The "YYYY-MM-DDTHH:MM:SS" of the last second formatted: lines come in bursts.
  std::chrono::seconds cached_second_{-1};
  std::string cached_prefix_;
};

// The value of a `name=value` field in a log message (a bare token up to a blank, with
// one trailing ':' ',' ';' or ')' dropped, or a "quoted" one), or nullopt. `name` only
// counts at a word start: `parent_task_id=` is not `task_id=`.
[[nodiscard]] std::optional<std::string_view> logField(std::string_view message,
                                                       std::string_view name);

// ISO 8601 UTC with milliseconds: 2024-05-01T12:00:07.123Z.
[[nodiscard]] std::string isoUtcMillis(std::chrono::system_clock::time_point time);

}  // namespace celeriac::worker::app
