#include "world/real/curl_http.hpp"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/text.hpp"
#include "world/url.hpp"

namespace drctl::world::real {

namespace {

constexpr std::size_t kMaxHead = 64 * 1024;
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;
// How long one wait for the sockets lasts at most, so a cancel is seen this soon: a blocking
// curl_easy_perform calls the progress callback only about once a second while nothing arrives.
constexpr int kPollMs = 50;

const char* const kHeadTooLarge = "response line or headers larger than 64 KiB";
const char* const kBodyTooLarge = "response body larger than 64 MiB";

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Multi = std::unique_ptr<CURLM, MultiDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

std::string bracketed(const std::string& host) { return host.find(':') != std::string::npos ? "[" + host + "]" : host; }

/// How far a transfer got, for the words of a timeout or a cancel.
enum class Stage { Connecting, Handshake, Waiting };

/// What the callbacks collect while the transfer runs.
struct Transfer {
  explicit Transfer(const Cancel& c) : cancel(c) {}
  const Cancel& cancel;
  HttpResponse response;
  Stage stage = Stage::Connecting;
  std::size_t head_bytes = 0;  // of the current response head
  bool head_done = false;      // the final head ended: later header lines are a chunked body's trailers
  int head_status = 0;         // of the head being read (1xx heads are interim and dropped)
  std::string last_header;     // for obsolete line folding
  std::string limit;           // one of our limits stopped the transfer
};

/// One line of a response head (status line, header, or the blank line ending it).
std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (t.head_done) return n;
  t.head_bytes += n;
  if (t.head_bytes > kMaxHead) {
    t.limit = kHeadTooLarge;
    return 0;
  }
  std::string line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new head: an interim one's headers are not the answer's
    t.response.headers.clear();
    t.last_header.clear();
    t.head_bytes = n;
    const std::size_t sp = line.find(' ');
    t.head_status = sp == std::string::npos ? 0 : std::atoi(line.c_str() + sp + 1);
    return n;
  }
  auto& headers = t.response.headers;
  if (line.empty()) {
    t.head_done = t.head_status >= 200 || t.head_status == 101;
    return n;
  }
  if ((line[0] == ' ' || line[0] == '\t') && !t.last_header.empty()) {
    headers[t.last_header] += " " + text::trim(line);
    return n;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) return n;  // libcurl took it; it names nothing
  t.last_header = text::lower(line.substr(0, colon));
  const std::string value = text::trim(line.substr(colon + 1));
  auto [it, fresh] = headers.emplace(t.last_header, value);
  if (!fresh) it->second += ", " + value;
  return n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (t.response.body.size() + n > kMaxBody) {
    t.limit = kBodyTooLarge;
    return 0;
  }
  t.response.body.append(data, n);
  return n;
}

/// Called by libcurl at least once per perform: a non-zero answer aborts the transfer.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Transfer*>(user)->cancel.requested() ? 1 : 0;
}

/// libcurl's trace, only to see how far the transfer got: its TLS bytes flow once the socket is
/// connected, the request's head once the handshake is done. (libcurl 7.88 records its
/// CONNECT_TIME for https only after the handshake, so that cannot tell.)
int on_trace(CURL*, curl_infotype type, char*, std::size_t, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  if (type == CURLINFO_HEADER_OUT) t.stage = Stage::Waiting;
  else if ((type == CURLINFO_SSL_DATA_OUT || type == CURLINFO_SSL_DATA_IN) && t.stage == Stage::Connecting) t.stage = Stage::Handshake;
  return 0;
}

/// The TLS context, before the handshake: the system's CAs, as OpenSSL finds them by default
/// (honouring SSL_CERT_FILE / SSL_CERT_DIR), so the verdict reported is against those.
CURLcode on_ssl_ctx(CURL*, void* ssl_ctx, void*) {
  SSL_CTX_set_default_verify_paths(static_cast<SSL_CTX*>(ssl_ctx));
  return CURLE_OK;
}

/// The names a certificate is for: its subjectAltName DNS entries, else its subject's CN.
std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> names;
  if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const auto* s = name->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) names.emplace_back(cn);
  }
  return names;
}

/// The server's own certificate (the first of the chain libcurl recorded), parsed from its PEM.
std::unique_ptr<X509, decltype(&X509_free)> leaf_certificate(CURL* easy) {
  std::unique_ptr<X509, decltype(&X509_free)> none(nullptr, &X509_free);
  curl_certinfo* info = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &info) != CURLE_OK || !info || info->num_of_certs < 1) return none;
  for (const curl_slist* field = info->certinfo[0]; field; field = field->next) {
    if (std::strncmp(field->data, "Cert:", 5) != 0) continue;
    std::unique_ptr<BIO, decltype(&BIO_free)> pem(BIO_new_mem_buf(field->data + 5, -1), &BIO_free);
    if (!pem) return none;
    return {PEM_read_bio_X509(pem.get(), nullptr, nullptr, nullptr), &X509_free};
  }
  return none;
}

/// Fills the TLS fields of `r` from the finished handshake.
void report_certificate(CURL* easy, HttpResponse& r) {
  auto cert = leaf_certificate(easy);
  if (cert) r.tls_names = dns_names(cert.get());
  long verdict = X509_V_OK;
  curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &verdict);
  r.tls_trusted = cert && verdict == X509_V_OK;
  if (!r.tls_trusted) r.tls_verify_error = cert ? X509_verify_cert_error_string(verdict) : "no certificate";
}

/// What libcurl is given: the URL, naming the host asked for, and (with a Host header) the
/// CONNECT_TO entry that takes the connection to the URL's own address instead.
struct Target {
  std::string url;
  std::string connect_to;  // "" for none
};

