// SocketNetwork against real sockets on 127.0.0.1: TCP probes, HTTP GETs served by a tiny
// server thread (Content-Length, chunked, until-close, timeouts, cancel) and resolution.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/run.hpp"
#include "world/real/socket_network.hpp"
#include "world/url.hpp"

using namespace drctl::world;
using drctl::world::real::SocketNetwork;
using std::chrono::milliseconds;

namespace {

double seconds_since(Clock_::time_point start) {
  return std::chrono::duration<double>(Clock_::now() - start).count();
}

// A TCP socket listening on 127.0.0.1 on an ephemeral port.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port on 127.0.0.1 that nothing listens on (bound, then released).
int closed_port() {
  Listener l;
  return l.port();
}

// Serves one connection on 127.0.0.1: reads the request head, then sends `pieces` with a short
// pause between them (so the client sees the response arrive in parts) and closes, unless
// `keep_open` (then the connection stays open until the server is destroyed). With no pieces
// the server never answers.
class TestServer {
 public:
  explicit TestServer(std::vector<std::string> pieces, bool keep_open = false)
      : pieces_(std::move(pieces)), keep_open_(keep_open), thread_([this] { serve(); }) {}
  ~TestServer() {
    stop_ = true;
    thread_.join();
  }
  int port() const { return listener_.port(); }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port()) + path; }
  std::string request() {
    std::lock_guard<std::mutex> lock(mu_);
    return request_;
  }

 private:
  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void serve() {
    if (!wait_readable(listener_.fd())) return;
    int conn = ::accept(listener_.fd(), nullptr, nullptr);
    if (conn < 0) return;
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos && wait_readable(conn)) {
      ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<std::size_t>(n));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      request_ = req;
    }
    for (const std::string& piece : pieces_) {
      ::send(conn, piece.data(), piece.size(), MSG_NOSIGNAL);
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (pieces_.empty() || keep_open_)
      while (!stop_) std::this_thread::sleep_for(milliseconds(10));
    ::close(conn);
  }

  Listener listener_;
  std::vector<std::string> pieces_;
  bool keep_open_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string request_;
  std::thread thread_;
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// What the curl tool says about `url` after its "curl: (N) " ("" when it succeeds).
std::string curl_says(const std::string& url) {
  const auto r = support::run({"curl", "-sS", "--max-time", "5", "-o", "/dev/null", url});
  std::string said = r.err.substr(0, r.err.find('\n'));
  if (said.rfind("curl: (", 0) == 0) said = said.substr(said.find(") ") + 2);
  REQUIRE_MESSAGE(!said.empty(), r.describe());
  return said;
}

}  // namespace

TEST_CASE("network: tcp_probe finds a listening port and fails fast on a closed one") {
  Cancel cancel;
  SocketNetwork net(cancel);
  Listener listening;
  CHECK(net.tcp_probe("127.0.0.1", listening.port(), milliseconds(2000)));
  CHECK(net.tcp_probe("127.0.0.1", listening.port(), Duration::zero()));  // no limit

  const int closed = closed_port();
  const auto start = Clock_::now();
  CHECK_FALSE(net.tcp_probe("127.0.0.1", closed, milliseconds(120000)));
  CHECK(seconds_since(start) < 60);  // refused, not its two-minute limit waited out
  CHECK_FALSE(net.tcp_probe("127.0.0.1", 0, milliseconds(500)));
  CHECK_FALSE(net.tcp_probe("127.0.0.1", 70000, milliseconds(500)));
}

