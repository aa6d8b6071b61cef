#include "worker/amqp/amqp_connection.h"

#include <stdexcept>

#include "worker/amqp/amqp_log.h"

namespace celeriac::worker::amqp {

AmqpConnection::AmqpConnection(uv_loop_t* loop, common::Dispatcher& dispatcher,
                               AmqpOptions options, Callbacks callbacks)
    : loop_(loop),
      dispatcher_(dispatcher),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      consumers_(options_.topology.queues),
      transient_(std::make_shared<TransientBacklog>(kTransientBacklogBytes)),
      backoff_(options_.backoff_min, options_.backoff_max),
      check_(uv::makeHandle<uv_check_t>(loop, this)),
      flush_idle_(uv::makeHandle<uv_idle_t>(loop, this)),
      backoff_timer_(uv::makeHandle<uv_timer_t>(loop, this)),
      window_timer_(uv::makeHandle<uv_timer_t>(loop, this)),
      close_timer_(uv::makeHandle<uv_timer_t>(loop, this)) {
  for (const QueueSpec& q : options_.topology.queues) quorum_ = quorum_ || q.quorum;
}

AmqpConnection::~AmqpConnection() {
  if (io_) {
    if (close_requested_) {
      // A polite close is under way (WorkerApp stops the loop right after close()):
      // let it finish, for at most what is left of close_timeout.
      const std::uint64_t spent = uv_now(loop_) - close_started_ms_;
      const auto limit = static_cast<std::uint64_t>(options_.close_timeout.count());
      io_->joinFor(std::chrono::milliseconds(spent < limit ? limit - spent : 0));
    }
    io_.reset();  // shuts the socket down if still open, then joins
  }
  // The handles close with their HandlePtr members (closing stops them), after this.
}

void AmqpConnection::start() {
  if (state_ != State::kIdle) return;
  auto async = uv::tryMakeHandle<uv_async_t>(
      loop_, this,
      [](uv_async_t* a) noexcept { static_cast<AmqpConnection*>(a->data)->onEvents(); });
  if (!async) throw std::runtime_error(async.error().in("AMQP connection").message);
  async_ = std::move(async).value();
  AmqpIoThread::Options io_options;
  io_options.topology = options_.topology;
  io_options.heartbeat = options_.heartbeat;
  io_options.connect_timeout = options_.connect_timeout;
  io_options.close_timeout = options_.close_timeout;
  io_options.transient_backlog = transient_;
  uv_async_t* wake = async_.get();  // outlives the thread: onExited joins it first
  io_ = std::make_unique<AmqpIoThread>(std::move(io_options), [wake] { uv_async_send(wake); });
  connect();
}

void AmqpConnection::connect() {
  state_ = State::kConnecting;
  io::Connect c;
  // The number the connection will have if it opens: successful connections are
  // numbered 1, 2, 3, ... (a failed attempt's number is used again by the next one;
  // only one attempt is ever under way).
  c.generation = generation_ + 1;
  last_generation_ = c.generation;
  c.url = options_.urls[url_index_ % options_.urls.size()];
  c.prefetch = options_.prefetch;
  c.global_qos = !quorum_;
  connect_prefetch_ = options_.prefetch;
  // Slots 0..n-1 for this connection; queues added or removed while it is under way
  // are reconciled when it opens (startConsumers).
  consumers_.renumber();
  connected_ = consumers_.entries();
  connect_consumed_ = consuming_;
  c.queues = consumers_.queues();
  if (consuming_) {
    for (const ConsumerSet::Entry& e : connected_) {
      c.consumer_tags.push_back(consumerTag(c.generation, e.slot, 0));
    }
  }
  io_->submit(std::move(c));
}

void AmqpConnection::onEvents() {
  if (!io_) return;
  std::vector<io::Event> events;
  events.reserve(kEventsPerTurn);
  // A budget per turn: the rest wait for the next one, so a burst of deliveries never
  // holds timers and other sockets back.
  const bool more = io_->takeEvents(kEventsPerTurn, kBytesPerTurn, events);
  for (io::Event& e : events) {
    // Callbacks run from a C callback: no exception may escape into C. The pipeline
    // contains its own; this is the last line.
    try {
      handle(e);
    } catch (const std::exception& ex) {
      amqpLog()->error("exception in an AMQP event handler: {}", ex.what());
    } catch (...) {
      amqpLog()->error("exception in an AMQP event handler");
    }
  }
  if (more && async_ != nullptr) uv_async_send(async_.get());
}

void AmqpConnection::handle(io::Event& event) {
  std::visit(
      [this](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, io::Opened>) {
          onOpened(e);
        } else if constexpr (std::is_same_v<T, io::ConnectFailed>) {
          onConnectFailed(e);
        } else if constexpr (std::is_same_v<T, io::Received>) {
          onReceived(e);
        } else if constexpr (std::is_same_v<T, io::Confirmed>) {
          onConfirmed(e);
        } else if constexpr (std::is_same_v<T, io::Broken>) {
          if (state_ == State::kOpen && e.generation == generation_) broken(e.reason);
        } else if constexpr (std::is_same_v<T, io::ConsumeFailed>) {
          onConsumeFailed(e);
        } else if constexpr (std::is_same_v<T, io::TransientChannelClosed>) {
          if (e.generation == generation_) {
            amqpLog()->warn("broker closed the transient channel (re-opened): {}", e.reason);
          }
        } else if constexpr (std::is_same_v<T, io::Blocked>) {
          if (e.blocked) {
            amqpLog()->warn("broker blocked the connection (publishes wait): {}", e.reason);
          } else {
            amqpLog()->info("broker unblocked the connection");
          }
        } else if constexpr (std::is_same_v<T, io::Exited>) {
          onExited();
        }
      },
      event);
}

