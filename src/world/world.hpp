// The World: the only way actions touch the outside — hosts, hypervisor, network, clock.
// Real implementations live in world/real/, the simulated ones in sim/ (DESIGN.md).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "world/host_key.hpp"
#include "world/host_system.hpp"

namespace drctl::world {

using Clock_ = std::chrono::steady_clock;
using Duration = std::chrono::milliseconds;

/// Set when the user interrupts (Ctrl-C): blocking calls return early and kill what they run.
class Cancel {
 public:
  void request() { flag_ = true; }
  bool requested() const { return flag_; }

 private:
  std::atomic<bool> flag_{false};
};

/// A shell command to run on a host.
struct Command {
  std::string script;                       // run by /bin/sh -c
  std::string stdin_data;                   // fed to the command's stdin, then closed
  Duration timeout = Duration::zero();      // zero: no limit
  std::map<std::string, std::string> env;   // added to the environment
  std::string cwd;                          // empty: the host's default
};

/// A Command of just a script, the rest as by default.
inline Command shell_command(std::string script) {
  Command c;
  c.script = std::move(script);
  return c;
}

struct CommandResult {
  int exit_code = -1;      // -1 when killed (timeout or cancel)
  std::string out, err;    // everything the command wrote
  bool timed_out = false;  // killed (with its whole process group) at the timeout
  bool cancelled = false;  // killed because Cancel was requested
  /// Why the host could not be reached or the connection broke ("ssh: HOST: …"; also at the
  /// end of `err`, with exit_code 255 as ssh(1) has it); empty when the transport held.
  std::string transport_error;
  Duration elapsed{0};
  bool ok() const { return exit_code == 0; }
};

/// A machine the runbook acts on: the local one, an SSH host, or a simulated one.
class Host {
 public:
  virtual ~Host() = default;
  virtual const std::string& name() const = 0;
  /// Runs a command; never throws for a failing command (see CommandResult).
  virtual CommandResult run(const Command& command) = 0;
  /// Writes a file atomically with `mode`; creates missing parent directories.
  virtual void put_file(const std::string& path, const std::string& content, unsigned mode) = 0;
  /// Reads a file; nullopt when it does not exist.
  virtual std::optional<std::string> get_file(const std::string& path) = 0;
  /// True when the host's files are the ones this process sees (the real local host): a backup
  /// reads its directories in place, reusing the previous snapshot's trees, instead of as a tar.
  virtual bool is_this_machine() const { return false; }
  /// The host's system (kernel, tar, hasher: see HostSystem), learned with one probe command the
  /// first time it is asked and then remembered; while the host cannot be reached, GNU/Linux is
  /// assumed (the command that follows says why it fails) and the next call asks again.
  HostSystem system();

  /// Streams a command's data (a tar of a NAS dataset, an etcd snapshot) without holding it in
  /// memory: stdout goes to `on_out` as it arrives (the result's `out` stays empty); when `in`
  /// is set, stdin is pulled from it until it returns an empty string (else `command.stdin_data`).
  /// The default runs the command whole and hands over its output at once (fine for hosts whose
  /// data is in memory anyway, like the simulator's).
  virtual CommandResult run_stream(const Command& command, const std::function<void(const char*, std::size_t)>& on_out,
                                   const std::function<std::string()>& in = nullptr) {
    Command c = command;
    if (in)
      for (std::string piece = in(); !piece.empty(); piece = in()) c.stdin_data += piece;
    CommandResult r = run(c);
    if (!r.out.empty()) on_out(r.out.data(), r.out.size());
    r.out.clear();
    return r;
  }

 private:
  std::mutex system_mutex_;
  std::optional<HostSystem> system_;
};

/// Time: steady and real, or virtual in the simulator.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Clock_::time_point now() = 0;
  /// The date and time now, for what is stamped with it (a snapshot): the system clock for
  /// real, the simulation's calendar in the simulator, so a drill stays reproducible.
  virtual std::chrono::system_clock::time_point calendar_now() = 0;
  /// Sleeps up to `d`; returns false when cancelled early.
  virtual bool sleep(Duration d) = 0;
};

struct HttpResponse {
  int status = 0;  // 0: no answer (the error says why; for https also a failed handshake)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
  // https only: what the server's certificate says.
  std::vector<std::string> tls_names;  // its DNS names (subjectAltName, else the common name)
  bool tls_trusted = false;            // its chain verifies against the system's CAs
  std::string tls_verify_error;        // why not, when not
};

