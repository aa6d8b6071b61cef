#pragma once
// Result<T> and Error: the one way a fallible call says what went wrong.
//
// For: a function whose failure the caller handles (a bad option, a reply that does not
// parse, a handle that cannot be made): it returns Result<T>, holding either the value
// or an Error whose message a person can read and act on. Result<void> is success or an
// Error. Not for: bugs (value() on an error throws std::logic_error, it is never a way
// to report a failure), nor for failures that arrive later through a callback.
// Replaces, in new and touched APIs, the optional-plus-out-string, empty-string-for-
// success and bool-plus-member-string styles.
//
// Why not std::expected: it is C++23, and GCC 12 (Debian 12) offers it only with
// -std=c++23; the project builds as C++20. The names follow the project's style
// (ok(), value(), error(), valueOr()); swapping in std::expected later is a rename.

#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace celeriac::inline common {

// What went wrong, for a person: says what was wrong and, where it helps, what to do.
// Never holds a secret (a password, an API key): messages end up in logs and results.
struct Error {
  std::string message;

  // The same error, said of a named thing: `Error{"not a number"}.in("--port")` reads
  // "--port: not a number".
  [[nodiscard]] Error in(const std::string& what) const { return Error{what + ": " + message}; }
};

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "Result<Error> is ambiguous");
  static_assert(!std::is_reference_v<T>, "Result holds values");

 public:
  // From anything a T is made of (so `return "text";` works for Result<std::string>).
  template <typename U = T, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                        !std::is_same_v<std::decay_t<U>, Result> &&
                                                        !std::is_same_v<std::decay_t<U>, Error>>>
  Result(U&& value)  // NOLINT(google-explicit-constructor): a value is a success
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}
  Result(Error error)  // NOLINT(google-explicit-constructor): an Error is a failure
      : state_(std::in_place_index<1>, std::move(error)) {}

  [[nodiscard]] bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Precondition: ok() (else throws std::logic_error carrying the error's message).
  [[nodiscard]] T& value() & {
    checked();
    return std::get<0>(state_);
  }
  [[nodiscard]] const T& value() const& {
    checked();
    return std::get<0>(state_);
  }
  [[nodiscard]] T&& value() && {
    checked();
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] T valueOr(T fallback) const& { return ok() ? std::get<0>(state_) : fallback; }

  // Precondition: !ok() (else throws std::logic_error).
  [[nodiscard]] const Error& error() const {
    if (ok()) throw std::logic_error("Result::error() on a success");
    return std::get<1>(state_);
  }

 private:
  void checked() const {
    if (!ok())
      throw std::logic_error("Result::value() on an error: " + std::get<1>(state_).message);
  }

  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;  // success
  Result(Error error)  // NOLINT(google-explicit-constructor): an Error is a failure
      : error_(std::move(error)) {}

  [[nodiscard]] bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }

  // Precondition: !ok() (else throws std::logic_error).
  [[nodiscard]] const Error& error() const {
    if (ok()) throw std::logic_error("Result::error() on a success");
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

}  // namespace celeriac::inline common