/// The Target of `u` asked for as `host_header` (the URL's own host when empty): "" when the
/// header is a host[:port], else why not. A port is in the URL (and the Host header) only
/// when the header has one, so the Host header is the one given.
std::string target_of(const HttpUrl& u, const std::string& host_header, Target& out) {
  const std::string scheme = u.https ? "https://" : "http://";
  const std::string address = bracketed(u.host) + ":" + std::to_string(u.port);
  if (host_header.empty()) {
    out.url = scheme + address + u.target;
    return "";
  }
  if (host_header.find_first_of("\r\n") != std::string::npos) return "line break in the Host header";
  HttpUrl h;
  if (!parse_http_url(scheme + host_header, h).empty() || h.target != "/" ||
      !std::all_of(h.host.begin(), h.host.end(), [](unsigned char c) { return std::isalnum(c) || std::strchr(".-_:*", c); }))
    return "the Host header '" + host_header + "' is not a host name or address with an optional :port";
  out.url = scheme + host_header + u.target;
  out.connect_to = "::" + address;  // any host and port of this one transfer: no redirect is followed
  return "";
}

/// Runs the transfer in short waits, so the progress callback sees a cancel within kPollMs.
CURLcode perform(CURL* easy) {
  Multi multi(curl_multi_init());
  if (!multi || curl_multi_add_handle(multi.get(), easy) != CURLM_OK) return CURLE_OUT_OF_MEMORY;
  int running = 1;
  while (running) {
    if (curl_multi_perform(multi.get(), &running) != CURLM_OK) break;
    if (running) curl_multi_poll(multi.get(), nullptr, 0, kPollMs, nullptr);
  }
  CURLcode result = CURLE_RECV_ERROR;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left))
    if (msg->msg == CURLMSG_DONE) result = msg->data.result;
  curl_multi_remove_handle(multi.get(), easy);
  return result;
}

/// Where the transfer was when it stopped, for timeouts and cancels.
std::string phase(const Transfer& t, const HttpUrl& u) {
  if (t.stage == Stage::Waiting) return "waiting for the response";
  if (t.stage == Stage::Handshake) return "in the TLS handshake";
  return "connecting to " + bracketed(u.host) + ":" + std::to_string(u.port);
}

/// Why a transfer failed: our own words where the code always said them (timeouts, cancels,
/// limits, refused connections), else libcurl's (the words the curl tool prints).
std::string failure(CURL* easy, CURLcode rc, const Transfer& t, const HttpUrl& u, Duration timeout, const char* said) {
  if (!t.limit.empty()) return t.limit;
  if (rc == CURLE_FILESIZE_EXCEEDED) return kBodyTooLarge;
  if (rc == CURLE_ABORTED_BY_CALLBACK) return "cancelled " + phase(t, u);
  if (rc == CURLE_OPERATION_TIMEDOUT) return "timed out after " + std::to_string(timeout.count()) + " ms " + phase(t, u);
  std::string curl_says = said[0] ? said : curl_easy_strerror(rc);
  if (rc == CURLE_COULDNT_CONNECT) {
    long os_error = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_error);
    if (os_error) return "connect to " + bracketed(u.host) + ":" + std::to_string(u.port) + ": " + std::strerror(static_cast<int>(os_error));
  }
  // A server that is not HTTP (an SSH banner, a TLS port spoken to in plain text).
  if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_WEIRD_SERVER_REPLY) return "not an HTTP response: " + curl_says;
  return curl_says;
}

/// Everything but the URL's target: HTTP/1.1 without proxies or redirects, bounded by
/// `timeout`, with the callbacks filling `t` and libcurl's words in `said`.
void set_options(CURL* c, Transfer& t, Duration timeout, char* said) {
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect is the answer
  curl_easy_setopt(c, CURLOPT_PROXY, "");           // straight to the address, whatever http_proxy says
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<Duration::rep>(0, timeout.count())));
  curl_easy_setopt(c, CURLOPT_USERAGENT, "drctl");
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxBody));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, said);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_trace);  // to on_trace only, never to stderr
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &t);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
}

/// https: the handshake does not judge the certificate (report_certificate says what it is);
/// false when this libcurl cannot hand over its OpenSSL context.
bool set_tls_options(CURL* c) {
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
  return curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) == CURLE_OK;
}

}  // namespace

HttpResponse curl_http_get(const std::string& url, const std::string& host_header, Duration timeout, const Cancel& cancel) {
  HttpResponse failed;
  auto fail = [&](const std::string& why) {
    failed.error = url + ": " + why;
    return failed;
  };
  HttpUrl u;
  if (std::string why = parse_http_url(url, u); !why.empty()) return fail(why);
  Target target;
  if (std::string why = target_of(u, host_header, target); !why.empty()) return fail(why);

  global_init();
  Easy easy(curl_easy_init());
  Slist headers(curl_slist_append(nullptr, "Connection: close"));
  Slist connect_to(target.connect_to.empty() ? nullptr : curl_slist_append(nullptr, target.connect_to.c_str()));
  if (!easy || !headers || (!target.connect_to.empty() && !connect_to)) return fail("cannot set up libcurl");
  CURL* c = easy.get();
  Transfer t(cancel);
  char said[CURL_ERROR_SIZE] = "";
  set_options(c, t, timeout, said);
  curl_easy_setopt(c, CURLOPT_URL, target.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (connect_to) curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to.get());
  if (u.https && !set_tls_options(c)) return fail("this libcurl is not built with OpenSSL (drctl needs libcurl4-openssl)");

  const CURLcode rc = perform(c);
  if (rc != CURLE_OK) return fail(failure(c, rc, t, u, timeout, said));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  t.response.status = static_cast<int>(status);
  if (u.https) report_certificate(c, t.response);
  return std::move(t.response);
}

}  // namespace drctl::world::real