void AmqpConnection::onOpened(const io::Opened& e) {
  if (state_ != State::kConnecting || e.generation != last_generation_) return;
  state_ = State::kOpen;
  generation_ = e.generation;
  acks_.reset();
  tag_slots_.clear();
  backoff_.reset();
  prefetch_applied_ = connect_prefetch_;
  uv_check_start(check_.get(),
                 [](uv_check_t* c) noexcept { static_cast<AmqpConnection*>(c->data)->flush(); });
  startConsumers();
  wantFlush();
  if (callbacks_.on_open) callbacks_.on_open(generation_);
}

void AmqpConnection::onConnectFailed(const io::ConnectFailed& e) {
  if (state_ != State::kConnecting || e.generation != last_generation_) return;
  if (e.fatal) {
    state_ = State::kClosed;
    if (callbacks_.on_fatal) callbacks_.on_fatal(e.error);
    return;
  }
  ++url_index_;  // fail over to the next broker URL, if several
  if (callbacks_.on_broken) callbacks_.on_broken(e.error);
  if (state_ == State::kConnecting) scheduleReconnect();
}

void AmqpConnection::onConfirmed(const io::Confirmed& e) {
  if (e.generation != generation_) return;  // its publish was failed when it broke
  auto it = pending_confirms_.find(e.id);
  if (it == pending_confirms_.end()) return;
  std::function<void(bool)> done = std::move(it->second);
  pending_confirms_.erase(it);
  done(e.ok);
}

void AmqpConnection::onExited() {
  uv_timer_stop(close_timer_.get());
  if (io_) {
    io_->join();  // it has emitted its last event: this returns at once
    io_.reset();
  }
  async_.reset();
}

void AmqpConnection::wantFlush() {
  // Commands made outside an I/O callback (a timer, a posted callback) would otherwise
  // wait in the outbox while the loop blocks in poll: an active idle handle makes that
  // poll return at once, so the check handle runs this turn.
  if (state_ == State::kOpen && uv_is_active(uv::asHandle(flush_idle_)) == 0) {
    uv_idle_start(flush_idle_.get(),
                  [](uv_idle_t* i) noexcept { static_cast<AmqpConnection*>(i->data)->flush(); });
  }
}

