#include "world/real/socket_network.hpp"

#include "world/url.hpp"
#include "base/text.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace drctl::world::real {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kPollInterval{50};  // how often cancel is looked at, at most
constexpr std::size_t kMaxHead = 64 * 1024;
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;

/// An owned socket, closed on destruction.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

enum class Wait { Ready, TimedOut, Cancelled, Failed };

/// The end of one call: its timeout (none when zero) and the World's cancel.
class Deadline {
 public:
  Deadline(Duration timeout, const Cancel& cancel) : timeout_(timeout), cancel_(cancel) {
    if (timeout > Duration::zero()) end_ = Clock_::now() + timeout;
  }

  /// Waits until `fd` is ready for `events` (or has an error to report), in short slices.
  Wait wait(int fd, short events) const {
    for (;;) {
      if (cancel_.requested()) return Wait::Cancelled;
      auto slice = kPollInterval;
      if (end_) {
        auto left = std::chrono::ceil<milliseconds>(*end_ - Clock_::now());
        if (left <= milliseconds::zero()) return Wait::TimedOut;
        slice = std::min(slice, left);
      }
      pollfd p{fd, events, 0};
      int n = ::poll(&p, 1, static_cast<int>(slice.count()));
      if (n > 0) return Wait::Ready;
      if (n < 0 && errno != EINTR) return Wait::Failed;
    }
  }

  bool cancelled() const { return cancel_.requested(); }

  /// Why a wait did not end in Ready, for error messages.
  std::string why(Wait w, const std::string& doing) const {
    if (w == Wait::TimedOut) return "timed out after " + std::to_string(timeout_.count()) + " ms " + doing;
    if (w == Wait::Cancelled) return "cancelled " + doing;
    return std::string("poll: ") + std::strerror(errno);
  }

 private:
  Duration timeout_;
  const Cancel& cancel_;
  std::optional<Clock_::time_point> end_;
};

std::string numeric_host(const sockaddr* addr, socklen_t len) {
  char buf[NI_MAXHOST];
  if (::getnameinfo(addr, len, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0) return "?";
  return buf;
}

std::string host_port(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

using AddrList = std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>;

AddrList lookup(const std::string& host, const char* service, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = service ? AI_NUMERICSERV : 0;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), service, &hints, &res);
  if (rc != 0) {
    error = "cannot resolve " + host + ": " + (rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc));
    return AddrList(nullptr, &::freeaddrinfo);
  }
  return AddrList(res, &::freeaddrinfo);
}

