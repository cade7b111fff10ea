// Test support: a private OpenSSH server on 127.0.0.1 for the SSH tests. It has its own host
// key, config, log, a client key pair with authorized_keys, and a known_hosts file for the
// client; it is stopped (every process of it SIGKILLed and reaped) in the destructor, so a
// failing CHECK never leaves a server behind. Header-only, to stay out of the test library.
#pragma once
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

namespace support {

/// Where an sshd listens: by default 127.0.0.1 at a free port; or inside a network
/// namespace (made by the test) at an address of it, port 22 unless given.
struct SshdPlace {
  std::string netns;                  // "" = this machine's own network
  std::string address = "127.0.0.1";
  int port = 0;                       // 0 = a free port on 127.0.0.1, or 22 in a namespace
  /// Files bind-mounted over others (file, what it hides) in a mount namespace of the server's
  /// own: e.g. a passwd with a test user, seen by sshd and what it runs (sudo too), by nothing else.
  std::vector<std::pair<std::string, std::string>> bind_mounts;
  /// More sshd_config lines, e.g. "SetEnv PATH=/some/dir" for what the commands find.
  std::vector<std::string> extra_config;
};

/// One sshd, logging VERBOSE to a file.
class Sshd {
 public:
  /// Generates the keys and starts the server logging at `log_level` (DEBUG shows keepalives);
  /// throws std::runtime_error with the reason (sshd's own message) when it cannot start.
  explicit Sshd(std::string log_level = "VERBOSE") : Sshd(SshdPlace{}, std::move(log_level)) {}

  explicit Sshd(SshdPlace place, std::string log_level = "VERBOSE")
      : dir_("sshd"), log_level_(std::move(log_level)), place_(std::move(place)) {
    ensure_privsep_dir();
    keygen(dir_ / "host_ed25519", "drctl-test-host");
    keygen(dir_ / "client_ed25519", "drctl-test-client");
    write_file(dir_ / "authorized_keys", read_file(dir_ / "client_ed25519.pub"), 0600);
    std::string last_error;
    const bool pick_port = place_.netns.empty() && place_.port == 0;
    port_ = place_.port != 0 ? place_.port : 22;
    for (int attempt = 0; attempt < (pick_port ? 5 : 1) && !server_; ++attempt) {
      if (pick_port) port_ = free_port();
      write_config();
      start(last_error);
    }
    if (!server_) throw std::runtime_error("test sshd did not start: " + last_error);
    write_file(dir_ / "known_hosts", known_hosts_line(dir_ / "host_ed25519.pub"), 0600);
  }
  ~Sshd() { stop(); }
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  int port() const { return port_; }
  const std::string& address() const { return place_.address; }
  /// The scratch directory with the server's and the client's files.
  const fs::path& dir() const { return dir_.path(); }
  /// The client's private key (ed25519, no passphrase), listed in authorized_keys.
  fs::path client_key() const { return dir_ / "client_ed25519"; }
  /// A known_hosts file with the server's key under "[127.0.0.1]:PORT".
  fs::path known_hosts() const { return dir_ / "known_hosts"; }
  /// The user the client logs in as: the one running the tests.
  std::string user() const { return current_user(); }
  /// The host key's fingerprint as `ssh-keygen -lf` prints it: "SHA256:…".
  std::string host_fingerprint() const { return fingerprint(dir_ / "host_ed25519.pub"); }
  fs::path log() const { return dir_ / "sshd.log"; }

  /// How many logins the server accepted so far (one per SSH connection).
  int accepted_logins() const { return log_lines_with("Accepted publickey for"); }

  /// How many lines of the log contain `text`.
  int log_lines_with(const std::string& text) const {
    std::ifstream in(log());
    int n = 0;
    for (std::string line; std::getline(in, line);)
      if (line.find(text) != std::string::npos) ++n;
    return n;
  }

  /// SIGKILLs every process the server forked for its connections (and the commands they
  /// run), dropping every client connection; the listener keeps serving. Returns how many.
  int drop_connections() {
    if (!server_) return 0;
    auto victims = descendants(server_->pid());
    for (pid_t p : victims) ::kill(p, SIGKILL);
    wait_gone(victims);
    return static_cast<int>(victims.size());
  }

  /// Stops the server and every connection it holds: the host goes dark (connections are
  /// refused). start_again() brings it back with the same keys, address and port.
  void stop_server() { stop(); }
  void start_again() {
    if (server_) return;
    std::string error;
    start(error);
    if (!server_) throw std::runtime_error("test sshd did not start again: " + error);
  }
  bool serving() const { return server_ != nullptr; }

  /// A known_hosts line for this server's address with a freshly generated key that is not
  /// the server's (what the client would hold after the host was reinstalled).
  std::string other_key_line() {
    const fs::path key = dir_ / ("other_" + std::to_string(++others_));
    keygen(key, "drctl-test-other");
    return known_hosts_line(fs::path(key.string() + ".pub"));
  }

  /// "[ADDRESS]:PORT TYPE BASE64\n" (or "ADDRESS TYPE BASE64\n" on port 22) for a public key file.
  std::string known_hosts_line(const fs::path& pub) const {
    std::istringstream in(read_file(pub));
    std::string type, base64;
    in >> type >> base64;
    const std::string who = port_ == 22 ? place_.address : "[" + place_.address + "]:" + std::to_string(port_);
    return who + " " + type + " " + base64 + "\n";
  }