/// A DNS server's answer to a query for a name's IPv4 addresses (type A).
struct DnsAnswer {
  std::string rcode;                   // "NOERROR", "NXDOMAIN", "REFUSED", …; "" when nothing answered
  std::vector<std::string> addresses;  // the answer section's A records
  std::string error;                   // why nothing answered (timed out, connection refused, …)
};

/// Reaching services over the network.
class Network {
 public:
  virtual ~Network() = default;
  /// True when a TCP connection to host:port is accepted within `timeout`.
  virtual bool tcp_probe(const std::string& host, int port, Duration timeout) = 0;
  /// GET of an http:// or https:// URL; `host_header` overrides the Host header when not empty
  /// (and, for https, is the name sent as SNI).
  virtual HttpResponse http_get(const std::string& url, const std::string& host_header, Duration timeout) = 0;
  /// Addresses of a name; empty when it does not resolve.
  virtual std::vector<std::string> resolve(const std::string& name) = 0;
  /// Asks the DNS server at server:port (an IP address) over UDP for `name`'s A records.
  virtual DnsAnswer dns_query(const std::string& server, int port, const std::string& name, Duration timeout) = 0;
};

/// A provider-neutral VM definition. Empty strings mean "the provider's default" (a datastore,
/// an adapter type, a guest OS), so a site names only what matters to it.
struct VmSpec {
  std::string name;
  int vcpus = 1;
  std::int64_t memory_mb = 1024;
  struct Disk {
    std::string name;
    std::int64_t size_gb = 0;
    std::string image;      // an image in the datastore the disk starts from ("" for an empty disk)
    std::string datastore;  // vSphere datastore / libvirt storage pool ("" for the site's default)
    bool thin = true;       // thin provisioned (vSphere), sparse (libvirt)
  };
  struct Nic {
    std::string network;  // port group (vSphere) or network (libvirt): the site's network name
    std::string mac;      // lower case, colon separated
    int vlan = 0;         // the port group's VLAN, as captured (0: none or unknown)
    std::string adapter;  // vmxnet3, e1000, e1000e, virtio … ("" for the provider's default)
  };
  std::vector<Disk> disks;
  std::vector<Nic> nics;
  std::vector<std::string> boot_order;  // "network", "disk", "cdrom"
  std::string cdrom;                    // an install image in the datastore, attached as CD-ROM
  std::string firmware = "bios";        // "bios" or "efi"
  std::string guest_os;                 // the provider's guest id (otherGuest64, ubuntu64Guest, …); "" for default
  std::string annotation;               // free text kept with the VM
};

struct VmState {
  VmSpec spec;
  bool running = false;
  /// The provider's own definition (vSphere's VirtualMachineConfigInfo as SOAP XML, libvirt's
  /// domain XML), kept beside the VmSpec in a snapshot so nothing the provider knows is lost;
  /// "" when the provider has none (the simulator).
  std::string raw;
};

/// Bytes handed over piece by piece: a sink takes each piece; a source fills `buf` with up to
/// `size` bytes and returns how many, 0 at the end.
using ByteSink = std::function<void(const char* data, std::size_t size)>;
using ByteSource = std::function<std::size_t(char* buf, std::size_t size)>;

