// Checks made from another host: verify.ingress with `from:` runs curl on that host over SSH
// (world::real::HostNetwork), so what answers is what that host reaches. The visitor is a
// network namespace the test makes, with its own sshd and an nginx on the namespace's own
// loopback, which nothing outside it reaches; drctl runs in another namespace. The expected
// answers are what nginx was configured to say, the certificate names those openssl was told,
// and the error curl itself prints for an address where nothing listens.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/visitor_lab.hpp"

namespace {

namespace fs = std::filesystem;

/// nginx in namespace `ns` on its 127.0.0.1:80 and :443: each named site answers "HOST here"
/// over HTTP, anything over HTTPS "HOST over tls" with the certificate `cert`.
struct Nginx {
  std::unique_ptr<support::Process> process;
  Nginx(const std::string& ns, const fs::path& dir, const fs::path& cert, const fs::path& key) {
    fs::create_directories(dir / "tmp");
    const std::string d = dir.string();
    support::write_file(dir / "nginx.conf",
                        "pid " + d + "/nginx.pid;\nevents {}\nhttp {\n  access_log off;\n"
                        "  client_body_temp_path " + d + "/tmp/body;\n  proxy_temp_path " + d + "/tmp/proxy;\n"
                        "  fastcgi_temp_path " + d + "/tmp/fastcgi;\n  uwsgi_temp_path " + d + "/tmp/uwsgi;\n"
                        "  scgi_temp_path " + d + "/tmp/scgi;\n"
                        "  server { listen 127.0.0.1:80 default_server; return 404 \"no such site\\n\"; }\n"
                        "  server { listen 127.0.0.1:80; server_name www.example.test other.example.test; "
                        "return 200 \"$host here\\n\"; }\n"
                        "  server { listen 127.0.0.1:443 ssl; ssl_certificate " + cert.string() + "; ssl_certificate_key " +
                            key.string() + "; return 200 \"$host over tls\\n\"; }\n}\n");
    process = std::make_unique<support::Process>(support::NetnsLab::in(
        ns, {"nginx", "-p", d, "-c", (dir / "nginx.conf").string(), "-e", d + "/error.log", "-g", "daemon off;"}));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (support::run(support::NetnsLab::in(ns, {"curl", "-s", "-o", "/dev/null", "http://127.0.0.1/"})).exit_code != 0) {
      if (!process->running() || std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("nginx did not start: " + process->err_so_far());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

}  // namespace

TEST_CASE("verify.ingress from a visitor: what only the visitor reaches, the certificate's names, curl's own error") {
  support::VisitorLab lab("public-path");
  support::TempDir& t = lab.dir;
  // A certificate for www and alt, not for other.
  support::expect_exit(support::run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", (t / "key.pem").string(),
                                     "-out", (t / "cert.pem").string(), "-days", "2", "-subj", "/CN=www.example.test", "-addext",
                                     "subjectAltName=DNS:www.example.test,DNS:alt.example.test"}),
                       0);
  Nginx nginx(lab.visitor_ns(), t / "nginx", t / "cert.pem", t / "key.pem");
  auto check = [&](const std::string& name, const std::string& with) { return lab.run_step(name, "verify.ingress", with); };
  const std::string www = "{host: www.example.test, expect: 'www.example.test', tls: true}";

  // From the visitor: nginx answers, over TLS too, with a certificate naming the host.
  auto r = check("from-visitor", "{address: 127.0.0.1, from: visitor, timeout: 10s, interval: 1s, hosts: [" + www + "]}");
  CHECK_MESSAGE(r.exit_code == 0, r.describe());

  // From drctl's machine the same address is its own loopback, where nothing listens.
  r = check("from-drctl", "{address: 127.0.0.1, timeout: 2s, interval: 1s, hosts: [" + www + "]}");
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("through 127.0.0.1: www.example.test") != std::string::npos, r.err);

  // A host the certificate does not name: the names openssl put in it.
  r = check("wrong-name", "{address: 127.0.0.1, from: visitor, timeout: 2s, interval: 1s, hosts: [{host: other.example.test, "
                          "expect: 'other.example.test', tls: true}]}");
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("through 127.0.0.1 from visitor: https://other.example.test: the certificate is not for this host "
                           "(it names www.example.test, alt.example.test)") != std::string::npos,
                r.err);

  // Asked for a trusted chain: why not, in OpenSSL's words (`openssl verify` says the same).
  const auto verify = support::run({"openssl", "verify", (t / "cert.pem").string()});
  const std::string said_verify = verify.out + verify.err;
  const auto lookup = said_verify.find("lookup: ");
  REQUIRE_MESSAGE(lookup != std::string::npos, verify.describe());
  const std::string why = said_verify.substr(lookup + 8, said_verify.find('\n', lookup) - lookup - 8);  // "self-signed certificate"
  r = check("untrusted", "{address: 127.0.0.1, from: visitor, trusted: true, timeout: 2s, interval: 1s, hosts: [" + www + "]}");
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("https://www.example.test: the certificate is not trusted: " + why) != std::string::npos, r.err);

  // Where nothing listens on the visitor's side: curl's own message, as curl prints it there for
  // the same request (the site's name, reaching the address).
  const auto curl = support::run(support::NetnsLab::in(
      lab.visitor_ns(), {"curl", "-sS", "--max-time", "5", "--resolve", "www.example.test:80:127.0.0.2", "http://www.example.test/"}));
  REQUIRE(curl.exit_code == 7);
  std::string said = curl.err.substr(0, curl.err.find(" after "));  // "curl: (7) Failed to connect to www.example.test port 80"
  while (!said.empty() && (said.back() == '\n' || said.back() == ':')) said.pop_back();
  r = check("nothing-there", "{address: 127.0.0.2, from: visitor, timeout: 2s, interval: 1s, hosts: [" + www + "]}");
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK(r.err.find("through 127.0.0.2 from visitor: www.example.test: http://127.0.0.2/: curl: (7)") != std::string::npos);
  const std::string both = said + "\n" + r.err;
  CHECK_MESSAGE(r.err.find(said) != std::string::npos, both);
}
