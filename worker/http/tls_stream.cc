#include "worker/http/tls_stream.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

namespace celeriac::worker::http {

namespace {

// OpenSSL's queued errors, oldest first, as one line (and the queue emptied).
std::string openSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    std::array<char, 256> text{};
    ERR_error_string_n(e, text.data(), text.size());
    if (!out.empty()) out += "; ";
    out += text.data();
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

// ALPN: HTTP/2 only (RFC 9113 section 3.2); a server without it fails the handshake here.
constexpr std::array<unsigned char, 3> kAlpnH2{2, 'h', '2'};

}  // namespace

common::Result<std::shared_ptr<TlsContext>> TlsContext::create(const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return common::Error{"TLS: cannot create a context: " + openSslErrors()};
  std::shared_ptr<TlsContext> context(new TlsContext(ctx));
  // HTTP/2 needs TLS 1.2 or later, without renegotiation or compression (RFC 9113
  // section 9.2).
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // An idle connection gives its record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                     : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return common::Error{"TLS: cannot load " +
                         (ca_file.empty() ? std::string("the system CA store")
                                          : "the CA file " + ca_file) +
                         ": " + openSslErrors()};
  }
  if (SSL_CTX_set_alpn_protos(ctx, kAlpnH2.data(), kAlpnH2.size()) != 0) {  // 0 is success
    return common::Error{"TLS: cannot offer ALPN h2: " + openSslErrors()};
  }
  return context;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

common::Result<std::unique_ptr<TlsStream>> TlsStream::create(const TlsContext& context,
                                                             const std::string& host) {
  ERR_clear_error();
  SSL* ssl = SSL_new(context.get());
  if (ssl == nullptr) return common::Error{"TLS: cannot start a session: " + openSslErrors()};
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl);
    return common::Error{"TLS: out of memory"};
  }
  BIO_set_mem_eof_return(in, -1);  // no bytes yet means "wait", not end of stream
  SSL_set_bio(ssl, in, out);       // ssl owns both from here
  std::unique_ptr<TlsStream> stream(new TlsStream(ssl, in, out));
  SSL_set_connect_state(ssl);
  // The certificate must name what the URL names: an IP address, or a host name (also
  // sent as SNI, which an IP address never is: RFC 6066 section 3).
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
    ERR_clear_error();  // not an IP address
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    // SSL_set_tlsext_host_name, without the macro's C cast.
    const long sni = SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                              const_cast<char*>(host.c_str()));
    if (SSL_set1_host(ssl, host.c_str()) != 1 || sni != 1) {
      return common::Error{"TLS: cannot check the name " + host + ": " + openSslErrors()};
    }
  }
  return stream;
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

TlsStream::Handshake TlsStream::handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    const unsigned char* protocol = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl_, &protocol, &length);
    if (length != 2 || std::memcmp(protocol, "h2", 2) != 0) {
      failure_ = "the server did not agree to HTTP/2 (no \"h2\" by ALPN)";
      return Handshake::kFailed;
    }
    return Handshake::kDone;
  }
  const int error = SSL_get_error(ssl_, rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return Handshake::kMore;
  const long verify = SSL_get_verify_result(ssl_);
  failure_ = verify != X509_V_OK
                 ? std::string("certificate not accepted: ") + X509_verify_cert_error_string(verify)
                 : openSslErrors();
  return Handshake::kFailed;
}

void TlsStream::receive(const char* data, std::size_t len) {
  while (len > 0) {
    const int chunk = static_cast<int>(std::min<std::size_t>(len, INT_MAX));
    const int written = BIO_write(in_, data, chunk);  // a memory BIO takes all of it
    if (written <= 0) return;
    data += written;
    len -= static_cast<std::size_t>(written);
  }
}

common::Result<void> TlsStream::decrypt(std::string& plain) {
  std::array<char, 16 * 1024> buffer{};
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
    if (n > 0) {
      plain.append(buffer.data(), static_cast<std::size_t>(n));
      continue;
    }
    const int error = SSL_get_error(ssl_, n);
    if (error == SSL_ERROR_WANT_READ) return {};
    if (error == SSL_ERROR_ZERO_RETURN) return common::Error{"the server closed the TLS session"};
    return common::Error{"TLS: " + openSslErrors()};
  }
}

common::Result<void> TlsStream::encrypt(std::string_view plain) {
  while (!plain.empty()) {
    ERR_clear_error();
    const int chunk = static_cast<int>(std::min<std::size_t>(plain.size(), INT_MAX));
    const int n = SSL_write(ssl_, plain.data(), chunk);  // the memory BIO never refuses
    if (n <= 0) return common::Error{"TLS: " + openSslErrors()};
    plain.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::string TlsStream::outgoing() {
  std::string bytes(BIO_ctrl_pending(out_), '\0');
  if (!bytes.empty()) {
    const int n = BIO_read(out_, bytes.data(), static_cast<int>(bytes.size()));
    bytes.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  return bytes;
}

}  // namespace celeriac::worker::http
