// celeriac: a C++20 worker that speaks Celery. `celeriac worker ...` runs the worker;
// see worker/app/worker_config.h for the flags and README.md for the whole picture.

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "worker/app/log_setup.h"
#include "worker/app/worker_app.h"
#include "worker/app/worker_config.h"

extern char** environ;

namespace {

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq != nullptr)
      env.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), std::string(eq + 1));
  }
  return env;
}

// <prefix>/share/celeriac when this binary runs from <prefix>/bin and that directory
// holds the schemas (an installed celeriac, e.g. in the image); empty otherwise.
std::string installedDataDir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const std::filesystem::path share = exe.parent_path().parent_path() / "share" / "celeriac";
  return std::filesystem::is_directory(share / "schemas", ec) ? share.string() : std::string();
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

void usage() {
  std::cout << "usage: celeriac worker [options]   (celeriac worker --help for the options)\n";
}

}  // namespace

int main(int argc, char** argv) {
  // A write to a peer that closed (hiredis writes with write(2); a Redis that dies
  // mid-write) must be an EPIPE error the connection handles, not a signal that ends
  // the process.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc < 2 || std::strcmp(argv[1], "worker") != 0) {
    usage();
    return argc < 2 ? 0 : 2;
  }
  // argv[1] is the subcommand; CLI11 sees it as the program name.
  auto parsed = celeriac::worker::app::parseWorkerArgs(argc - 1, argv + 1, environment(),
                                                       hostName(), installedDataDir());
  if (!parsed.config) {
    (parsed.exit_code == 0 ? std::cout : std::cerr)
        << parsed.message << (parsed.message.ends_with('\n') ? "" : "\n");
    return parsed.exit_code;
  }
  // Secrets known now are registered before the first line; API keys follow when the
  // balancer resolves them (redactingResolver).
  celeriac::worker::app::registerWorkerSecrets(*parsed.config);
  spdlog::sink_ptr out;
  if (parsed.config->logfile.empty()) {
    out = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    try {
      out = std::make_shared<spdlog::sinks::basic_file_sink_mt>(parsed.config->logfile);
    } catch (const std::exception& e) {
      std::cerr << "--logfile: " << e.what() << "\n";
      return 2;
    }
  }
  // Every line is redacted in this sink and formatted as --log-format says (text by
  // default, for a terminal; the image passes json). No set_pattern here: it would be
  // ignored by the redacting sink anyway.
  auto logger = std::make_shared<spdlog::logger>(
      "celeriac",
      celeriac::worker::app::makeWorkerLogSink(std::move(out), parsed.config->log_format));
  logger->flush_on(
      spdlog::level::trace);  // a file sink buffers; each line is seen at once, as on stderr
  logger->set_level(spdlog::level::from_str(
      parsed.config->loglevel == "warning" ? "warn" : parsed.config->loglevel));
  spdlog::set_default_logger(logger);
  try {
    celeriac::worker::app::WorkerApp app(std::move(*parsed.config));
    return app.run();
  } catch (const std::exception& e) {
    // What a library throws while being made (libcurl's global init, an AMQP
    // connection's wake-up handle). A bad configuration is not thrown: run() reports it
    // the same way. Messages never carry a secret.
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
}