void AmqpConnection::flush() {
  uv_idle_stop(flush_idle_.get());
  if (state_ != State::kOpen) return;
  if (acks_.hasAckable()) {
    const AckTracker::Plan plan = acks_.takeAcks();
    if (plan.multiple_up_to) outbox_.emplace_back(io::Ack{generation_, *plan.multiple_up_to, true});
    for (std::uint64_t tag : plan.singles) outbox_.emplace_back(io::Ack{generation_, tag, false});
  }
  applyPrefetch();
  if (!outbox_.empty()) {
    std::vector<io::Command> batch;
    batch.swap(outbox_);
    io_->submit(std::move(batch));
  }
}

bool AmqpConnection::publishTransient(OutgoingMessage message) {
  std::optional<TransientBacklog::Lease> lease;
  if (state_ == State::kOpen) lease = transient_->reserve(message.body.size());
  if (!lease) {
    transient_->countDropped();
    // Rate-limited: the 1st, 2nd, 4th, 8th, ... drop.
    const std::uint64_t dropped = transient_->dropped();
    if ((dropped & (dropped - 1)) == 0) {
      amqpLog()->warn("transient message dropped (connection {}, backlog {} bytes) dropped={}",
                      state_ == State::kOpen ? "blocked" : "not open", transient_->bytes(),
                      dropped);
    }
    return false;
  }
  outbox_.emplace_back(io::PublishTransient{generation_, std::move(message), std::move(*lease)});
  wantFlush();
  return true;
}

void AmqpConnection::publish(OutgoingMessage message, std::function<void(bool)> done) {
  if (state_ != State::kOpen) {
    dispatcher_.post([done = std::move(done)] { done(false); });
    return;
  }
  const std::uint64_t id = ++next_publish_id_;
  pending_confirms_.emplace(id, std::move(done));
  outbox_.emplace_back(io::Publish{generation_, id, std::move(message)});
  wantFlush();
}

void AmqpConnection::failPendingPublishes() {
  // The broker may or may not have stored them; callers treat them as not stored.
  auto pending = std::move(pending_confirms_);
  pending_confirms_.clear();
  for (auto& [id, cb] : pending) {
    dispatcher_.post([cb = std::move(cb)] { cb(false); });
  }
}

void AmqpConnection::broken(const std::string& reason) {
  if (state_ != State::kOpen) return;
  // Leave kOpen before anything else runs: on_broken's handlers may call back into
  // setPrefetch/ack/publish, which must see a closed connection. (A held ETA task
  // made onChannelLost send basic.qos on the destroyed connection: SIGSEGV.)
  state_ = State::kBackoff;
  uv_check_stop(check_.get());
  uv_idle_stop(flush_idle_.get());
  uv_timer_stop(window_timer_.get());
  outbox_.clear();  // all for the dead generation: the I/O thread would drop them
  acks_.reset();
  tag_slots_.clear();
  failPendingPublishes();
  ++url_index_;
  if (callbacks_.on_broken) callbacks_.on_broken(reason);
  if (state_ == State::kBackoff) scheduleReconnect();
}

void AmqpConnection::scheduleReconnect() {
  state_ = State::kBackoff;
  const auto delay = static_cast<std::uint64_t>(backoff_.next().count());
  uv_timer_start(
      backoff_timer_.get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<AmqpConnection*>(t->data);
        if (self->state_ == State::kBackoff) self->connect();
      },
      delay, 0);
}

void AmqpConnection::close() {
  if (close_requested_) return;
  close_requested_ = true;
  if (state_ == State::kOpen) flush();  // coalesced acks go out before the close
  state_ = State::kClosed;
  uv_check_stop(check_.get());
  uv_idle_stop(flush_idle_.get());
  uv_timer_stop(backoff_timer_.get());
  uv_timer_stop(window_timer_.get());
  outbox_.clear();
  failPendingPublishes();
  if (!io_) return;
  close_started_ms_ = uv_now(loop_);
  io_->submit(io::Close{});
  // The polite close may hang in a send (the broker stopped reading): after
  // close_timeout the socket is shut down, which ends it.
  uv_timer_start(
      close_timer_.get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<AmqpConnection*>(t->data);
        if (self->io_) self->io_->forceClose();
      },
      static_cast<std::uint64_t>(options_.close_timeout.count()), 0);
}

}  // namespace celeriac::worker::amqp
