#pragma once
// The worker's log sink: the output sink (stderr or --logfile) behind a RedactingSink,
// formatted as --log-format says.
//
//   logger ──▶ RedactingSink ──(message masked by LogRedactor)──▶ out sink
//                                                                   └ text pattern or
//                                                                     JsonLogFormatter
//
// Redaction lives in the sink, not at call sites, so no log line can forget it; every
// logger cloned from the default one shares the sink. Built once in main.cc before the
// config's secrets are all known: LogRedactor::addSecret() registers more later.

#include <spdlog/formatter.h>
#include <spdlog/sinks/sink.h>

#include <memory>
#include <string>
#include <string_view>

#include "worker/app/log_redactor.h"
#include "worker/app/worker_config.h"

namespace celeriac::worker::app {

// The text format's pattern (unchanged since before --log-format existed).
inline constexpr std::string_view kTextLogPattern = "[%Y-%m-%d %H:%M:%S.%e] [%l] [%n] %v";

// Masks each message with `redactor` (which must outlive the sink) and hands it to
// `out`. Thread-safe when `out` is (an _mt sink). set_pattern()/set_formatter() are
// ignored: the format is the command line's choice, and a later call (a library, a
// helper) must not turn JSON lines back into text.
class RedactingSink final : public spdlog::sinks::sink {
 public:
  RedactingSink(spdlog::sink_ptr out, const LogRedactor& redactor);

  void log(const spdlog::details::log_msg& msg) override;
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> sink_formatter) override;

 private:
  spdlog::sink_ptr out_;
  const LogRedactor& redactor_;
};

// "json": JsonLogFormatter; anything else: the text pattern.
[[nodiscard]] std::unique_ptr<spdlog::formatter> makeLogFormatter(std::string_view log_format);

// Sets `out`'s formatter for `log_format` and wraps it in a RedactingSink.
[[nodiscard]] spdlog::sink_ptr makeWorkerLogSink(spdlog::sink_ptr out, std::string_view log_format,
                                                 const LogRedactor& redactor = logRedactor());

// Registers the secrets known from the command line and environment before anything
// else is loaded: broker and result-backend passwords, and the values of environment
// variables whose names say they hold a secret (…KEY, …KEYS, …API_KEY…, …_TOKEN,
// …SECRET…, …PASSWORD…, …PASSWD…; comma lists such as LLM_API_KEYS item by item;
// values that are paths or plain numbers skipped). API keys read from files are
// registered when the balancer resolves them (redactingResolver).
void registerWorkerSecrets(const WorkerConfig& config, LogRedactor& redactor = logRedactor());

// Whether an environment variable's name says it holds a secret (see above).
[[nodiscard]] bool isSecretEnvName(std::string_view name);

}  // namespace celeriac::worker::app
