#include "worker/amqp/amqp_io_thread.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "worker/amqp/amqp_session.h"

namespace celeriac::worker::amqp {

namespace {
// Which generation a command was made for (0 for kClose and kConnect: they always run).
std::uint64_t generationOf(const io::Command& command) {
  return std::visit(
      [](const auto& c) -> std::uint64_t {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, io::Close> || std::is_same_v<T, io::Connect>) {
          return 0;
        } else {
          return c.generation;
        }
      },
      command);
}
}  // namespace

AmqpIoThread::AmqpIoThread(Options options, std::function<void()> notify)
    : options_(std::move(options)), notify_(std::move(notify)) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  thread_ = std::thread([this] { run(); });
}

AmqpIoThread::~AmqpIoThread() {
  forceClose();
  join();
  close(wake_fd_);
}

void AmqpIoThread::join() {
  if (thread_.joinable()) thread_.join();
}

bool AmqpIoThread::joinFor(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(exit_mutex_);
    if (!exit_cv_.wait_for(lock, timeout, [this] { return exited_; })) return false;
  }
  join();
  return true;
}

void AmqpIoThread::submit(io::Command command) {
  std::vector<io::Command> commands;
  commands.push_back(std::move(command));
  submit(std::move(commands));
}

void AmqpIoThread::submit(std::vector<io::Command> commands) {
  if (commands.empty()) return;
  bool wake = false;
  {
    std::lock_guard lock(commands_mutex_);
    for (auto& c : commands) {
      if (std::holds_alternative<io::Close>(c)) stopping_.store(true);
      commands_.push_back(std::move(c));
    }
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (wake) {
    const std::uint64_t one = 1;
    // Cannot fail short of EAGAIN at a counter near 2^64.
    [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof one);
  }
}

bool AmqpIoThread::takeEvents(std::size_t max_events, std::size_t max_bytes,
                              std::vector<io::Event>& out) {
  std::lock_guard lock(events_mutex_);
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < max_events && bytes < max_bytes && !events_.empty(); ++i) {
    if (const auto* r = std::get_if<io::Received>(&events_.front())) {
      bytes += r->delivery.message.body.size();
    }
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return !events_.empty();
}

void AmqpIoThread::forceClose() {
  stopping_.store(true);
  {
    std::lock_guard lock(socket_mutex_);
    // Any send or read blocked on this socket in rabbitmq-c now fails at once.
    if (socket_fd_ >= 0) shutdown(socket_fd_, SHUT_RDWR);
  }
  // A thread waiting in poll() without a socket wakes on the eventfd.
  submit(io::Close{});
}

void AmqpIoThread::setSocket(int fd) {
  std::lock_guard lock(socket_mutex_);
  if (socket_fd_ >= 0) close(socket_fd_);
  // Our own duplicate: shutdown(2) acts on the socket, not on the descriptor, so it
  // works through it even if rabbitmq-c already closed its own (it does, on heartbeat
  // and RPC timeouts); and this number cannot be reused by anyone while we hold it.
  socket_fd_ = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (socket_fd_ >= 0 && stopping_.load()) shutdown(socket_fd_, SHUT_RDWR);
}

void AmqpIoThread::emit(io::Event event) { outbox_.push_back(std::move(event)); }

void AmqpIoThread::flushEvents() {
  if (outbox_.empty()) return;
  {
    std::lock_guard lock(events_mutex_);
    for (auto& e : outbox_) events_.push_back(std::move(e));
  }
  outbox_.clear();
  notify_();
}

void AmqpIoThread::dropSession(const std::string& reason) {
  if (!session_) return;
  emit(io::Broken{session_->generation(), reason});
  session_.reset();
}

void AmqpIoThread::run() {
  runSessions();
  std::lock_guard lock(exit_mutex_);
  exited_ = true;
  exit_cv_.notify_all();
}

void AmqpIoThread::runSessions() {
  for (;;) {
    std::vector<io::Command> batch;
    {
      std::uint64_t counter = 0;
      [[maybe_unused]] const ssize_t n = read(wake_fd_, &counter, sizeof counter);
      std::lock_guard lock(commands_mutex_);
      batch.swap(commands_);
      wake_pending_ = false;
    }
    for (auto& command : batch) {
      if (!execute(command)) {
        flushEvents();
        return;
      }
    }
    if (session_) readFrames();
    flushEvents();
    waitForWork();
  }
}

bool AmqpIoThread::execute(io::Command& command) {
  if (std::holds_alternative<io::Close>(command)) {
    if (session_) {
      // After forceClose the socket is shut down and this fails at once.
      session_->closePolitely(options_.close_timeout);
      session_.reset();
    }
    emit(io::Exited{});
    return false;
  }
  if (auto* connect = std::get_if<io::Connect>(&command)) {
    session_.reset();
    if (stopping_.load()) return true;
    AmqpSession::Config config{options_.topology, options_.heartbeat, options_.connect_timeout,
                               options_.transient_backlog};
    AmqpSession::OpenResult opened;
    try {
      opened = AmqpSession::open(
          config, *connect, [this](int fd) { setSocket(fd); }, stopping_);
    } catch (const std::exception& e) {
      opened.error = std::string("connect failed: ") + e.what();
    }
    if (!opened.session) {
      emit(io::ConnectFailed{connect->generation, opened.error, opened.fatal});
      return true;
    }
    session_ = std::move(opened.session);
    emit(io::Opened{connect->generation});
    return true;
  }
  // Everything else is for one connection: a command for another one is stale (a
  // transient publish's lease gives its bytes back when the batch is destroyed).
  if (!session_ || generationOf(command) != session_->generation()) {
    if (std::holds_alternative<io::PublishTransient>(command) && options_.transient_backlog) {
      options_.transient_backlog->countDropped();
    }
    return true;
  }
  AmqpSession& s = *session_;
  // Nothing may escape this thread (std::terminate). Only building a publish's header
  // table can throw, before anything was sent: that publish fails, the session lives.
  try {
    const bool ok = std::visit(
        [this, &s](auto& c) -> bool {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, io::Ack>) {
            return s.ack(c.tag, c.multiple);
          } else if constexpr (std::is_same_v<T, io::Reject>) {
            return s.reject(c.tag, c.requeue);
          } else if constexpr (std::is_same_v<T, io::Qos>) {
            return s.qos(c.prefetch, c.global);
          } else if constexpr (std::is_same_v<T, io::Consume>) {
            return s.consume(c, outbox_);
          } else if constexpr (std::is_same_v<T, io::Cancel>) {
            return s.cancel(c.consumer_tag);
          } else if constexpr (std::is_same_v<T, io::Publish>) {
            return s.publish(c);
          } else if constexpr (std::is_same_v<T, io::PublishTransient>) {
            return s.publishTransient(c);
          } else {
            return true;
          }
        },
        command);
    if (!ok) dropSession(s.error());
  } catch (const std::exception& e) {
    if (const auto* publish = std::get_if<io::Publish>(&command)) {
      emit(io::Confirmed{publish->generation, publish->id, false});
    } else if (std::holds_alternative<io::PublishTransient>(command)) {
      if (options_.transient_backlog) options_.transient_backlog->countDropped();
    } else {
      dropSession(std::string("internal error: ") + e.what());
    }
  }
  return true;
}

void AmqpIoThread::readFrames() {
  try {
    const AmqpSession::ReadStatus status = session_->read(kFramesPerRound, outbox_);
    if (status == AmqpSession::ReadStatus::kFailed) dropSession(session_->error());
  } catch (const std::exception& e) {
    dropSession(std::string("internal error reading: ") + e.what());
  }
}

void AmqpIoThread::waitForWork() {
  {
    std::lock_guard lock(commands_mutex_);
    if (!commands_.empty()) return;
  }
  if (session_ && session_->hasBufferedInput()) return;
  pollfd fds[2];
  fds[0] = pollfd{wake_fd_, POLLIN, 0};
  nfds_t count = 1;
  int timeout_ms = -1;
  if (session_) {
    fds[1] = pollfd{session_->fd(), POLLIN, 0};
    count = 2;
    timeout_ms = session_->readIntervalMs();
  }
  while (poll(fds, count, timeout_ms) < 0 && errno == EINTR) {
  }
}

}  // namespace celeriac::worker::amqp
