#include "world/real/vsphere_soap.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <mutex>
#include <sstream>

#include "world/real/hypervisor_config.hpp"

namespace drctl::world::real {
namespace vsphere {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string leaf_thumbprint(X509_STORE_CTX* store) {
  X509* cert = X509_STORE_CTX_get0_cert(store);
  if (!cert) return "";
  unsigned char* der = nullptr;
  const int size = i2d_X509(cert, &der);
  if (size <= 0) return "";
  std::string t = sha256_thumbprint(der, static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return t;
}

// Replaces OpenSSL's chain verification when a thumbprint is pinned: the leaf certificate is
// accepted exactly when its SHA-256 matches; nothing else (issuer, dates, names) matters, as with
// an SSH host key. Without a pin it records the thumbprint and runs the normal verification.
int verify_pinned(X509_STORE_CTX* store, void* arg) {
  auto* pin = static_cast<Soap::Pin*>(arg);
  pin->seen = leaf_thumbprint(store);
  if (pin->expected.empty()) return X509_verify_cert(store);
  pin->mismatch = pin->seen != pin->expected;
  if (pin->mismatch) X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return pin->mismatch ? 0 : 1;
}

CURLcode install_verify(CURL*, void* ssl_ctx, void* arg) {
  SSL_CTX_set_cert_verify_callback(static_cast<SSL_CTX*>(ssl_ctx), verify_pinned, arg);
  return CURLE_OK;
}

// Records the leaf's thumbprint and accepts anything: for tls_thumbprint, which verifies nothing.
int record_only(X509_STORE_CTX* store, void* arg) {
  *static_cast<std::string*>(arg) = leaf_thumbprint(store);
  return 1;
}

CURLcode install_record(CURL*, void* ssl_ctx, void* arg) {
  SSL_CTX_set_cert_verify_callback(static_cast<SSL_CTX*>(ssl_ctx), record_only, arg);
  return CURLE_OK;
}

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct SinkState {
  const ByteSink* sink;
  std::int64_t bytes = 0;
  long status = 0;
  CURL* curl;
  std::string error_body;  // a non-200 answer's body, kept for the message
};

size_t to_sink(char* data, size_t size, size_t n, void* arg) {
  auto* s = static_cast<SinkState*>(arg);
  if (s->status == 0) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
  if (s->status != 200) {
    if (s->error_body.size() < 400) s->error_body.append(data, size * n);
    return size * n;
  }
  (*s->sink)(data, size * n);
  s->bytes += static_cast<std::int64_t>(size * n);
  return size * n;
}

size_t from_source(char* buf, size_t size, size_t n, void* arg) {
  return (*static_cast<const ByteSource*>(arg))(buf, size * n);
}

std::string first_line(std::string text) {
  const auto nl = text.find_first_of("\r\n");
  if (nl != std::string::npos) text.resize(nl);
  return text;
}

}  // namespace

std::string sha256_thumbprint(const unsigned char* der, std::size_t size) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(der, size, md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    if (i) out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string xsi_type(const pugi::xml_node& node) {
  for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
    const std::string_view name = a.name();
    if (name.size() > 5 && name.substr(name.size() - 5) == ":type") {
      std::string_view v = a.value();
      const auto colon = v.find(':');
      return std::string(colon == std::string_view::npos ? v : v.substr(colon + 1));
    }
  }
  return "";
}

pugi::xml_node child(const pugi::xml_node& node, std::string_view local_name) {
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    std::string_view n = c.name();
    const auto colon = n.find(':');
    if (colon != std::string_view::npos) n = n.substr(colon + 1);
    if (c.type() == pugi::node_element && n == local_name) return c;
  }
  return {};
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string moref(std::string_view tag, std::string_view type, std::string_view value) {
  std::string t(tag);
  return "<" + t + " type=\"" + xml_escape(type) + "\">" + xml_escape(value) + "</" + t + ">";
}

Fault parse_fault(const pugi::xml_node& envelope, bool* found) {
  Fault f;
  pugi::xml_node fault = child(child(envelope, "Envelope") ? child(envelope, "Envelope") : envelope, "Body");
  fault = child(fault, "Fault");
  if (found) *found = bool(fault);
  if (!fault) return f;
  f.message = child(fault, "faultstring").text().get();
  pugi::xml_node detail = child(fault, "detail");
  for (pugi::xml_node d = detail.first_child(); d; d = d.next_sibling()) {
    if (d.type() != pugi::node_element) continue;
    f.type = xsi_type(d);
    if (f.type.empty()) {  // <RestrictedVersionFault> without xsi:type: the element names it
      std::string_view n = d.name();
      const auto colon = n.find(':');
      if (colon != std::string_view::npos) n = n.substr(colon + 1);
      if (n.size() > 5 && n.substr(n.size() - 5) == "Fault") n.remove_suffix(5);
      f.type = std::string(n);
    }
    break;
  }
  return f;
}

std::string fault_line(const Fault& fault) {
  const std::string message = first_line(fault.message.empty() ? fault.type : fault.message);
  if (fault.type == "RestrictedVersion")
    return "the ESXi host's licence does not allow changes through the API (free ESXi): " + message;
  return message;
}

Soap::Soap(std::string sdk_url, std::string thumbprint, std::string ca_file, int timeout_seconds)
    : url_(std::move(sdk_url)), ca_file_(std::move(ca_file)), timeout_seconds_(timeout_seconds) {
  global_init();
  pin_.expected = std::move(thumbprint);
  curl_ = curl_easy_init();
  if (!curl_) throw std::runtime_error("vSphere at " + url_ + ": cannot start libcurl");
}

Soap::~Soap() { curl_easy_cleanup(curl_); }

std::string Soap::origin() const {
  const auto scheme = url_.find("://");
  const auto slash = url_.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? url_ : url_.substr(0, slash);
}

void Soap::prepare(const std::string& full_url, long timeout_seconds) {
  // reset keeps the connection, the TLS session and the cookies (the vmware_soap_session).
  curl_easy_reset(curl_);
  curl_easy_setopt(curl_, CURLOPT_URL, full_url.c_str());
  curl_easy_setopt(curl_, CURLOPT_COOKIEFILE, "");
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, static_cast<long>(timeout_seconds_));
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT, timeout_seconds);
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
  // A pinned certificate is the server's identity by itself (like an SSH host key); the name it
  // carries does not matter. Without a pin the name must match, as for any HTTPS server.
  curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, pin_.expected.empty() ? 2L : 0L);
  if (!ca_file_.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, ca_file_.c_str());
  curl_easy_setopt(curl_, CURLOPT_SSL_CTX_FUNCTION, install_verify);
  curl_easy_setopt(curl_, CURLOPT_SSL_CTX_DATA, &pin_);
  pin_.mismatch = false;
}

