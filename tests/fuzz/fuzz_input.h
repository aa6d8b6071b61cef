#pragma once
// Helpers shared by the fuzz targets: cut the fuzzer's bytes into newline-separated
// fields, so that seeds stay readable text files (see README.md for each format).
// Test code only; not part of any library.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace celeriac::fuzz {

inline std::string_view asText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The text up to the next '\n' (removed from `rest`); all of `rest` when there is none.
inline std::string_view takeLine(std::string_view& rest) {
  const std::size_t end = rest.find('\n');
  const std::string_view line = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  return line;
}

}  // namespace celeriac::fuzz