TEST_CASE("network: http_get with Content-Length and an overridden Host header") {
  Cancel cancel;
  SocketNetwork net(cancel);
  // The connection stays open: the client must stop after Content-Length bytes.
  TestServer server({"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Test:  Value  \r\nSet-Cookie: a\r\n",
                     "Set-Cookie: b\r\n\r\nhello", " world"},
                    true);
  HttpResponse r = net.http_get(server.url("/health?full=1#frag"), "app.example.test", milliseconds(5000));
  CHECK(r.error == "");  // stopped after Content-Length: waiting for the close would time out
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");
  CHECK(r.headers["content-length"] == "11");
  CHECK(r.headers["x-test"] == "Value");
  CHECK(r.headers["set-cookie"] == "a, b");
  const std::string req = server.request();
  INFO(req);
  CHECK(req.rfind("GET /health?full=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(contains(req, "\r\nHost: app.example.test\r\n"));
  CHECK(contains(req, "\r\nConnection: close\r\n"));
}

TEST_CASE("network: http_get sends host:port as Host by default") {
  Cancel cancel;
  SocketNetwork net(cancel);
  TestServer server({"HTTP/1.1 204 No Content\r\n\r\n"});
  HttpResponse r = net.http_get(server.url(""), "", milliseconds(5000));
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  const std::string req = server.request();
  CHECK(req.rfind("GET / HTTP/1.1\r\n", 0) == 0);
  CHECK(contains(req, "\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"));
}

TEST_CASE("network: http_get decodes a chunked body arriving in pieces") {
  Cancel cancel;
  SocketNetwork net(cancel);
  TestServer server({"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n", "5;ext=1\r\nhel",
                     "lo\r\n", "7\r\n, world\r\n", "0\r\nX-Trailer: t\r\n\r\n"},
                    true);
  HttpResponse r = net.http_get(server.url("/missing"), "", milliseconds(5000));
  CHECK(r.error == "");
  CHECK(r.status == 404);
  CHECK(r.body == "hello, world");
  CHECK(r.headers["transfer-encoding"] == "chunked");
  CHECK(r.headers.count("x-trailer") == 0);  // a trailer is not a header of the answer
}

TEST_CASE("network: http_get reads a body until the server closes") {
  Cancel cancel;
  SocketNetwork net(cancel);
  TestServer server({"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ", "close"});
  HttpResponse r = net.http_get(server.url(), "", milliseconds(5000));
  CHECK(r.error == "");
  CHECK(r.status == 200);
  CHECK(r.body == "until close");
  CHECK(r.headers["content-type"] == "text/plain");
}

TEST_CASE("network: http_get skips an interim 100 Continue") {
  Cancel cancel;
  SocketNetwork net(cancel);
  TestServer server({"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"});
  HttpResponse r = net.http_get(server.url(), "", milliseconds(5000));
  CHECK(r.status == 201);
  CHECK(r.body == "ok");
}

TEST_CASE("network: http_get times out on a server that never answers") {
  Cancel cancel;
  SocketNetwork net(cancel);
  TestServer server({});
  const auto start = Clock_::now();
  HttpResponse r = net.http_get(server.url(), "", milliseconds(300));
  const double took = seconds_since(start);
  CHECK(r.status == 0);
  CHECK(contains(r.error, "timed out after 300 ms"));
  CHECK(took >= 0.29);
}

TEST_CASE("network: http_get returns early when cancelled") {
  Cancel cancel;
  SocketNetwork net(cancel);
  TestServer server({});
  std::thread canceller([&cancel] {
    std::this_thread::sleep_for(milliseconds(200));
    cancel.request();
  });
  HttpResponse r = net.http_get(server.url(), "", milliseconds(10000));
  canceller.join();
  CHECK(r.status == 0);
  CHECK(contains(r.error, "cancelled"));  // ended by the cancel, not by its 10 s limit
  CHECK_FALSE(net.tcp_probe("127.0.0.1", server.port(), milliseconds(1000)));
}

TEST_CASE("network: http_get reports failures as status 0 with an error") {
  Cancel cancel;
  SocketNetwork net(cancel);
  const int closed = closed_port();
  HttpResponse refused = net.http_get("http://127.0.0.1:" + std::to_string(closed) + "/", "", milliseconds(2000));
  CHECK(refused.status == 0);
  CHECK(contains(refused.error, "Connection refused"));

  HttpResponse ftp = net.http_get("ftp://127.0.0.1/", "", milliseconds(2000));
  CHECK(ftp.status == 0);
  CHECK(contains(ftp.error, "only http:// and https://"));

  CHECK(net.http_get("http://:80/", "", milliseconds(500)).status == 0);
  CHECK(net.http_get("http://127.0.0.1:99999/", "", milliseconds(500)).status == 0);
  CHECK(net.http_get("http://127.0.0.1:" + std::to_string(closed) + "/", "evil\r\nX: y", milliseconds(500)).status == 0);

  // Where libcurl's words are the curl tool's, the oracle is what curl prints for the same answer.
  {
    const std::vector<std::string> answer{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"};
    TestServer truncated(answer), for_curl(answer);
    HttpResponse r = net.http_get(truncated.url(), "", milliseconds(5000));
    CHECK(r.status == 0);
    CHECK_MESSAGE(contains(r.error, curl_says(for_curl.url())), r.error);  // "transfer closed with 5 bytes remaining to read"
  }
  {
    const std::vector<std::string> answer{"SSH-2.0-OpenSSH_9.2\r\n\r\n"};
    TestServer garbage(answer), for_curl(answer);
    HttpResponse r = net.http_get(garbage.url(), "", milliseconds(5000));
    CHECK(r.status == 0);
    CHECK(contains(r.error, "not an HTTP response: "));
    CHECK_MESSAGE(contains(r.error, curl_says(for_curl.url())), r.error);  // "Received HTTP/0.9 when not allowed"
  }
  {
    TestServer silent_close({""}), for_curl({""});
    HttpResponse r = net.http_get(silent_close.url(), "", milliseconds(5000));
    CHECK(r.status == 0);
    CHECK_MESSAGE(contains(r.error, curl_says(for_curl.url())), r.error);  // "Empty reply from server"
  }
}

TEST_CASE("network: http_get refuses a body over 64 MiB and a head over 64 KiB") {
  Cancel cancel;
  SocketNetwork net(cancel);
  const std::string mib(1024 * 1024, 'x');
  {
    // Announced by Content-Length: refused before the body is read.
    TestServer server({"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(65 * mib.size()) + "\r\n\r\n"}, true);
    HttpResponse r = net.http_get(server.url(), "", milliseconds(10000));
    CHECK(r.status == 0);
    CHECK_MESSAGE(contains(r.error, "response body larger than 64 MiB"), r.error);
  }
  {
    // Read until the server closes: refused once 64 MiB have arrived.
    std::vector<std::string> pieces{"HTTP/1.0 200 OK\r\n\r\n"};
    for (int i = 0; i < 65; ++i) pieces.push_back(mib);
    TestServer server(pieces);
    HttpResponse r = net.http_get(server.url(), "", milliseconds(30000));
    CHECK(r.status == 0);
    CHECK_MESSAGE(contains(r.error, "response body larger than 64 MiB"), r.error);
  }
  {
    // 64 MiB exactly is still an answer.
    std::vector<std::string> pieces{"HTTP/1.0 200 OK\r\n\r\n"};
    for (int i = 0; i < 64; ++i) pieces.push_back(mib);
    TestServer server(pieces);
    HttpResponse r = net.http_get(server.url(), "", milliseconds(30000));
    CHECK_MESSAGE(r.status == 200, r.error);
    CHECK(r.body.size() == 64 * mib.size());
  }
  {
    TestServer server({"HTTP/1.1 200 OK\r\nX-Big: " + std::string(65 * 1024, 'h') + "\r\nContent-Length: 0\r\n\r\n"});
    HttpResponse r = net.http_get(server.url(), "", milliseconds(5000));
    CHECK(r.status == 0);
    CHECK_MESSAGE(contains(r.error, "response line or headers larger than 64 KiB"), r.error);
  }
}

TEST_CASE("network: resolve gives numeric addresses without duplicates") {
  Cancel cancel;
  SocketNetwork net(cancel);
  CHECK(net.resolve("127.0.0.1") == std::vector<std::string>{"127.0.0.1"});
  CHECK(net.resolve("::1") == std::vector<std::string>{"::1"});
  std::vector<std::string> local = net.resolve("localhost");
  CHECK(std::find(local.begin(), local.end(), "127.0.0.1") != local.end());
  std::vector<std::string> sorted = local;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
}

TEST_CASE("network: https GET through a real TLS server reports the certificate's names and trust") {
  // openssl s_server with a self-signed certificate for www.blog.test and *.apps.test.
  const std::string dir = "/tmp/drctl-tls-" + std::to_string(::getpid());
  support::run({"mkdir", "-p", dir});
  auto made = support::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                "-nodes", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "1",
                                "-subj", "/CN=blog.test", "-addext", "subjectAltName=DNS:www.blog.test,DNS:*.apps.test"});
  REQUIRE_MESSAGE(made.exit_code == 0, made.describe());
  const int port = closed_port();
  support::Process server({"openssl", "s_server", "-quiet", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                               dir + "/cert.pem", "-key", dir + "/key.pem", "-www"});
  Cancel cancel;
  SocketNetwork net(cancel);
  for (int i = 0; i < 100 && !net.tcp_probe("127.0.0.1", port, milliseconds(100)); ++i)
    std::this_thread::sleep_for(milliseconds(20));

  HttpResponse r = net.http_get("https://127.0.0.1:" + std::to_string(port) + "/", "www.blog.test", milliseconds(5000));
  CHECK_MESSAGE(r.status == 200, r.error);
  CHECK(r.tls_names == std::vector<std::string>{"www.blog.test", "*.apps.test"});
  CHECK_FALSE(r.tls_trusted);  // self-signed: the handshake works, the chain is not trusted
  CHECK(contains(r.tls_verify_error, "self-signed"));
  CHECK(tls_name_matches(r.tls_names, "WWW.blog.test"));
  CHECK(tls_name_matches(r.tls_names, "hackmd.apps.test"));
  CHECK_FALSE(tls_name_matches(r.tls_names, "a.b.apps.test"));
  CHECK_FALSE(tls_name_matches(r.tls_names, "blog.test"));

  // Plain HTTP to the TLS port: the server does not answer HTTP, and the error says so.
  HttpResponse plain = net.http_get("http://127.0.0.1:" + std::to_string(port) + "/", "", milliseconds(3000));
  CHECK(plain.status == 0);
  server.signal(SIGTERM);
  server.wait(std::chrono::seconds(5));
  support::run({"rm", "-rf", dir});
}