  /// The fingerprint of a public key file: "SHA256:…".
  static std::string fingerprint(const fs::path& pub) {
    RunResult r = run({"ssh-keygen", "-l", "-E", "sha256", "-f", pub.string()});
    expect_exit(r, 0);
    std::istringstream in(r.out);
    std::string bits, fp;
    in >> bits >> fp;
    return fp;
  }

 private:
  static std::string current_user() {
    RunResult r = run({"id", "-un"});
    expect_exit(r, 0);
    return r.out.substr(0, r.out.find('\n'));
  }

  // sshd refuses to start without its privilege separation directory.
  static void ensure_privsep_dir() {
    std::error_code ec;
    if (fs::is_directory("/run/sshd", ec)) return;
    fs::create_directories("/run/sshd", ec);
    if (ec)
      throw std::runtime_error("sshd needs the directory /run/sshd and it cannot be created here (" + ec.message() +
                               "); run the SSH tests as root or create it once with `sudo mkdir -p /run/sshd`");
    ::chmod("/run/sshd", 0755);
  }

  static void keygen(const fs::path& key, const std::string& comment) {
    expect_exit(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key.string()}), 0);
  }

  // A port the kernel just gave out; sshd binds it a moment later (start() retries on a clash).
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot find a free port on 127.0.0.1");
    }
    ::close(fd);
    return ntohs(a.sin_port);
  }

  void write_config() {
    std::ostringstream c;
    c << "Port " << port_ << "\n"
      << "ListenAddress " << place_.address << "\n"
      << "HostKey " << (dir_ / "host_ed25519").string() << "\n"
      << "PidFile " << (dir_ / "sshd.pid").string() << "\n"
      << "AuthorizedKeysFile " << (dir_ / "authorized_keys").string() << "\n"
      << "UsePAM no\n"
      << "PermitRootLogin prohibit-password\n"
      << "PasswordAuthentication no\n"
      << "KbdInteractiveAuthentication no\n"
      << "StrictModes no\n"
      << "UseDNS no\n"
      << "PrintMotd no\n"
      << "MaxStartups 50\n"
      << "MaxSessions 20\n"
      << "LogLevel " << log_level_ << "\n"
      << "Subsystem sftp internal-sftp\n";
    for (const auto& line : place_.extra_config) c << line << "\n";
    write_file(dir_ / "sshd_config", c.str(), 0600);
  }

  void start(std::string& error) {
    std::error_code ec;
    fs::remove(log(), ec);
    std::vector<std::string> argv{"/usr/sbin/sshd", "-D", "-f", (dir_ / "sshd_config").string(), "-E", log().string()};
    if (!place_.bind_mounts.empty()) {  // unshare and sh exec in place: the pid stays the server's
      std::string mounts;
      for (const auto& [file, over] : place_.bind_mounts) mounts += "mount --bind '" + file + "' '" + over + "' && ";
      argv.insert(argv.begin(), {"unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                                 mounts + "exec \"$@\"", "sh"});
    }
    if (!place_.netns.empty()) argv.insert(argv.begin(), {"ip", "netns", "exec", place_.netns});  // execs sshd in place
    auto p = std::make_unique<Process>(argv);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
      std::string text = read_log();
      if (text.find("Server listening on " + place_.address + " port " + std::to_string(port_)) != std::string::npos) {
        server_ = std::move(p);
        return;
      }
      if (!p->running()) {
        error = text + p->wait().describe();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    error = "no 'Server listening' line within 10 s:\n" + read_log();
  }

  std::string read_log() const {
    std::ifstream in(log());
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Every process below `root`, found by walking /proc's parent links.
  static std::vector<pid_t> descendants(pid_t root) {
    std::map<pid_t, std::vector<pid_t>> children;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream stat(e.path() / "stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      const auto paren = line.rfind(')');
      if (paren == std::string::npos) continue;
      std::istringstream rest(line.substr(paren + 2));
      char state;
      pid_t ppid;
      if (rest >> state >> ppid) children[ppid].push_back(static_cast<pid_t>(std::stol(name)));
    }
    std::vector<pid_t> out, todo{root};
    while (!todo.empty()) {
      pid_t p = todo.back();
      todo.pop_back();
      for (pid_t c : children[p]) {
        out.push_back(c);
        todo.push_back(c);
      }
    }
    return out;
  }

  // Dead or a zombie: either way it holds no connection any more.
  static bool gone(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto paren = line.rfind(')');
    return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
  }

  static void wait_gone(const std::vector<pid_t>& pids) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (pid_t p : pids)
      while (!gone(p) && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  void stop() {
    if (!server_) return;
    auto victims = descendants(server_->pid());
    for (pid_t p : victims) ::kill(p, SIGKILL);
    server_.reset();  // SIGKILLs and reaps the listener
    wait_gone(victims);
  }

  TempDir dir_;
  std::string log_level_;
  SshdPlace place_;
  int port_ = 0;
  int others_ = 0;
  std::unique_ptr<Process> server_;
};

/// Writes an OpenSSH client configuration to `file` reaching `sshd` as host `alias` with the
/// test's client key, trusting the host keys in `known_hosts` (the server's own unless given).
inline std::filesystem::path write_client_config(const Sshd& sshd, const std::filesystem::path& file,
                                                 const std::string& alias = "nas",
                                                 const std::filesystem::path& known_hosts = {}) {
  std::ofstream(file) << "Host " << alias << "\n  HostName 127.0.0.1\n  Port " << sshd.port() << "\n  User " << sshd.user()
                      << "\n  IdentityFile " << sshd.client_key().string() << "\n  UserKnownHostsFile "
                      << (known_hosts.empty() ? sshd.known_hosts() : known_hosts).string() << "\n";
  return file;
}

}  // namespace support
