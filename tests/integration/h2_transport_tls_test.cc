// H2Transport over TLS against a server that is not ours: Debian's nghttpd, which
// agrees to HTTP/2 by ALPN and echoes each POST body (tls_h2_server.h). Checked: calls
// multiplexed on one TLS connection each get their own answer; an untrusted certificate,
// a name the certificate does not carry, an unreadable CA file and a TLS server without
// HTTP/2 (openssl s_server) each fail as kConnectFailed, saying why.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test_loop.h"
#include "tls_h2_server.h"
#include "transport_calls.h"
#include "worker/http/h2_transport.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::testing::integration {
namespace {

using balancer::HttpConnectionPolicy;
using balancer::HttpRequest;
using balancer::HttpResponse;
using balancer::HttpVersion;
using balancer::TransportError;
using std::chrono::seconds;

class H2TransportTlsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    transport_.reset();
    dispatcher_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }

  void makeTransport(const std::string& ca_file) {
    dispatcher_ = std::make_unique<worker::uv::UvDispatcher>(loop_.get());
    worker::http::H2TransportOptions options;
    options.ca_file = ca_file;
    transport_ = std::make_unique<worker::http::H2Transport>(*dispatcher_, options);
  }

  HttpRequest post(const std::string& host, int i) {
    HttpRequest r;
    r.url = "https://" + host + ":" + std::to_string(server_.port()) + "/echo";
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk-tls-test"}};
    r.body = "{\"call\":" + std::to_string(i) + "}";
    r.connect_timeout = seconds(5);
    r.total_timeout = seconds(20);
    r.connection = HttpConnectionPolicy{HttpVersion::kHttp2, 1, 0};
    return r;
  }

  std::vector<HttpResponse> sendAll(const std::string& host, int n) {
    std::vector<HttpRequest> requests;
    for (int i = 0; i < n; ++i) requests.push_back(post(host, i));
    return sendAllAndWait(*transport_, loop_, std::move(requests), seconds(30));
  }

  TlsH2Server server_;
  TestLoop loop_;
  std::unique_ptr<worker::uv::UvDispatcher> dispatcher_;
  std::unique_ptr<worker::http::H2Transport> transport_;
};

TEST_F(H2TransportTlsTest, CallsShareOneTlsConnectionAgreedByAlpnAndEachGetsItsOwnAnswer) {
  makeTransport(server_.caFile());
  const auto responses = sendAll("localhost", 20);
  for (std::size_t i = 0; i < responses.size(); ++i) {
    const HttpResponse& r = responses[i];
    ASSERT_EQ(r.error, TransportError::kNone) << r.error_detail;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "{\"call\":" + std::to_string(i) + "}");
  }
  EXPECT_EQ(transport_->connections(), 1U);
}

TEST_F(H2TransportTlsTest, ACertificateNoTrustedCaSignedIsRefused) {
  makeTransport("");  // the system store, which does not know the test certificate
  const auto r = sendAll("localhost", 1);
  EXPECT_EQ(r[0].error, TransportError::kConnectFailed);
  EXPECT_NE(r[0].error_detail.find("TLS handshake with localhost:"), std::string::npos)
      << r[0].error_detail;
  EXPECT_NE(r[0].error_detail.find("certificate"), std::string::npos) << r[0].error_detail;
}

TEST_F(H2TransportTlsTest, ACertificateForAnotherNameIsRefused) {
  makeTransport(server_.caFile());
  const auto r = sendAll("127.0.0.1", 1);  // the certificate names only "localhost"
  EXPECT_EQ(r[0].error, TransportError::kConnectFailed);
  EXPECT_NE(r[0].error_detail.find("mismatch"), std::string::npos) << r[0].error_detail;
}

TEST_F(H2TransportTlsTest, AnUnreadableCaFileFailsTheCallNamingTheFile) {
  makeTransport("/nonexistent/ca.pem");
  const auto r = sendAll("localhost", 1);
  EXPECT_EQ(r[0].error, TransportError::kConnectFailed);
  EXPECT_NE(r[0].error_detail.find("/nonexistent/ca.pem"), std::string::npos) << r[0].error_detail;
}

TEST(H2TransportTlsWithoutH2Test, AServerThatDoesNotAgreeToHttp2FailsTheCallAsConnectFailed) {
  TlsH2Server server(TlsH2Server::Kind::kTlsWithoutH2);
  TestLoop loop;
  {
    worker::uv::UvDispatcher dispatcher(loop.get());
    worker::http::H2TransportOptions options;
    options.ca_file = server.caFile();
    worker::http::H2Transport transport(dispatcher, options);
    HttpRequest r;
    r.url = "https://localhost:" + std::to_string(server.port()) + "/";
    r.method = "GET";
    r.connection = HttpConnectionPolicy{HttpVersion::kHttp2, 1, 0};
    std::optional<HttpResponse> out;
    transport.send(r, [&out](HttpResponse response) { out = std::move(response); });
    ASSERT_TRUE(loop.runUntil([&] { return out.has_value(); }, seconds(20)));
    EXPECT_EQ(out->error, TransportError::kConnectFailed);
    EXPECT_NE(out->error_detail.find("did not agree to HTTP/2"), std::string::npos)
        << out->error_detail;
  }
  EXPECT_EQ(loop.close(), 0) << "a uv handle was left open";
}

}  // namespace
}  // namespace celeriac::testing::integration
