#pragma once
// TransientBacklog: how many bytes of unconfirmed (transient) publishes the loop has
// handed to the AMQP I/O thread that rabbitmq-c has not written yet, with a limit.
//
// Why: events and remote-control replies must never queue without bound. Under a
// RabbitMQ memory alarm the broker stops reading a publishing connection, so the I/O
// thread blocks in a send and everything handed to it waits. The loop reserves a
// message's bytes before handing it over; the I/O thread gives them back once
// amqp_basic_publish returned (or the message was dropped). When a reservation would
// exceed the limit the caller drops the message and counts it: an event lost under
// back-pressure is better than a worker whose memory grows until it dies.
//
// Thread-safe (atomics): reserve() and countDropped() from the loop thread, Lease
// released on either thread. A Lease gives its bytes back exactly once: on release()
// or when destroyed (a command dropped for a stale connection, a cleared outbox).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace celeriac::worker::amqp {

class TransientBacklog : public std::enable_shared_from_this<TransientBacklog> {
 public:
  // Bytes reserved for one message (`body_bytes` plus this for method and header).
  static constexpr std::size_t kMessageOverhead = 256;

  class Lease {
   public:
    Lease() = default;
    Lease(std::shared_ptr<TransientBacklog> owner, std::size_t bytes)
        : owner_(std::move(owner)), bytes_(bytes) {}
    ~Lease() { release(); }
    Lease(Lease&& other) noexcept
        : owner_(std::move(other.owner_)), bytes_(std::exchange(other.bytes_, 0)) {}
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::move(other.owner_);
        bytes_ = std::exchange(other.bytes_, 0);
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    // Gives the bytes back (the message was written or dropped); idempotent.
    void release();
    [[nodiscard]] std::size_t bytes() const { return bytes_; }

   private:
    std::shared_ptr<TransientBacklog> owner_;
    std::size_t bytes_ = 0;
  };

  explicit TransientBacklog(std::size_t limit_bytes) : limit_bytes_(limit_bytes) {}

  // Reserves room for a message of `body_bytes` if the bytes waiting, this message
  // included, stay within the limit (so one message bigger than the limit never fits).
  // The backlog must be owned by a shared_ptr (leases keep it alive).
  std::optional<Lease> reserve(std::size_t body_bytes);
  // A message was dropped (no room, connection not open, channel being re-opened).
  void countDropped() { dropped_.fetch_add(1, std::memory_order_relaxed); }

  [[nodiscard]] std::size_t bytes() const { return bytes_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t limitBytes() const { return limit_bytes_; }
  [[nodiscard]] std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  void give(std::size_t bytes) { bytes_.fetch_sub(bytes, std::memory_order_acq_rel); }

  const std::size_t limit_bytes_;
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace celeriac::worker::amqp
