#pragma once
// TlsH2Server: a real HTTP/2-over-TLS server for an integration test: Debian's nghttpd
// (nghttp2-server) on 127.0.0.1, agreeing to "h2" by ALPN, answering every POST with
// its own request body (--echo-upload), under a throwaway self-signed certificate made
// with the openssl command for the name "localhost" only. Or, as a server that speaks TLS
// but not HTTP/2, `openssl s_server` under the same certificate.
//
// For: testing the worker's own HTTP/2 client over TLS (handshake, ALPN, certificate
// and name checks) against a server that is not ours. Not for: LLM replies or faults
// (the llm-stub speaks plain HTTP).
// Ownership: owns the nghttpd process (stopped on destruction) and its temporary
// directory (certificate, key, document root), removed on destruction.

#include <sys/types.h>

#include <string>

namespace celeriac::testing::integration {

class TlsH2Server {
 public:
  enum class Kind {
    kHttp2,         // nghttpd: ALPN "h2", echoes POST bodies
    kTlsWithoutH2,  // `openssl s_server -www`: TLS, but no ALPN answer (HTTP/1.x only)
  };

  // Throws std::runtime_error if the certificate cannot be made or the server does not
  // accept connections within 10 s.
  explicit TlsH2Server(Kind kind = Kind::kHttp2);
  ~TlsH2Server();
  TlsH2Server(const TlsH2Server&) = delete;
  TlsH2Server& operator=(const TlsH2Server&) = delete;

  [[nodiscard]] int port() const { return port_; }
  // The certificate, which is its own CA: trust it to talk to this server.
  [[nodiscard]] std::string caFile() const { return dir_ + "/cert.pem"; }

 private:
  void stop();  // kills nghttpd and removes the directory

  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace celeriac::testing::integration