/// Connects to the first address of `host` that accepts; on failure the socket is closed and
/// `error` says why (for the last address tried).
Socket connect_to(const std::string& host, int port, const Deadline& deadline, std::string& error) {
  if (port < 1 || port > 65535) {
    error = "invalid port " + std::to_string(port);
    return {};
  }
  if (deadline.cancelled()) {
    error = deadline.why(Wait::Cancelled, "before connecting");
    return {};
  }
  AddrList addrs = lookup(host, std::to_string(port).c_str(), error);
  for (const addrinfo* ai = addrs.get(); ai; ai = ai->ai_next) {
    const std::string target = host_port(numeric_host(ai->ai_addr, ai->ai_addrlen), port);
    Socket s(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!s.open()) {
      error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    if (::connect(s.get(), ai->ai_addr, ai->ai_addrlen) == 0) return s;
    if (errno != EINPROGRESS) {
      error = "connect to " + target + ": " + std::strerror(errno);
      continue;
    }
    Wait w = deadline.wait(s.get(), POLLOUT);
    if (w != Wait::Ready) {
      error = deadline.why(w, "connecting to " + target);
      return {};
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error == 0) return s;
    error = "connect to " + target + ": " + std::strerror(so_error);
  }
  return {};
}

using text::trim;

using text::lower;

/// Reads an HTTP/1.1 response as its bytes arrive: head, then a body framed by
/// Content-Length, chunked transfer encoding, or the end of the connection.
class ResponseParser {
 public:
  /// Takes the next bytes from the connection.
  void feed(const char* data, std::size_t n) {
    buf_.append(data, n);
    while (state_ != State::Done && !failed() && step()) {
    }
    buf_.erase(0, pos_);
    pos_ = 0;
    // Body bytes are consumed as they come; anything else waits for a line end, within limits.
    if (!failed() && state_ != State::Done && buf_.size() > kMaxHead) error_ = "response line or headers larger than 64 KiB";
  }

  /// The peer closed the connection: ends a body read until close, or reports a short read.
  void close() {
    if (state_ == State::Done || failed()) return;
    if (state_ == State::UntilClose) {
      state_ = State::Done;
    } else if (state_ == State::Head) {
      error_ = buf_.empty() && !seen_head_ ? "connection closed without a response"
                                           : "connection closed in the middle of the response headers";
    } else if (state_ == State::Length) {
      error_ = "connection closed after " + std::to_string(response_.body.size()) + " of " +
               std::to_string(response_.body.size() + left_) + " body bytes";
    } else {
      error_ = "connection closed in the middle of a chunked body";
    }
  }

  bool done() const { return state_ == State::Done; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  HttpResponse& response() { return response_; }

 private:
  enum class State { Head, Length, UntilClose, ChunkSize, ChunkData, ChunkEnd, Trailers, Done };

  // Makes progress on the buffered bytes; false when more bytes are needed.
  bool step() {
    switch (state_) {
      case State::Head: return parse_head();
      case State::Length:
      case State::ChunkData:
      case State::UntilClose: return take_body();
      case State::ChunkSize: return parse_chunk_size();
      case State::ChunkEnd: return parse_chunk_end();
      case State::Trailers: return parse_trailer();
      case State::Done: return false;
    }
    return false;
  }

  std::optional<std::string> next_line() {
    const std::size_t eol = buf_.find("\r\n", pos_);
    if (eol == std::string::npos) return std::nullopt;
    std::string line = buf_.substr(pos_, eol - pos_);
    pos_ = eol + 2;
    return line;
  }

  bool parse_head() {
    const std::size_t end = buf_.find("\r\n\r\n", pos_);
    if (end == std::string::npos) return false;
    seen_head_ = true;
    std::string status_line = *next_line();
    // "HTTP/1.1 200 OK"
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12 || status_line[8] != ' ' ||
        !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
        !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
        !std::isdigit(static_cast<unsigned char>(status_line[11]))) {
      error_ = "malformed status line: " + status_line.substr(0, 80);
      return false;
    }
    const int status = std::stoi(status_line.substr(9, 3));
    std::map<std::string, std::string> headers;
    std::string last;
    while (pos_ < end + 2) {
      std::string line = *next_line();
      if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !last.empty()) {
        headers[last] += " " + trim(line);  // obsolete line folding
        continue;
      }
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos || colon == 0) {
        error_ = "malformed header line: " + line.substr(0, 80);
        return false;
      }
      last = lower(line.substr(0, colon));
      std::string value = trim(line.substr(colon + 1));
      auto [it, fresh] = headers.emplace(last, value);
      if (!fresh) it->second += ", " + value;
    }
    pos_ = end + 4;
    if (status >= 100 && status < 200 && status != 101) return true;  // interim; the real head follows
    response_.status = status;
    response_.headers = std::move(headers);
    return choose_framing();
  }

  bool choose_framing() {
    const auto& h = response_.headers;
    const int status = response_.status;
    if (status == 101 || status == 204 || status == 304) {
      state_ = State::Done;
    } else if (auto te = h.find("transfer-encoding"); te != h.end() && lower(te->second).find("chunked") != std::string::npos) {
      state_ = State::ChunkSize;
    } else if (auto cl = h.find("content-length"); cl != h.end()) {
      const std::string& v = cl->second;
      if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
        error_ = "bad Content-Length: " + v.substr(0, 40);
        return false;
      }
      left_ = std::stoull(v);
      state_ = left_ == 0 ? State::Done : State::Length;
    } else {
      state_ = State::UntilClose;
    }
    return true;
  }

  bool take_body() {
    std::size_t n = buf_.size() - pos_;
    if (state_ != State::UntilClose) n = std::min<std::size_t>(n, left_);
    if (n == 0) return false;
    if (response_.body.size() + n > kMaxBody) {
      error_ = "response body larger than 64 MiB";
      return false;
    }
    response_.body.append(buf_, pos_, n);
    pos_ += n;
    if (state_ == State::UntilClose) return false;
    left_ -= n;
    if (left_ == 0) state_ = state_ == State::Length ? State::Done : State::ChunkEnd;
    return true;
  }

  bool parse_chunk_size() {
    auto line = next_line();
    if (!line) return false;
    const std::string size = trim(line->substr(0, line->find(';')));
    if (size.empty() || size.size() > 15 ||
        !std::all_of(size.begin(), size.end(), [](unsigned char c) { return std::isxdigit(c); })) {
      error_ = "malformed chunk size: " + line->substr(0, 40);
      return false;
    }
    left_ = std::stoull(size, nullptr, 16);
    state_ = left_ == 0 ? State::Trailers : State::ChunkData;
    return true;
  }

  bool parse_chunk_end() {
    auto line = next_line();
    if (!line) return false;
    if (!line->empty()) {
      error_ = "chunk not followed by CRLF";
      return false;
    }
    state_ = State::ChunkSize;
    return true;
  }

  bool parse_trailer() {
    auto line = next_line();
    if (!line) return false;
    if (line->empty()) state_ = State::Done;
    return true;
  }

  State state_ = State::Head;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t left_ = 0;  // bytes left in the body or the current chunk
  bool seen_head_ = false;
  std::string error_;
  HttpResponse response_;
};

