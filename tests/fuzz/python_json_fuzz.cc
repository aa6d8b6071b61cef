// Fuzz target: parsePythonJson() on the whole input as JSON text (README.md).
//
// Contract checked (python_json.h): parsePythonJson never throws, whatever the text
// (overflowing numbers, NaN tokens, invalid UTF-8, deep nesting); dumpPythonJson never
// throws and writes text that reads back to the same value (compared by dumping the
// re-read value again: NaN != NaN, but "NaN" == "NaN"); a parsed value can be shown
// with pythonRepr() (argsrepr) without throwing.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_input.h"
#include "worker/celery/python_json.h"
#include "worker/celery/python_repr.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace celeriac::worker::celery;
  const auto parsed = parsePythonJson(celeriac::fuzz::asText(data, size));
  if (!parsed.ok()) return 0;
  (void)pythonRepr(*parsed);
  const std::string text = dumpPythonJson(*parsed);
  const auto reread = parsePythonJson(text);
  if (!reread.ok()) {
    std::fprintf(stderr, "dumpPythonJson wrote text parsePythonJson refuses (%s): %s\n",
                 reread.error().message.c_str(), text.c_str());
    std::abort();
  }
  const std::string again = dumpPythonJson(*reread);
  if (again != text) {
    std::fprintf(stderr, "round trip changed the value:\n  %s\n  %s\n", text.c_str(),
                 again.c_str());
    std::abort();
  }
  return 0;
}
