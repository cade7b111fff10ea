// The real network's HTTP client (libcurl, world/real/curl_http.cpp) against a real nginx on
// 127.0.0.1: two TLS server blocks with their own certificates chosen by SNI, a redirect, a
// listener that never answers, and drctl's verify.ingress judging a certificate against the
// CAs it is told to trust. The oracles are what nginx was configured to say, the certificate
// `openssl s_client` is handed for the same name, what the curl tool reports for the same
// request and what `openssl verify` says of a certificate.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/real/socket_network.hpp"

using namespace std::chrono_literals;
using drctl::world::Cancel;
using drctl::world::HttpResponse;
using drctl::world::real::SocketNetwork;

namespace {

/// A socket listening on 127.0.0.1 that never accepts: connections complete in the kernel's
/// backlog and nothing is ever read or answered.
class SilentListener {
 public:
  explicit SilentListener(int backlog = 8) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, backlog) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

/// A port the kernel just gave out on [::1] (bound, then released) for nginx to listen on.
int free_port_v6() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  socklen_t len = sizeof addr;
  const bool bound = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (fd >= 0) ::close(fd);
  if (!bound) throw std::runtime_error("cannot bind [::1]");
  return ntohs(addr.sin6_port);
}

/// A loopback address of this test's own (127.X.Y.Z), so its nginx has ports 80 and 443 there
/// as a site's ingress VIP has, beside whatever else listens on 127.0.0.1.
std::string own_loopback_address() {
  static unsigned made = 0;
  const unsigned v = static_cast<unsigned>(::getpid()) * 16u + made++;
  return "127." + std::to_string(100 + v / 62500 % 150) + "." + std::to_string(v / 250 % 250 + 1) + "." + std::to_string(v % 250 + 1);
}

/// What `openssl verify` says of `cert` against the CAs in `ca_file`: "" when the chain holds,
/// else why not ("self-signed certificate").
std::string openssl_verdict(const std::string& ca_file, const std::string& cert) {
  const auto r = support::run({"openssl", "verify", "-CAfile", ca_file, cert});
  if (r.exit_code == 0) return "";
  const std::string said = r.out + r.err;
  const auto lookup = said.find("lookup: ");
  if (lookup == std::string::npos) throw std::runtime_error("openssl verify said: " + said);
  return said.substr(lookup + 8, said.find('\n', lookup) - lookup - 8);
}

/// The DNS names of the certificate in PEM `cert` as `openssl x509` prints them.
std::vector<std::string> names_in(const std::string& cert_pem_file) {
  const auto r = support::run({"openssl", "x509", "-in", cert_pem_file, "-noout", "-ext", "subjectAltName"});
  std::vector<std::string> names;
  std::istringstream words(r.out);
  for (std::string w; words >> w;) {
    if (w.back() == ',') w.pop_back();
    if (w.rfind("DNS:", 0) == 0) names.push_back(w.substr(4));
  }
  return names;
}

/// nginx on its own loopback address `address` (and on [::1]:`v6_port` for TLS): on 443 a server
/// block for a.test (its certificate signed by a test CA; the default one) and one for b.test
/// (self-signed); on 80 "plain for HOST" for a.test and b.test, and a redirect at /old.
struct Site {
  support::TempDir dir{"curl-http"};
  std::string address = own_loopback_address();
  int v6_port = free_port_v6();
  std::unique_ptr<support::Process> nginx;