bool send_all(int fd, const std::string& data, const Deadline& deadline, std::string& error) {
  for (std::size_t done = 0; done < data.size();) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EINTR) {
      Wait w = deadline.wait(fd, POLLOUT);
      if (w != Wait::Ready) {
        error = deadline.why(w, "sending the request");
        return false;
      }
    } else {
      error = std::string("send: ") + std::strerror(errno);
      return false;
    }
  }
  return true;
}

/// One connection's bytes: the plain socket, or TLS over it (SNI, no verification during the
/// handshake: what the certificate says is reported, and the caller judges it).
class Transport {
 public:
  Transport(int fd, const Deadline& deadline) : fd_(fd), deadline_(deadline) {}
  ~Transport() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  /// The TLS handshake with `sni` as the server name; fills the certificate fields of `r`.
  bool start_tls(const std::string& sni, HttpResponse& r, std::string& error) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return ssl_failed("TLS setup", error);
    SSL_CTX_set_default_verify_paths(ctx_);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
    ssl_ = SSL_new(ctx_);
    if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) return ssl_failed("TLS setup", error);
    if (!sni.empty() && sni.find_first_not_of("0123456789.:") != std::string::npos)
      SSL_set_tlsext_host_name(ssl_, sni.c_str());
    for (;;) {
      ERR_clear_error();
      const int rc = SSL_connect(ssl_);
      if (rc == 1) break;
      if (!wait_for(SSL_get_error(ssl_, rc), "in the TLS handshake", error)) return false;
    }
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert) {
      if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
          const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
          if (n->type != GEN_DNS) continue;
          const auto* s = n->d.dNSName;
          r.tls_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
        }
        GENERAL_NAMES_free(sans);
      }
      if (r.tls_names.empty()) {
        char cn[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
          r.tls_names.emplace_back(cn);
      }
      X509_free(cert);
    }
    const long verdict = SSL_get_verify_result(ssl_);
    r.tls_trusted = cert && verdict == X509_V_OK;
    if (!r.tls_trusted) r.tls_verify_error = cert ? X509_verify_cert_error_string(verdict) : "no certificate";
    return true;
  }

  bool send(const std::string& data, std::string& error) {
    if (!ssl_) return send_all(fd_, data, deadline_, error);
    for (std::size_t done = 0; done < data.size();) {
      ERR_clear_error();
      const int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (!wait_for(SSL_get_error(ssl_, n), "sending the request", error)) {
        return false;
      }
    }
    return true;
  }

  /// Bytes read (> 0), 0 at the end of the stream, -1 on an error.
  long recv(char* buf, std::size_t size, std::string& error) {
    for (;;) {
      if (!ssl_) {
        const ssize_t n = ::recv(fd_, buf, size, 0);
        if (n >= 0) return n;
        if (errno != EAGAIN && errno != EINTR) {
          error = std::string("recv: ") + std::strerror(errno);
          return -1;
        }
        const Wait w = deadline_.wait(fd_, POLLIN);
        if (w != Wait::Ready) {
          error = deadline_.why(w, "waiting for the response");
          return -1;
        }
        continue;
      }
      ERR_clear_error();
      const int n = SSL_read(ssl_, buf, static_cast<int>(size));
      if (n > 0) return n;
      const int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_ZERO_RETURN) return 0;
      if (!wait_for(e, "waiting for the response", error)) return -1;
    }
  }

 private:
  bool ssl_failed(const std::string& doing, std::string& error) {
    char buf[256] = "unknown error";
    if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
    error = doing + ": " + buf;
    return false;
  }

  // After an SSL call that did not finish: waits when it wants the socket, else says why it failed.
  bool wait_for(int ssl_error, const std::string& doing, std::string& error) {
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
      const Wait w = deadline_.wait(fd_, ssl_error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
      if (w == Wait::Ready) return true;
      error = deadline_.why(w, doing);
      return false;
    }
    if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      error = "connection closed " + doing;
      return false;
    }
    return ssl_failed("TLS error " + doing, error);
  }

  int fd_;
  const Deadline& deadline_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace

