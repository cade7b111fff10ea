// The vSphere API's transport: SOAP 1.1 envelopes over HTTPS with libcurl, the session cookie,
// SOAP faults turned into one-line errors, and the TLS trust rule (system CAs, a CA file, or a
// pinned SHA-256 thumbprint) checked during the handshake, before any request — and so before
// any credential — leaves this process. Also plain HTTPS GET/PUT on the same session for the
// datastore's /folder endpoint (VM disk files).
#pragma once
#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <pugixml.hpp>

#include "world/world.hpp"

namespace drctl::world::real::vsphere {

/// A SOAP fault as the server sent it: the fault's type (the xsi:type of the element under
/// <detail>, e.g. "InvalidLogin", "RestrictedVersion"; "" when there is none) and its faultstring.
struct Fault {
  std::string type;
  std::string message;
};

/// Thrown for a SOAP fault; what() is one line for the user (see fault_line).
class SoapError : public std::runtime_error {
 public:
  SoapError(Fault f, const std::string& line) : std::runtime_error(line), fault(std::move(f)) {}
  Fault fault;
};

/// The fault in a response envelope; nullopt-like empty type and message when it holds none.
/// `found` says whether there was a soapenv:Fault at all.
Fault parse_fault(const pugi::xml_node& envelope, bool* found);
/// One line for a fault: the server's own message, except for the faults a user needs told
/// what they mean (RestrictedVersion: a free ESXi licence refuses API writes).
std::string fault_line(const Fault& fault);

/// The xsi:type of an element, without its namespace prefix ("" when it has none). Servers
/// spell the prefix differently (vCenter "xsi:", govmomi "XMLSchema-instance:").
std::string xsi_type(const pugi::xml_node& node);
/// A child element by local name, whatever its prefix.
pugi::xml_node child(const pugi::xml_node& node, std::string_view local_name);
/// `text` escaped for XML character data and attribute values.
std::string xml_escape(std::string_view text);
/// `<TAG type="TYPE">VALUE</TAG>`: a managed object reference argument.
std::string moref(std::string_view tag, std::string_view type, std::string_view value);

/// One HTTPS session with a vSphere server. Not thread-safe: its owner serialises calls.
class Soap {
 public:
  /// `sdk_url` is https://HOST[:PORT]/sdk; `thumbprint` (normalized, "" for none) pins the
  /// certificate; else it is verified against `ca_file` or the system CAs.
  Soap(std::string sdk_url, std::string thumbprint, std::string ca_file, int timeout_seconds);
  ~Soap();
  Soap(const Soap&) = delete;
  Soap& operator=(const Soap&) = delete;

  /// POSTs one request — the element inside soapenv:Body, e.g. `<Login xmlns="urn:vim25">…` —
  /// and returns the response's document. Throws SoapError for a fault and std::runtime_error
  /// (one line, naming the URL) when the server cannot be reached or trusted.
  std::unique_ptr<pugi::xml_document> call(const std::string& body);
  /// GETs `path_and_query` (e.g. "/folder/vm/vm.vmdk?dcPath=DC0&dsName=ds") on the server into
  /// `sink`; returns the bytes received. Throws unless the status is 200.
  std::int64_t get(const std::string& path_and_query, const ByteSink& sink);
  /// PUTs `size` bytes from `source` to `path_and_query`. Throws unless the status is 2xx.
  void put(const std::string& path_and_query, const ByteSource& source, std::int64_t size);

  const std::string& url() const { return url_; }
  /// https://HOST:PORT, for the datastore endpoint.
  std::string origin() const;

  /// What the TLS check saw (the callback's state; public for the OpenSSL callback).
  struct Pin {
    std::string expected;  // normalized thumbprint, "" when not pinned
    std::string seen;      // the leaf certificate's thumbprint of the last handshake
    bool mismatch = false;
  };

 private:
  void prepare(const std::string& full_url, long timeout_seconds);
  [[noreturn]] void throw_transport(CURLcode code, const char* errbuf);
  /// Runs the prepared request with `headers` (freed here), the body into `response`; the HTTP
  /// status. Throws for a transport failure (TLS, connection, timeout).
  long perform(curl_slist* headers, std::string& response);

  std::string url_, ca_file_;
  int timeout_seconds_;
  Pin pin_;
  CURL* curl_ = nullptr;
};

/// The SHA-256 of a DER certificate as "AB:CD:…".
std::string sha256_thumbprint(const unsigned char* der, std::size_t size);

}  // namespace drctl::world::real::vsphere