void Soap::throw_transport(CURLcode code, const char* errbuf) {
  const std::string why = *errbuf ? errbuf : curl_easy_strerror(code);
  if (pin_.mismatch)
    throw std::runtime_error("the certificate of vSphere at " + url_ + " changed: pinned " + pin_.expected +
                             ", the server now presents " + pin_.seen +
                             " (if the change is expected, pin the new one with `drctl hosts trust " + url_ +
                             " --fingerprint " + pin_.seen + " --site SITE`)");
  if (pin_.expected.empty() && (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE ||
                                code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_CONNECT_ERROR) &&
      !pin_.seen.empty())
    throw std::runtime_error("vSphere at " + url_ + " presents a certificate that is not trusted (" + first_line(why) +
                             "); its SHA-256 thumbprint is " + pin_.seen +
                             ": after comparing it with the server's, pin it with `drctl hosts trust " + url_ +
                             " --fingerprint " + pin_.seen + " --site SITE` or `thumbprint: " + pin_.seen +
                             "` under the site's hypervisor");
  throw std::runtime_error("vSphere at " + url_ + ": " + first_line(why));
}

long Soap::perform(curl_slist* headers, std::string& response) {
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode code = curl_easy_perform(curl_);
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) throw_transport(code, errbuf);
  long status = 0;
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

std::unique_ptr<pugi::xml_document> Soap::call(const std::string& body) {
  const std::string envelope =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
      "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
      "<soapenv:Body>" +
      body + "</soapenv:Body></soapenv:Envelope>";
  prepare(url_, timeout_seconds_);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: text/xml; charset=utf-8");
  headers = curl_slist_append(headers, "SOAPAction: \"urn:vim25/7.0\"");
  std::string response;
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, envelope.c_str());
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(envelope.size()));
  const long status = perform(headers, response);

  auto doc = std::make_unique<pugi::xml_document>();
  if (!doc->load_buffer(response.data(), response.size())) {
    throw std::runtime_error("vSphere at " + url_ + " answered HTTP " + std::to_string(status) +
                             " with something that is not SOAP: " + first_line(response.substr(0, 200)));
  }
  bool is_fault = false;
  Fault f = parse_fault(*doc, &is_fault);
  if (is_fault) throw SoapError(f, fault_line(f));
  if (status != 200)
    throw std::runtime_error("vSphere at " + url_ + " answered HTTP " + std::to_string(status));
  return doc;
}

std::int64_t Soap::get(const std::string& path_and_query, const ByteSink& sink) {
  const std::string full = origin() + path_and_query;
  prepare(full, 0);  // a disk may take long: no overall limit, the connect timeout still holds
  SinkState state{&sink, 0, 0, curl_, {}};
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, to_sink);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode code = curl_easy_perform(curl_);
  if (code != CURLE_OK) throw_transport(code, errbuf);
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &state.status);
  if (state.status != 200)
    throw std::runtime_error("vSphere at " + origin() + " answered HTTP " + std::to_string(state.status) + " for GET " +
                             path_and_query.substr(0, path_and_query.find('?')));
  return state.bytes;
}

void Soap::put(const std::string& path_and_query, const ByteSource& source, std::int64_t size) {
  const std::string full = origin() + path_and_query;
  prepare(full, 0);
  std::string response;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/octet-stream");
  curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  curl_easy_setopt(curl_, CURLOPT_READFUNCTION, from_source);
  curl_easy_setopt(curl_, CURLOPT_READDATA, &source);
  const long status = perform(headers, response);
  if (status < 200 || status >= 300)
    throw std::runtime_error("vSphere at " + origin() + " answered HTTP " + std::to_string(status) + " for PUT " +
                             path_and_query.substr(0, path_and_query.find('?')));
}

}  // namespace vsphere

std::string tls_thumbprint(const std::string& url, int timeout_seconds) {
  vsphere::global_init();
  CURL* curl = curl_easy_init();
  if (!curl) throw std::runtime_error("cannot start libcurl");
  std::string seen;
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);  // the handshake only: no request is sent
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(timeout_seconds));
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, vsphere::install_record);
  curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &seen);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK || seen.empty())
    throw std::runtime_error("no TLS server answered at " + url + ": " + (*errbuf ? errbuf : curl_easy_strerror(code)));
  return seen;
}

}  // namespace drctl::world::real