bool SocketNetwork::tcp_probe(const std::string& host, int port, Duration timeout) {
  std::string error;
  return connect_to(host, port, Deadline(timeout, cancel_), error).open();
}

HttpResponse SocketNetwork::http_get(const std::string& url, const std::string& host_header, Duration timeout) {
  HttpResponse failed;
  auto fail = [&](const std::string& why) {
    failed.error = url + ": " + why;
    return failed;
  };
  HttpUrl u;
  std::string error = parse_http_url(url, u);
  if (!error.empty()) return fail(error);
  if (host_header.find_first_of("\r\n") != std::string::npos) return fail("line break in the Host header");

  const Deadline deadline(timeout, cancel_);
  Socket s = connect_to(u.host, u.port, deadline, error);
  if (!s.open()) return fail(error);

  std::string host = host_header;
  if (host.empty()) {
    host = host_port(u.host, u.port);
    if (u.port == (u.https ? 443 : 80)) host.resize(host.size() - (u.https ? 4 : 3));  // the default port is left out
  }
  Transport conn(s.get(), deadline);
  HttpResponse tls;
  if (u.https) {
    std::string sni = host;
    if (!sni.empty() && sni[0] == '[') sni.clear();  // an IPv6 literal: no SNI
    else sni = sni.substr(0, sni.find(':'));
    if (!conn.start_tls(sni, tls, error)) return fail(error);
  }
  const std::string request = "GET " + u.target + " HTTP/1.1\r\nHost: " + host +
                              "\r\nUser-Agent: drctl\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  if (!conn.send(request, error)) return fail(error);

  ResponseParser parser;
  char buf[64 * 1024];
  while (!parser.done() && !parser.failed()) {
    const long n = conn.recv(buf, sizeof buf, error);
    if (n < 0) return fail(error);
    if (n == 0) parser.close();
    else parser.feed(buf, static_cast<std::size_t>(n));
  }
  if (parser.failed()) return fail(parser.error());
  HttpResponse& r = parser.response();
  r.tls_names = std::move(tls.tls_names);
  r.tls_trusted = tls.tls_trusted;
  r.tls_verify_error = std::move(tls.tls_verify_error);
  return std::move(r);
}

std::vector<std::string> SocketNetwork::resolve(const std::string& name) {
  std::string error;
  AddrList addrs = lookup(name, nullptr, error);
  std::vector<std::string> out;
  for (const addrinfo* ai = addrs.get(); ai; ai = ai->ai_next) {
    std::string addr = numeric_host(ai->ai_addr, ai->ai_addrlen);
    if (addr != "?" && std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
  }
  return out;
}

}  // namespace drctl::world::real
