#pragma once
// Lifetime helpers for libuv handles: the one way worker code creates and frees them.
//
// libuv rule (docs/src/handle.rst): a handle's memory may be freed only in its close
// callback, never right after uv_close(). A HandlePtr owns a heap-allocated handle and,
// when it lets go (reset, destruction), closes the handle and frees its memory from the
// close callback, so an owner can drop a handle at any time. uv_close also stops it: a
// closing handle never calls its callbacks again.
// Create handles with makeHandle (timer, idle, check, prepare: their init cannot fail) or
// tryMakeHandle (signal, async, poll, tcp: libuv may refuse, for example out of descriptors),
// so that no other code allocates or frees a handle's memory itself.
// Not for: uv_loop_t (owned by value by whoever runs it). Loop thread only; the loop
// must run (or be run once more) for the close callbacks to free the memory before
// uv_loop_close.

#include <uv.h>

#include <memory>
#include <string>
#include <type_traits>

#include "common/result.h"

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

// The handle as libuv's generic type, for uv_unref, uv_is_active, uv_fileno, ...
template <typename T>
uv_handle_t* asHandle(const HandlePtr<T>& handle) {
  return reinterpret_cast<uv_handle_t*>(handle.get());
}

namespace detail {
inline int initHandle(uv_loop_t* loop, uv_timer_t* h) { return uv_timer_init(loop, h); }
inline int initHandle(uv_loop_t* loop, uv_idle_t* h) { return uv_idle_init(loop, h); }
inline int initHandle(uv_loop_t* loop, uv_check_t* h) { return uv_check_init(loop, h); }
inline int initHandle(uv_loop_t* loop, uv_prepare_t* h) { return uv_prepare_init(loop, h); }
inline int initHandle(uv_loop_t* loop, uv_signal_t* h) { return uv_signal_init(loop, h); }
inline int initHandle(uv_loop_t* loop, uv_tcp_t* h) { return uv_tcp_init(loop, h); }
inline int initHandle(uv_loop_t* loop, uv_async_t* h, uv_async_cb cb) {
  return uv_async_init(loop, h, cb);
}
inline int initHandle(uv_loop_t* loop, uv_poll_t* h, uv_os_sock_t socket) {
  return uv_poll_init_socket(loop, h, socket);
}

template <typename T>
inline constexpr bool kInitCannotFail =
    std::is_same_v<T, uv_timer_t> || std::is_same_v<T, uv_idle_t> ||
    std::is_same_v<T, uv_check_t> || std::is_same_v<T, uv_prepare_t>;
}  // namespace detail

// A new handle of type T on `loop`, initialised with `init_args` (an async handle's
// callback, a poll handle's socket), its `data` set to `data`. An Error naming libuv's
// reason if libuv refuses; the memory is then freed at once (a handle that was never
// initialised is never closed).
template <typename T, typename... InitArgs>
common::Result<HandlePtr<T>> tryMakeHandle(uv_loop_t* loop, void* data, InitArgs... init_args) {
  auto raw = std::make_unique<T>();
  const int rc = detail::initHandle(loop, raw.get(), init_args...);
  if (rc != 0) return common::Error{std::string("libuv: ") + uv_strerror(rc)};
  raw->data = data;
  return HandlePtr<T>(raw.release());
}

// A new timer, idle, check or prepare handle on `loop` with `data` set: libuv's init of
// these only fills in fields and always succeeds.
template <typename T>
HandlePtr<T> makeHandle(uv_loop_t* loop, void* data) {
  static_assert(detail::kInitCannotFail<T>, "this handle's init can fail: use tryMakeHandle");
  return tryMakeHandle<T>(loop, data).value();
}

}  // namespace celeriac::worker::uv
