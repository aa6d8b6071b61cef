#include "worker/http/curl_call.h"

#include <uv.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include "worker/http/http_reply_parts.h"

namespace celeriac::worker::http {

using balancer::HttpHeader;
using balancer::HttpResponse;
using balancer::HttpVersion;
using balancer::TransportError;

namespace {

long clampMs(std::chrono::milliseconds ms) {
  // 0 means "never time out" to curl; a spent deadline must mean the opposite.
  return static_cast<long>(std::max<std::chrono::milliseconds::rep>(1, ms.count()));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

long curlHttpVersion(HttpVersion version) {
  switch (version) {
    case HttpVersion::kHttp2:
      // Plain http://: HTTP/2 from the first byte (h2c prior knowledge), or from the
      // first reply on (the Upgrade, see h2cByUpgrade); https://: negotiated by ALPN
      // either way (CURLOPT_HTTP_VERSION docs).
      return h2cByUpgrade() ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    case HttpVersion::kHttp1:
      return CURL_HTTP_VERSION_1_1;
    case HttpVersion::kAuto:
      break;
  }
  return CURL_HTTP_VERSION_2TLS;  // h2 where TLS ALPN offers it, else HTTP/1.1
}

// Before each attempt to send (curl calls it again for its own re-sends): the first
// goes ahead, any later one is refused (curl_call.h, "Sent once").
int onPrereq(void* userp, char* /*primary_ip*/, char* /*local_ip*/, int /*primary_port*/,
             int /*local_port*/) noexcept {
  auto* c = static_cast<CurlCall*>(userp);
  if (c->sent) {
    c->resend_refused = true;
    return CURL_PREREQFUNC_ABORT;  // the transfer ends with CURLE_ABORTED_BY_CALLBACK
  }
  c->sent = true;
  return CURL_PREREQFUNC_OK;
}

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* userp) noexcept {
  auto* c = static_cast<CurlCall*>(userp);
  const std::size_t n = size * count;
  if (c->response.body.size() + n > c->max_body_bytes) {
    c->body_too_large = true;
    return 0;  // CURLE_WRITE_ERROR
  }
  c->response.body.append(data, n);
  return n;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* userp) noexcept {
  auto* c = static_cast<CurlCall*>(userp);
  const std::size_t n = size * count;
  const std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line: an interim 1xx or a redirect came before. Keep only the last
    // response's headers (CURLOPT_HEADERFUNCTION is called for every response).
    c->response.headers.clear();
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;  // blank line ending the block
  const std::string_view name = trim(line.substr(0, colon));
  const std::string_view value = trim(line.substr(colon + 1));
  if (headerNameIs(name, "content-length")) {
    // Size the body once, to what the server announced (never past our cap), instead
    // of growing it by doubling.
    std::size_t announced = 0;
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), announced);
    if (ec == std::errc{} && p == value.data() + value.size()) {
      c->response.body.reserve(std::min(announced, c->max_body_bytes));
    }
  }
  c->response.headers.push_back(HttpHeader{std::string(name), std::string(value)});
  return n;
}

}  // namespace

// libcurl before 8.0.0 fails every transfer that REUSES a prior-knowledge connection
// ("Error in the HTTP2 framing layer": curl issue #10634, fixed by PR #10643 in 8.0.0),
// so with it no two calls could share a connection. Debian 12 ships 7.88.1: there the
// connection starts as HTTP/1.1 with "Upgrade: h2c" (its first request answered as
// stream 1, RFC 7540 section 3.2) and is HTTP/2, multiplexed, from then on.
bool h2cByUpgrade() {
  static const bool upgrade = curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
  return upgrade;
}

TransportError mapCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return TransportError::kConnectFailed;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::kTimeout;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransportError::kConnectionReset;
    default:
      return TransportError::kOther;
  }
}

void CurlCall::configure(CURL* e, balancer::HttpRequest& request,
                         const CurlCallSettings& settings) {
  easy = e;
  max_body_bytes = settings.max_body_bytes;
  started_ns = uv_hrtime();
  body = std::move(request.body);
  for (const auto& h : request.headers) {
    const std::string line = h.name + ": " + h.value;
    headers = curl_slist_append(headers, line.c_str());
  }
  // Without this curl sends "Expect: 100-continue" for bodies over 1 KiB on HTTP/1.1 and
  // waits up to a second for the interim answer (everything.curl.dev, "Expect: 100").
  headers = curl_slist_append(headers, "Expect:");

  const balancer::HttpConnectionPolicy& policy = request.connection;
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, this);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, curlHttpVersion(policy.version));
  const bool tls = request.url.starts_with("https://");
  if (policy.version == HttpVersion::kHttp2 || (policy.version == HttpVersion::kAuto && tls)) {
    // Wait for a connection being set up to say whether it multiplexes, instead of
    // opening one connection per transfer that starts meanwhile. Never for plain
    // HTTP/1.1: it would learn that only from a reply, and a slow first reply would
    // hold every other transfer back.
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  }
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!settings.ca_file->empty()) curl_easy_setopt(e, CURLOPT_CAINFO, settings.ca_file->c_str());
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode
  curl_easy_setopt(e, CURLOPT_USERAGENT, settings.user_agent->c_str());
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, clampMs(request.connect_timeout));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, clampMs(request.total_timeout));
  // curl's default receive buffer is 16 KiB per transfer, held while the call waits;
  // LLM replies are a few KiB and arrive in pieces of any size.
  if (settings.receive_buffer_bytes > 0) {
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, settings.receive_buffer_bytes);
  }
  // The upload buffer (64 KiB by default) carries HTTP/2 request bodies; curl's minimum
  // is enough for a prompt and still streams a large one.
  curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16L * 1024L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error.data());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &onBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &onHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &onPrereq);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, this);
  if (request.method == "GET") {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method != "POST") {
      // curl copies the string (CURLOPT_CUSTOMREQUEST docs), so the request may go.
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method == "POST" || !body.empty()) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  }
}

HttpResponse CurlCall::finish(CURLcode code) {
  HttpResponse resp = std::move(response);
  resp.elapsed = elapsed();
  if (code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    resp.status = static_cast<int>(status);
    return resp;
  }
  resp.error = body_too_large ? TransportError::kOther : mapCurlError(code);
  resp.error_detail = curl_easy_strerror(code);
  if (resend_refused) {
    // The connection died under the request before any reply byte; the server may
    // have read it, so it is not sent again here.
    resp.error = TransportError::kConnectionReset;
    resp.error_detail =
        "connection lost before the reply (the request may have reached the server; "
        "libcurl's own re-send refused)";
  } else if (body_too_large) {
    resp.error_detail += ": response body over " + std::to_string(max_body_bytes) + " bytes";
  } else if (error[0] != '\0') {
    resp.error_detail.append(": ").append(error.data());
  }
  resp.status = 0;
  resp.headers.clear();
  resp.body.clear();
  return resp;
}

std::chrono::microseconds CurlCall::elapsed() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::nanoseconds(uv_hrtime() - started_ns));
}

}  // namespace celeriac::worker::http
