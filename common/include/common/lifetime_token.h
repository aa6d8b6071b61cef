#pragma once
// LifetimeToken: lets a callback that runs after its owner is gone find out, and do
// nothing.
//
// For: an owner that hands callbacks capturing `this` to something that can outlive it
// (a Dispatcher's post/schedule queue, an HTTP transport, a Redis store). The owner holds
// a LifetimeToken member; each callback captures a LifetimeWatch (watch()) or is wrapped
// by guard(), and checks it before touching the owner. When the token is destroyed with
// its owner, or revoke()d, every watch handed out says the owner is gone.
// Not for: keeping anything alive (a watch owns nothing), nor for threads: loop thread
// only. Checking a watch and then using the owner is safe only because nothing else runs
// on the loop in between.
// Ownership: the token owns a small shared flag; watches hold weak references to it.
// Replaces the hand-written `shared_ptr<bool>` / `shared_ptr<Owner*>` alive flags.

#include <memory>
#include <utility>

namespace celeriac::inline common {

// A copyable, non-owning view of one LifetimeToken's life. Default-constructed: never
// alive.
class LifetimeWatch {
 public:
  LifetimeWatch() = default;

  [[nodiscard]] bool alive() const { return !flag_.expired(); }

 private:
  friend class LifetimeToken;
  explicit LifetimeWatch(std::weak_ptr<const void> flag) : flag_(std::move(flag)) {}

  std::weak_ptr<const void> flag_;
};

class LifetimeToken {
 public:
  LifetimeToken() : flag_(std::make_shared<const char>('\0')) {}
  // Neither copied nor moved: callbacks captured the owner's address, which a copy or a
  // move would not carry along.
  LifetimeToken(const LifetimeToken&) = delete;
  LifetimeToken& operator=(const LifetimeToken&) = delete;

  [[nodiscard]] LifetimeWatch watch() const { return LifetimeWatch(flag_); }

  // Ends the owner's life before the token itself goes (first thing in a destructor
  // whose teardown may run callbacks). Every watch, including ones taken later, says gone.
  void revoke() { flag_.reset(); }

  // Every watch handed out so far says gone; watches taken from now on see a new life.
  // For an owner that starts over (a reconnect) and must ignore the old callbacks.
  void renew() { flag_ = std::make_shared<const char>('\0'); }

  // `fn` wrapped so that it runs only while the owner is alive, with the arguments the
  // caller passes: `dispatcher.post(lifetime_.guard([this] { step(); }))`.
  template <typename Fn>
  [[nodiscard]] auto guard(Fn fn) const {
    return [life = watch(), fn = std::move(fn)](auto&&... args) mutable {
      if (life.alive()) fn(std::forward<decltype(args)>(args)...);
    };
  }

 private:
  std::shared_ptr<const void> flag_;
};

}  // namespace celeriac::inline common