  Site() {
    auto ok = [](const support::RunResult& r) { REQUIRE_MESSAGE(r.exit_code == 0, r.describe()); };
    const std::string d = dir.str();
    ok(support::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                     d + "/ca.key", "-out", d + "/ca.pem", "-days", "2", "-subj", "/CN=drctl test CA"}));
    ok(support::run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                     d + "/a.key", "-out", d + "/a.csr", "-subj", "/CN=a.test"}));
    support::write_file(dir / "a.ext", "subjectAltName=DNS:a.test,DNS:*.a.test\n");
    ok(support::run({"openssl", "x509", "-req", "-in", d + "/a.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
                     "-CAcreateserial", "-out", d + "/a.pem", "-days", "2", "-extfile", d + "/a.ext"}));
    ok(support::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                     d + "/b.key", "-out", d + "/b.pem", "-days", "2", "-subj", "/CN=b.test", "-addext",
                     "subjectAltName=DNS:b.test"}));
    std::filesystem::create_directories(dir / "tmp");
    const std::string s = address + ":443", h = address + ":80", v6 = "[::1]:" + std::to_string(v6_port);
    support::write_file(
        dir / "nginx.conf",
        "pid " + d + "/nginx.pid;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path " + d +
            "/tmp/body;\n  proxy_temp_path " + d + "/tmp/proxy;\n  fastcgi_temp_path " + d + "/tmp/fastcgi;\n  uwsgi_temp_path " +
            d + "/tmp/uwsgi;\n  scgi_temp_path " + d + "/tmp/scgi;\n" +
            "  server { listen " + s + " ssl default_server; listen " + v6 + " ssl default_server; server_name a.test; "
            "ssl_certificate " + d + "/a.pem; ssl_certificate_key " + d + "/a.key; return 200 \"a over tls for $host\\n\"; }\n"
            "  server { listen " + s + " ssl; listen " + v6 + " ssl; server_name b.test; ssl_certificate " + d +
            "/b.pem; ssl_certificate_key " + d + "/b.key; return 200 \"b over tls for $host\\n\"; }\n"
            "  server { listen " + h + "; server_name a.test b.test; location = /old { return 301 https://a.test/new; } "
            "location / { return 200 \"plain for $host\\n\"; } }\n}\n");
    nginx = std::make_unique<support::Process>(
        std::vector<std::string>{"nginx", "-p", d, "-c", d + "/nginx.conf", "-e", d + "/error.log", "-g", "daemon off;"});
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (support::run({"curl", "-s", "-o", "/dev/null", "http://" + h + "/"}).exit_code != 0) {
      if (!nginx->running() || std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("nginx did not start: " + nginx->err_so_far());
      std::this_thread::sleep_for(20ms);
    }
  }
  ~Site() {
    nginx->signal(SIGQUIT);  // nginx's graceful stop
    nginx->wait(10s);
  }

  std::string https_url(const std::string& path = "/") const { return "https://" + address + path; }
  std::string http_url(const std::string& path = "/") const { return "http://" + address + path; }

  /// The DNS names of the certificate nginx hands `openssl s_client` for SNI `name` ("": none).
  std::vector<std::string> presented(const std::string& name) const {
    const std::string sni = name.empty() ? "-noservername" : "-servername " + name;
    const auto r = support::run({"sh", "-c", "openssl s_client -connect " + address + ":443 " + sni +
                                                 " </dev/null 2>/dev/null | openssl x509 -out " + dir.str() + "/presented.pem"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    return names_in(dir.str() + "/presented.pem");
  }
};

}  // namespace

TEST_CASE("curl http: SNI and the Host header through the address pick nginx's server block and its certificate") {
  Site site;
  Cancel cancel;
  SocketNetwork net(cancel);
  const std::vector<std::string> a = site.presented("a.test"), b = site.presented("b.test");
  REQUIRE(a == std::vector<std::string>{"a.test", "*.a.test"});  // openssl sees two different certificates
  REQUIRE(b == std::vector<std::string>{"b.test"});

  HttpResponse r = net.http_get(site.https_url("/x?y=1"), "b.test", 5000ms);
  CHECK_MESSAGE(r.status == 200, r.error);
  CHECK(r.body == "b over tls for b.test\n");  // nginx's block for b.test, with b.test as Host
  CHECK(r.tls_names == b);
  CHECK_FALSE(r.tls_trusted);

  r = net.http_get(site.https_url(), "www.a.test", 5000ms);
  CHECK_MESSAGE(r.status == 200, r.error);
  CHECK(r.body == "a over tls for www.a.test\n");  // no block names it: the default one
  CHECK(r.tls_names == site.presented("www.a.test"));

  // No name: no SNI (an address), the default block's certificate, the address as Host.
  r = net.http_get(site.https_url(), "", 5000ms);
  CHECK_MESSAGE(r.status == 200, r.error);
  CHECK(r.body == "a over tls for " + site.address + "\n");
  CHECK(r.tls_names == site.presented(""));

  // The same through IPv6: the address is bracketed where libcurl connects.
  r = net.http_get("https://[::1]:" + std::to_string(site.v6_port) + "/", "b.test", 5000ms);
  CHECK_MESSAGE(r.status == 200, r.error);
  CHECK(r.body == "b over tls for b.test\n");
  CHECK(r.tls_names == b);

  // Plain HTTP with a Host header; a name with a port is the Host as written.
  r = net.http_get(site.http_url(), "b.test", 5000ms);
  CHECK_MESSAGE(r.status == 200, r.error);
  CHECK(r.body == "plain for b.test\n");
  r = net.http_get(site.http_url(), "a.test:8080", 5000ms);
  CHECK(r.body == "plain for a.test\n");  // nginx's $host is the name without the port
  CHECK(net.http_get(site.http_url(), "a.test/evil", 5000ms).status == 0);
}

TEST_CASE("curl http: a redirect is reported with its Location, not followed") {
  Site site;
  Cancel cancel;
  SocketNetwork net(cancel);
  const HttpResponse r = net.http_get(site.http_url("/old"), "a.test", 5000ms);
  // curl asked the same (a.test reached at 127.0.0.1) says where the redirect points.
  const auto curl = support::run({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--connect-to",
                                  "::" + site.address + ":80", "http://a.test/old"});
  REQUIRE_MESSAGE(curl.exit_code == 0, curl.describe());
  CHECK(curl.out == "301 https://a.test/new");
  CHECK_MESSAGE(r.status == 301, r.error);
  CHECK(r.headers.at("location") == "https://a.test/new");
  CHECK(r.body.find("301 Moved Permanently") != std::string::npos);  // nginx's page, not a.test/new's answer
}

