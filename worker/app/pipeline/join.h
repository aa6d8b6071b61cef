#pragma once
// joinAll(): one callback for several asynchronous parts of one step (a result write
// and the publishes that go with it, the chord sizes written before a header goes out,
// every member's part of a chord): `done(all_ok)` fires once, after the last part
// reported, with whether every part reported ok.
//
// What for: the pipeline's one join helper, instead of a counter and a flag shared by
// hand at each place that waits for several things.
// What not: no timeout and no cancellation: every part must report exactly once
// (reporting more often is a bug; the extra reports are ignored).
// Ownership: the returned callable shares the count; copy it into each part's callback.
// Loop thread only.

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

namespace celeriac::worker::app::pipeline {

// A callable `part(bool ok)` to be called `parts` times in all (across its copies);
// `done(all_ok)` runs at the last call. With no parts, `done(true)` runs at once and the
// callable does nothing.
inline std::function<void(bool ok)> joinAll(std::size_t parts,
                                            std::function<void(bool all_ok)> done) {
  if (parts == 0) {
    if (done) done(true);
    return [](bool) {};
  }
  struct State {
    std::size_t pending;
    bool all_ok = true;
    std::function<void(bool)> done;
  };
  auto state = std::make_shared<State>(State{parts, true, std::move(done)});
  return [state](bool ok) {
    if (state->pending == 0) return;
    state->all_ok = state->all_ok && ok;
    if (--state->pending > 0) return;
    if (state->done) std::exchange(state->done, nullptr)(state->all_ok);
  };
}

}  // namespace celeriac::worker::app::pipeline
