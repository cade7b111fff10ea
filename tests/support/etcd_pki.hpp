// kubeadm's etcd PKI in miniature for tests that start a real etcd (tests/integration/etcd_test.cpp,
// etcd_sim_compare_test.cpp): etcd's CA, its server certificate for 127.0.0.1 (also a client
// certificate, as kubeadm's is), a healthcheck client certificate, and a CA that is not etcd's
// (`wrong-ca`, like kubeadm's cluster CA). Also a free loopback port for its listeners.
#pragma once
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

namespace support {

/// A loopback port nobody listens on right now.
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// The certificates, made with the openssl command in `dir`; pki("ca.crt") is a file's path.
struct EtcdPki {
  std::filesystem::path dir;
  explicit EtcdPki(const std::filesystem::path& d) : dir(d) {
    std::filesystem::create_directories(dir);
    auto ca = [&](const std::string& name) {
      openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
               name + ".key", "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + name});
    };
    auto leaf = [&](const std::string& name, const std::string& ext) {
      write_file(dir / (name + ".ext"), ext);
      openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key",
               "-out", name + ".csr", "-subj", "/CN=" + name});
      openssl({"x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
               name + ".crt", "-days", "2", "-extfile", name + ".ext"});
    };
    ca("ca");
    ca("wrong-ca");
    leaf("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    leaf("healthcheck-client", "extendedKeyUsage=clientAuth\n");
  }
  std::string operator()(const std::string& file) const { return (dir / file).string(); }

 private:
  void openssl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions opt;
    opt.cwd = dir.string();
    auto r = run(argv, opt);
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  }
};

}  // namespace support
