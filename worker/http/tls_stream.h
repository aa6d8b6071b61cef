#pragma once
// TlsContext and TlsStream: TLS for the worker's own HTTP/2 client, with OpenSSL
// (libssl, Debian's libssl-dev) over memory BIOs, so the socket stays libuv's.
//
// For: one client TLS session per HTTP/2 connection to an https:// endpoint: the
// handshake (SNI, ALPN offering only "h2", the peer's certificate checked against the
// system's CA store or a given CA file, and its name against the URL's host), then
// encrypting what nghttp2 writes and decrypting what the socket reads. Verification is
// always on; there is no option to turn it off.
// Not for: sockets, timeouts or HTTP (H2Connection), HTTP/1.1 over TLS (libcurl).
//
// Loop and threading: a TlsStream is used from one thread (the loop's); a TlsContext is
// shared by the streams of one transport, on the same thread.
//
// Ownership: TlsContext owns its SSL_CTX; TlsStream owns its SSL (and, through it, both
// memory BIOs) and holds a reference on the SSL_CTX, so either may go first.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace celeriac::worker::http {

class TlsContext {
 public:
  // `ca_file`: a PEM bundle to trust instead of the system store; empty = the system's.
  // An Error naming what failed (the CA file cannot be read, OpenSSL refuses).
  static common::Result<std::shared_ptr<TlsContext>> create(const std::string& ca_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  [[nodiscard]] SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

class TlsStream {
 public:
  // A client session to `host` (its name or IP address, as in the URL).
  static common::Result<std::unique_ptr<TlsStream>> create(const TlsContext& context,
                                                           const std::string& host);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  enum class Handshake { kDone, kMore, kFailed };
  // Advances the handshake with what receive() gave it; kFailed with failure() set.
  // kDone also requires the server to have chosen "h2" by ALPN.
  Handshake handshake();

  // Bytes read from the socket.
  void receive(const char* data, std::size_t len);
  // Appends every byte that can be decrypted now to `plain`. An Error when the session
  // failed (a bad record, an alert) or the peer closed it.
  common::Result<void> decrypt(std::string& plain);
  // Encrypts `plain` for sending (take it with outgoing()).
  common::Result<void> encrypt(std::string_view plain);
  // The bytes to write to the socket now (handshake records, encrypted data); empties
  // the buffer.
  std::string outgoing();

  // Why the handshake failed, for a person (the certificate problem, the missing ALPN).
  [[nodiscard]] const std::string& failure() const { return failure_; }

 private:
  explicit TlsStream(SSL* ssl, BIO* in, BIO* out) : ssl_(ssl), in_(in), out_(out) {}

  SSL* ssl_;
  BIO* in_;   // ciphertext from the socket, read by OpenSSL (owned by ssl_)
  BIO* out_;  // ciphertext OpenSSL wrote, for the socket (owned by ssl_)
  std::string failure_;
};

}  // namespace celeriac::worker::http
