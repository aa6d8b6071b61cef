#include "worker/celery/body_inflater.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>
#include <memory>

namespace celeriac::worker::celery {
namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// inflateEnd() on every exit path.
struct InflateEnd {
  void operator()(z_stream* stream) const { inflateEnd(stream); }
};

}  // namespace

bool isSupportedCompression(std::string_view compression) {
  const std::string name = lowercase(compression);
  return name == "application/x-gzip" || name == "application/gzip" || name == "gzip" ||
         name == "zlib";
}

Result<std::string> inflateBody(std::string_view compressed, std::size_t max_bytes) {
  if (compressed.size() > UINT_MAX) {
    return Error{"compressed body too large"};
  }
  z_stream stream{};
  // windowBits 15 + 32: detect a zlib or a gzip header automatically (zlib manual).
  if (inflateInit2(&stream, 15 + 32) != Z_OK) {
    return Error{"zlib initialisation failed"};
  }
  std::unique_ptr<z_stream, InflateEnd> guard(&stream);
  // zlib's API is not const-correct; it never writes through next_in.
  stream.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());

  std::string out;
  std::array<char, 64 * 1024> chunk{};
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
    stream.avail_out = static_cast<uInt>(chunk.size());
    status = inflate(&stream, Z_NO_FLUSH);
    if (status == Z_NEED_DICT || status == Z_DATA_ERROR || status == Z_MEM_ERROR ||
        status == Z_STREAM_ERROR) {
      return Error{std::string("corrupt compressed body: ") +
                   (stream.msg != nullptr ? stream.msg : "zlib error " + std::to_string(status))};
    }
    const std::size_t produced = chunk.size() - stream.avail_out;
    if (out.size() + produced > max_bytes) {
      return Error{"inflated body exceeds " + std::to_string(max_bytes) + " bytes"};
    }
    out.append(chunk.data(), produced);
    // Z_BUF_ERROR with all input consumed and room left: the stream just stops.
    if (status == Z_BUF_ERROR || (status == Z_OK && stream.avail_in == 0 && produced == 0)) {
      return Error{"truncated compressed body"};
    }
  }
  if (stream.avail_in != 0) {
    return Error{"unexpected bytes after the compressed stream"};
  }
  return out;
}

}  // namespace celeriac::worker::celery