TEST_CASE("curl http: a listener that never answers times out, in the handshake for https") {
  SilentListener silent;
  Cancel cancel;
  SocketNetwork net(cancel);
  const std::string port = std::to_string(silent.port());
  auto start = std::chrono::steady_clock::now();
  HttpResponse r = net.http_get("http://127.0.0.1:" + port + "/", "a.test", 500ms);
  CHECK(std::chrono::steady_clock::now() - start >= 490ms);
  CHECK(r.status == 0);
  CHECK(r.error == "http://127.0.0.1:" + port + "/: timed out after 500 ms waiting for the response");

  start = std::chrono::steady_clock::now();
  r = net.http_get("https://127.0.0.1:" + port + "/", "a.test", 500ms);
  CHECK(std::chrono::steady_clock::now() - start >= 490ms);
  CHECK(r.status == 0);
  CHECK(r.error == "https://127.0.0.1:" + port + "/: timed out after 500 ms in the TLS handshake");

  // The curl tool gives up on the same listener too (exit 28, its "timed out").
  const auto curl = support::run({"curl", "-sS", "--max-time", "1", "http://127.0.0.1:" + port + "/"});
  CHECK(curl.exit_code == 28);
}

TEST_CASE("curl http: a connection that is never accepted times out while connecting") {
  // A backlog of one, taken by a connection of the test's own: Linux drops the next SYNs, so
  // a connect neither completes nor is refused.
  SilentListener full(0);
  const int filler = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(full.port()));
  REQUIRE(::connect(filler, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string port = std::to_string(full.port());
  // The oracle: the curl tool's connect to it ends in its connect timeout (exit 28), not a refusal (7).
  const auto curl = support::run({"curl", "-sS", "--connect-timeout", "1", "http://127.0.0.1:" + port + "/"});
  REQUIRE_MESSAGE(curl.exit_code == 28, curl.describe());

  Cancel cancel;
  SocketNetwork net(cancel);
  const HttpResponse r = net.http_get("https://127.0.0.1:" + port + "/", "a.test", 500ms);
  CHECK(r.status == 0);
  CHECK(r.error == "https://127.0.0.1:" + port + "/: timed out after 500 ms connecting to 127.0.0.1:" + port);
  ::close(filler);
}

TEST_CASE("curl http: verify.ingress trusts what the CA store holds and refuses a certificate it does not") {
  Site site;
  const support::TempDir t("curl-ingress");
  const std::string ca = site.dir.str() + "/ca.pem";
  // drctl's own verify.ingress through the site's address; SSL_CERT_FILE is the CA store
  // OpenSSL reads by default, here only the test CA.
  auto check = [&](const std::string& name, const std::string& host, const std::string& store) {
    support::write_file(t / (name + ".yaml"),
                        "steps:\n  - id: check\n    uses: verify.ingress\n    with: {address: '" + site.address +
                            "', trusted: true, timeout: 1s, interval: 1s, hosts: [{host: " + host + ", expect: 'for " + host +
                            "', tls: true}]}\n");
    return support::drctl({"run", (t / (name + ".yaml")).string(), "--state", (t / ("state-" + name)).string()},
                          {{"SSL_CERT_FILE", store}});
  };
  const std::string a_pem = site.dir.str() + "/a.pem", b_pem = site.dir.str() + "/b.pem";
  REQUIRE(openssl_verdict(ca, a_pem) == "");
  const std::string b_in_ca = openssl_verdict(ca, b_pem), a_in_b = openssl_verdict(b_pem, a_pem);
  REQUIRE(!b_in_ca.empty());  // "self-signed certificate"
  REQUIRE(!a_in_b.empty());   // "unable to get local issuer certificate"

  auto r = check("trusted", "a.test", ca);
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  // The trust is the store's: one holding only b.test's certificate has no issuer of a.test's.
  r = check("other-store", "a.test", b_pem);
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("https://a.test: the certificate is not trusted: " + a_in_b) != std::string::npos, r.err);

  r = check("self-signed", "b.test", ca);
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("https://b.test: the certificate is not trusted: " + b_in_ca) != std::string::npos, r.err);

  // A name no certificate holds: nginx's default block answers with a.test's, and the check
  // names what that certificate is for (as openssl s_client sees it).
  const std::vector<std::string> fallback = site.presented("c.test");
  std::string names;
  for (const auto& n : fallback) names += (names.empty() ? "" : ", ") + n;
  r = check("other-name", "c.test", ca);
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("https://c.test: the certificate is not for this host (it names " + names + ")") != std::string::npos,
                r.err);
}
