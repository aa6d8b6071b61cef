#pragma once
// Lifetime helpers for libuv handles.
//
// libuv rule (docs/src/handle.rst): a handle's memory may be freed only in its close
// callback, never right after uv_close(). These helpers allocate handles on the heap
// and free them from the close callback, so an owner can drop a handle at any time.
// Loop thread only.

#include <uv.h>

#include <memory>

namespace celeriac::worker::uv {

// Closes `handle` (if not already closing) and deletes it from the close callback.
// `T` is the libuv handle struct type (uv_timer_t, uv_poll_t, ...), allocated with new.
template <typename T>
void closeAndDelete(T* handle) noexcept {
  if (handle == nullptr) return;
  auto* base = reinterpret_cast<uv_handle_t*>(handle);
  if (uv_is_closing(base) != 0) return;
  uv_close(base, [](uv_handle_t* h) noexcept { delete reinterpret_cast<T*>(h); });
}

// Owning pointer to a heap-allocated libuv handle that closes it on destruction.
template <typename T>
struct HandleCloser {
  void operator()(T* handle) const noexcept { closeAndDelete(handle); }
};
template <typename T>
using HandlePtr = std::unique_ptr<T, HandleCloser<T>>;

}  // namespace celeriac::worker::uv