/// The host's VM manager (vSphere, libvirt, or the simulator's). Every call throws
/// std::runtime_error with one line — the provider's own message where it gave one — on failure.
class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  virtual std::vector<VmState> list() = 0;
  virtual void define(const VmSpec& spec) = 0;  // throws with the reason on failure
  virtual void start(const std::string& name) = 0;
  virtual void stop(const std::string& name) = 0;  // a hard power-off
  virtual void destroy(const std::string& name) = 0;
  /// What `drctl hosts check` shows on success (e.g. "vCenter 8.0 at https://…, datacenter DC0,
  /// datastore ds1, port groups a, b"): reachable, certificate as pinned, login, and the names the
  /// site gives exist. Throws with the reason when any is not so.
  virtual std::string check() { return "ok"; }
  /// A VM's disk `disk` (an index into its spec's disks) read whole, in order, into `sink`;
  /// returns the bytes read. The VM should be off or the image may be inconsistent.
  virtual std::int64_t read_disk(const std::string& vm, std::size_t disk, const ByteSink& sink) {
    (void)disk, (void)sink;
    throw std::runtime_error("this hypervisor cannot read VM disks (VM " + vm + ")");
  }
  /// Replaces the content of disk `disk` of a defined, powered-off VM with `size` bytes from `source`.
  virtual void write_disk(const std::string& vm, std::size_t disk, const ByteSource& source, std::int64_t size) {
    (void)disk, (void)source, (void)size;
    throw std::runtime_error("this hypervisor cannot write VM disks (VM " + vm + ")");
  }
  /// Guest operations through the hypervisor's agent in the VM (VMware Tools, the QEMU guest
  /// agent): run a command or write a file without the network — how a freshly installed
  /// appliance gets its configuration. Throws std::runtime_error when the VM cannot take it.
  virtual CommandResult guest_run(const std::string& vm, const Command& command) {
    (void)command;
    throw std::runtime_error("this hypervisor has no guest operations (VM " + vm + ")");
  }
  virtual void guest_put(const std::string& vm, const std::string& path, const std::string& content, unsigned mode) {
    (void)path, (void)content, (void)mode;
    throw std::runtime_error("this hypervisor has no guest operations (VM " + vm + ")");
  }
};

/// How the executor runs step instances side by side: threads for real, the simulator's
/// turns (one at a time, in virtual time) when simulated.
class Tasks {
 public:
  virtual ~Tasks() = default;
  /// Runs `main`, which may start tasks and wait for them; returns when all are done.
  virtual void run(const std::function<void()>& main) = 0;
  /// Starts `fn` alongside `main`.
  virtual void start(const std::string& name, std::function<void()> fn) = 0;
  /// From `main`: waits until a task calls notify() (or, for real, `poll` passes). The
  /// caller must hold no lock a task needs.
  virtual void wait(Duration poll) = 0;
  /// From a task: wakes `main`.
  virtual void notify() = 0;
};

/// Everything an action may use. Hosts are found by the names the site gives them.
class World {
 public:
  virtual ~World() = default;
  virtual Host& host(const std::string& name) = 0;  // throws std::out_of_range for an unknown host
  virtual Clock& clock() = 0;
  virtual Network& network() = 0;
  /// The network as site host `host` sees it, for checks made from there (a visitor on the
  /// internet reaching the public address): a real one runs curl there over SSH. Throws
  /// std::out_of_range for an unknown host.
  virtual Network& network_from(const std::string& host) = 0;
  virtual Hypervisor* hypervisor() = 0;  // nullptr when the site has none
  virtual Tasks& tasks() = 0;
  Cancel& cancel() { return cancel_; }

  /// Marks every command started from now on with `tag` (the run's state directory).
  virtual void tag_commands(const std::string& tag) { (void)tag; }
  /// Ends commands carrying `tag` that a killed drctl left running; returns how many.
  virtual int kill_tagged(const std::string& tag) { (void)tag; return 0; }
  /// What the World knows about why `host` does not answer (the simulator: the last thing
  /// that went wrong for that machine, e.g. its PXE boot's cause); "" when nothing.
  virtual std::string diagnose(const std::string& host) { (void)host; return ""; }
  /// Why `host` has stopped for good — its firmware gave up on the network boot, its installer
  /// failed — and will not come up without a new boot; "" when it has not or the World cannot
  /// tell (a real hypervisor, for now). Lets a wait end early instead of at its timeout.
  virtual std::string halted(const std::string& host) { (void)host; return ""; }
  /// The SSH host key `host` will have once drctl has installed it (`public_line`: "ssh-ed25519
  /// AAAA…"): the World trusts that key for it from now on and no other — a real World writes it
  /// to the host's known_hosts before the first connection. Throws std::runtime_error when it cannot.
  virtual void expect_host_key(const std::string& host, const std::string& public_line) { (void)host, (void)public_line; }
  /// The SSH host key drctl gives `host` when it installs it (pxe.render hands it to the
  /// kickstart). A real World keeps it on this machine (stored_host_key); this default — for a
  /// World that reaches nothing real, the simulator — derives it from the host's name, the same
  /// run after run.
  virtual HostKeyPair host_key(const std::string& host);

 private:
  Cancel cancel_;
};

}  // namespace drctl::world
