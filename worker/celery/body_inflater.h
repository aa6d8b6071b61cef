#pragma once
// inflateBody(): undo kombu's `compression` of a task body.
//
// What for: a message with header `compression: application/x-gzip` carries a zlib
// stream (kombu registers zlib.compress under that content type, aliases "gzip" and
// "zlib"); this inflates it in memory before the JSON decode. RFC 1952 gzip framing is
// accepted too, since non-Python publishers send it under the same name (celery/
// celery#9825 shows how under-documented the header is).
// What not: bz2, lzma, brotli and zstd are not supported (isSupportedCompression()
// tells); no streaming, the whole body is in memory anyway.
// Ownership: pure functions.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace celeriac::worker::celery {

// 64 MiB: far above any sane task body, low enough that a zip bomb cannot take the
// process down.
inline constexpr std::size_t kMaxInflatedBodyBytes = std::size_t{64} << 20;

// True for the header values this library inflates: "application/x-gzip",
// "application/gzip", and kombu's aliases "gzip" and "zlib" (case-insensitive).
bool isSupportedCompression(std::string_view compression);

// Inflates a zlib or gzip stream. Fails (with a reason) on corrupt or truncated data,
// trailing bytes after the stream, or output above `max_bytes`.
Result<std::string> inflateBody(std::string_view compressed,
                                std::size_t max_bytes = kMaxInflatedBodyBytes);

}  // namespace celeriac::worker::celery
