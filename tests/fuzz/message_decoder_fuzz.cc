// Fuzz target: decodeMessage() on one AMQP delivery built from the input (README.md).
//
// Input: four lines, then the body (the rest, newlines and all):
//   1. options, any of: z = the target zlib-compresses the body first (as kombu does
//      for compression='zlib'), g = gzip-compresses it, r = redelivered, p = priority 9
//   2. content_type      3. content_encoding
//   4. the application headers as one line of JSON (text that is not JSON becomes a
//      JSON string, a non-object the decoder must tolerate)
// Without z/g a `compression` header hands the raw bytes to the inflater, so corrupt
// and truncated streams are fuzzed too; with z/g the fuzzer mutates the plain text
// and still reaches the JSON parser through the inflater.
// Contract checked: decodeMessage never throws and never crashes. Then what the task
// pipeline does next is done too, none of which may throw: a refusal with an id
// becomes a FAILURE document (exceptionForDecodeError, renderResultDocument); a decoded
// task has its args echoed into a SUCCESS document and its argsrepr built.

#include <zlib.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/message_decoder.h"
#include "worker/celery/python_repr.h"
#include "worker/celery/raw_message.h"
#include "worker/celery/result_document.h"

namespace {

using celeriac::worker::celery::RawMessage;

// zlib (windowBits 15) or gzip (15 + 16) framing; empty on failure.
std::string deflateText(std::string_view plain, bool gzip) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return {};
  }
  std::string out(deflateBound(&stream, static_cast<uLong>(plain.size())), '\0');
  // zlib's API is not const-correct; it never writes through next_in.
  stream.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(plain.data()));
  stream.avail_in = static_cast<uInt>(plain.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return status == Z_STREAM_END ? out : std::string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace celeriac::worker::celery;
  std::string_view rest = celeriac::fuzz::asText(data, size);
  const std::string_view options = celeriac::fuzz::takeLine(rest);
  RawMessage raw;
  raw.content_type = celeriac::fuzz::takeLine(rest);
  raw.content_encoding = celeriac::fuzz::takeLine(rest);
  const std::string_view headers = celeriac::fuzz::takeLine(rest);
  raw.headers = nlohmann::json::parse(headers, nullptr, /*allow_exceptions=*/false);
  if (raw.headers.is_discarded()) raw.headers = std::string(headers);
  const bool zlib = options.find('z') != std::string_view::npos;
  const bool gzip = options.find('g') != std::string_view::npos;
  raw.body = (zlib || gzip) ? deflateText(rest, gzip) : std::string(rest);
  raw.redelivered = options.find('r') != std::string_view::npos;
  if (options.find('p') != std::string_view::npos) raw.priority = 9;
  raw.exchange = "celery";
  raw.routing_key = "celery";

  // Any fixed time: the decoder reads no clock.
  const std::chrono::system_clock::time_point now{std::chrono::seconds{1'800'000'000}};
  const DecodeResult result = decodeMessage(raw);
  if (!result.ok()) {
    // TaskPipeline::refuse: a FAILURE document when the id is readable.
    ResultRecord record;
    record.task_id = result.error.task_id;
    record.state = TaskState::kFailure;
    record.result = encodeException(exceptionForDecodeError(result.error));
    record.date_done = now;
    (void)renderResultDocument(record);
    return 0;
  }
  // celeriac.echo: the args come back as the result, with every extended field.
  ResultRecord record = successRecord(*result.task, result.task->args, now);
  record.extended = true;
  (void)renderResultDocument(record);
  (void)pythonTupleRepr(result.task->args);
  (void)pythonRepr(result.task->kwargs);
  return 0;
}
