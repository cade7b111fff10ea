// SocketNetwork's DNS query: one UDP question for a name's A records, built and read with glibc's
// libresolv (res_nmkquery, ns_initparse, ns_parserr) rather than by hand.
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "world/real/socket_network.hpp"

namespace drctl::world::real {

namespace {

/// The names dig prints for the header's RCODE (RFC 1035 4.1.1, RFC 6895).
std::string rcode_name(int rcode) {
  static const std::array<const char*, 11> names = {"NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                                    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  return rcode >= 0 && rcode < static_cast<int>(names.size()) ? names[static_cast<std::size_t>(rcode)]
                                                              : "RCODE" + std::to_string(rcode);
}

/// A socket closed when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

DnsAnswer SocketNetwork::dns_query(const std::string& server, int port, const std::string& name, Duration timeout) {
  DnsAnswer answer;
  struct __res_state state {};
  if (res_ninit(&state) != 0) {
    answer.error = "the resolver library could not start";
    return answer;
  }
  std::array<unsigned char, NS_PACKETSZ> query{};
  const int query_len = res_nmkquery(&state, ns_o_query, name.c_str(), ns_c_in, ns_t_a, nullptr, 0, nullptr,
                                     query.data(), static_cast<int>(query.size()));
  res_nclose(&state);
  if (query_len < 0) {
    answer.error = "'" + name + "' is not a name a DNS query can carry";
    return answer;
  }

  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(server.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found) {
    answer.error = "'" + server + "' is not an IP address";
    return answer;
  }
  Fd sock{::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  // Connected: the kernel then reports an ICMP port unreachable as ECONNREFUSED on the next call.
  const bool connected = sock.fd >= 0 && ::connect(sock.fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!connected) {
    answer.error = std::strerror(errno);
    return answer;
  }

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto limit = timeout > Duration(0) ? timeout : Duration(5000);
  int sent = 0;
  std::array<unsigned char, 4096> reply{};
  while (true) {
    const auto elapsed = std::chrono::duration_cast<Duration>(Clock::now() - start);
    if (elapsed >= limit) {
      answer.error = "timed out";
      return answer;
    }
    if (sent == 0 || (sent == 1 && elapsed >= limit / 2)) {  // the first try, and one more half way
      if (::send(sock.fd, query.data(), static_cast<std::size_t>(query_len), 0) < 0) {
        answer.error = std::strerror(errno);
        return answer;
      }
      ++sent;
    }
    if (cancel_.requested()) {
      answer.error = "cancelled";
      return answer;
    }
    pollfd p{sock.fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;  // a short wait: cancel and the resend are looked at in between
    const ssize_t got = ::recv(sock.fd, reply.data(), reply.size(), 0);
    if (got < 0) {
      answer.error = std::strerror(errno);  // "Connection refused": nothing listens there
      return answer;
    }
    // Only the reply to this query (same id); anything else on the socket is ignored.
    if (got < 2 || reply[0] != query[0] || reply[1] != query[1]) continue;
    ns_msg msg;
    if (ns_initparse(reply.data(), static_cast<int>(got), &msg) != 0) {
      answer.error = "the answer is not a DNS message";
      return answer;
    }
    answer.rcode = rcode_name(ns_msg_getflag(msg, ns_f_rcode));
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
      ns_rr rr;
      if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) break;
      if (ns_rr_type(rr) != ns_t_a || ns_rr_rdlen(rr) != 4) continue;
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, ns_rr_rdata(rr), text, sizeof text);
      answer.addresses.push_back(text);
    }
    return answer;
  }
}

}  // namespace drctl::world::real
