#include "world/real/socket_network.hpp"

#include "world/real/curl_http.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace drctl::world::real {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kPollInterval{50};  // how often cancel is looked at, at most

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

}  // namespace

bool SocketNetwork::tcp_probe(const std::string& host, int port, Duration timeout) {
  std::string error;
  return connect_to(host, port, Deadline(timeout, cancel_), error).open();
}

HttpResponse SocketNetwork::http_get(const std::string& url, const std::string& host_header, Duration timeout) {
  return curl_http_get(url, host_header, timeout, cancel_);
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
