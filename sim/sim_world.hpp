// The simulated site as a World: the hypervisor, the network, pfSense, the PXE server and every
// machine's life from power-on through firmware, DHCP, PXE, the installer and reboot to an
// installed system answering SSH — each step reading the same files the real one would.
#pragma once
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/dhcp.hpp"
#include "sim/engine.hpp"
#include "sim/host.hpp"
#include "sim/hypervisor.hpp"
#include "sim/ingress.hpp"
#include "sim/kickstart.hpp"
#include "sim/kube.hpp"
#include "sim/metallb.hpp"
#include "sim/nas.hpp"
#include "sim/network.hpp"
#include "sim/pfsense.hpp"
#include "sim/pxe.hpp"
#include "sim/scenario.hpp"
#include "sim/dnsmasq.hpp"
#include "sim/services.hpp"
#include "sim/site_model.hpp"
#include "sim/tasks.hpp"

namespace drctl::sim {

/// How long things take, as ranges the seed draws from (documented in sim/README.md).
struct Timings {
  world::Duration post{1000}, post_max{3000};                   // firmware power-on self test (sim/CONFORMANCE.md, "Time")
  world::Duration install{9 * 60000}, install_max{11 * 60000};  // the seed's "around 10 minutes"
  world::Duration appliance_install{120000}, appliance_install_max{240000};
  world::Duration os_boot{20000}, os_boot_max{40000};
  world::Duration dhcp_retry{30000}, dhcp_retry_max{60000};     // an installed system's DHCP client
};

class SimWorld : public world::World {
 public:
  /// Builds the site from its JSON form (runbook::Site::to_json) in its "empty hardware" state:
  /// physical machines up, no VMs defined. Throws SiteError naming the field.
  SimWorld(const nlohmann::json& site, std::uint64_t seed);
  ~SimWorld() override;

  // The World.
  /// A site machine as drctl reaches it: over (simulated) SSH, or the controller for "local".
  world::Host& host(const std::string& name) override;
  world::Clock& clock() override { return clock_; }
  world::Network& network() override { return *view_; }
  /// The network from a site machine (the controller's is network()): connections start there.
  world::Network& network_from(const std::string& host) override;
  world::Hypervisor* hypervisor() override { return &hv_; }
  world::Tasks& tasks() override { return tasks_; }
  std::string diagnose(const std::string& host) override;
  /// The machine's problem when it is halted (PXE-E51, a failed install), else "".
  std::string halted(const std::string& host) override;

  // The model, for tests, faults and `drctl sim show`.
  Engine& engine() { return engine_; }
  const SiteModel& site() const { return site_; }
  SimNetwork& net() { return net_; }
  SimHypervisor& hv() { return hv_; }
  /// The system installed on a machine (its disk), or nullptr when nothing is installed.
  SimHost* system(const std::string& machine);
  /// "off", "firmware", "pxe", "installing", "booting", "up" or "halted".
  std::string state(const std::string& machine) const;
  /// Would drctl's SSH login to `host` succeed now? ok, or the reason ssh(1) would print.
  struct Login {
    bool ok = false;
    std::string reason;
    std::string machine;  // who answered
    std::string user;     // who logged in, and their home (sshd sets USER, LOGNAME and HOME)
    std::string home;
    std::vector<std::string> segments;  // the networks drctl's session crosses (its transfers share them)
  };
  Login ssh_login(const std::string& host);
  /// A drill's declaration that the data under `dir` on `machine` is really `bytes` large: the
  /// files there now are a sample of it, each of their bytes weighing bytes ÷ sample (SimHost::
  /// set_weight) in storage and in the time moving them takes. Throws std::invalid_argument naming
  /// the directory when it holds no files, or SimHost's refusal when the storage cannot hold it.
  void declare_data_size(const std::string& machine, const std::string& dir, std::int64_t bytes);
  /// What a byte of the file at `path` on `machine` stands for (1 outside declared directories).
  double data_weight(const std::string& machine, const std::string& path) const;
  /// Time passes as `bytes` move over the networks `segments` while `disk` bytes go through
  /// `machine`'s disks (its pool's throughput, when the site gives one): the slower of the two, as
  /// a pipeline. Transfers at the same time share each network and each pool fairly: a transfer's
  /// rate is recomputed every few virtual seconds from how many are under way. Logged as a
  /// "transfer" event when it ends (what, machine, bytes, seconds, the limit, when it started) if
  /// it took a second or more. Only inside an actor (a step); elsewhere nothing waits.
  void take_time(const std::string& what, const std::string& machine, std::int64_t bytes,
                 const std::vector<std::string>& segments, std::int64_t disk = 0);
  /// How long `machine` takes to download `bytes` from the internet (a container registry): over
  /// the slowest of its own networks and the site's networks outside the hypervisor (the uplink
  /// through the border router). Logged as a "transfer" event when it takes a second or more.
  world::Duration download_time(const std::string& machine, std::int64_t bytes, const std::string& what);
  /// Is someone at the VMs' consoles? Then the appliances' interactive installers (pfSense,
  /// TrueNAS CORE, vCenter's) are answered as a person would; without, a VM booting such an ISO
  /// halts at the installer's first question. Default: someone is (a new site is installed at its
  /// consoles); a drill's rebuild runs with nobody there.
  void set_console_operator(bool present);
  bool console_operator() const { return console_operator_; }
  /// Multiplies install times from now on (a slow installer fault).
  void set_install_slowdown(double factor) { slowdown_ = factor; }
  /// Stops or starts a service of a machine (DHCP on pfSense is "dhcpd", TFTP "tftpd-hpa", NFS
  /// "nfs-kernel-server", the control plane's "kube-apiserver"). A unit that starts reads its
  /// configuration as it is now.
  void set_service(const std::string& machine, const std::string& unit, bool running);
  /// The service manager of a machine's installed system (what each daemon read when it
  /// started); nullptr when the machine has no system.
  ServiceManager* services(const std::string& machine);
  /// A text description of the site: hosts, networks, addresses, services.
  std::string describe();
  /// What describe() says, as JSON (drctl sim show --json).
  nlohmann::json describe_json();

  /// The Kubernetes cluster the nodes form (kubeadm, kubectl and etcdctl on them act on it).
  KubeCluster& kube() { return kube_; }
  /// The NAS appliance's storage; nullptr until a NAS appliance is installed.
  NasStorage* nas() { return nas_.get(); }
  /// The LoadBalancer IPs MetalLB gave ("ns/name" -> IP), and who answers ARP for each.
  const std::map<std::string, std::string>& load_balancer_ips() const { return lb_ips_; }
  std::string vip_holder(const std::string& ip) const;
  /// A drill's faults: at a virtual time or on the first matching event (sim/scenario.hpp).
  void schedule_faults(std::vector<FaultSpec> faults);
  std::vector<std::string> faults_not_fired() const;
  /// An HTTP(S) request from machine `from` through the simulated network, as a client makes it:
  /// to a LoadBalancer IP the ingress controller routes it by Host header and path.
  struct HttpResult {
    int status = 0;  // 0: no answer or TLS failed (error says why)
    std::string body, error;
  };
  HttpResult http(const std::string& from, const std::string& ip, int port, bool https, const std::string& host,
                  const std::string& path);
  /// What is wrong now: a VM over capacity, an IP twice on a VLAN, a VIP answered by more than
  /// one node (or, `final`, by none), an Ingress host not routed to a ready pod (`final`).
  /// Violations are also logged ("invariants", "violated") once each, checked as the run goes.
  std::vector<std::string> check_invariants(bool final);

 private:
  struct Machine;
  class SshHost;
  Machine& machine(const std::string& name);
  const MachineModel* model(const std::string& vm) const;

  void on_power(const std::string& vm, bool on);
  void on_destroy(const std::string& vm);
  void boot_device(Machine& m, std::uint64_t gen, std::size_t index);
  void network_boot(Machine& m, std::uint64_t gen, std::size_t index, int attempt);
  void start_install(Machine& m, std::uint64_t gen, const InstallPlan& plan);
  void finish_install(Machine& m, std::uint64_t gen);
  void install_appliance(Machine& m, std::uint64_t gen, std::size_t index);
  /// The appliance's system as its install makes it (its files, units and tools; TrueNAS's pool
  /// from its data disk's image, else a new one). "" or why its pool disk cannot be imported.
  std::unique_ptr<SimHost> appliance_system(Machine& m, const std::string& kind, std::string* why);
  // Disk images (sim_disks.cpp).
  std::string read_disk_image(const std::string& vm, std::size_t disk);
  void write_disk_image(const std::string& vm, std::size_t disk, std::string image);
  /// The bytes a disk image stands for: its own plus what its files' declared weights add.
  std::int64_t image_weight(const std::string& vm, const std::string& image) const;
  /// Boots the system disk 0's image holds (halts naming what is wrong with it).
  void boot_from_image(Machine& m, std::uint64_t gen, std::size_t index);
  /// Imports a pool image written into TrueNAS's data disk (disk 1); "" or why it cannot.
  std::string import_pool(Machine& m, SimHost& system);
  void boot_system(Machine& m, std::uint64_t gen);
  void system_up(Machine& m, std::uint64_t gen);
  void request_addresses(Machine& m, std::uint64_t gen);
  void apply_pfsense_config(Machine& m);
  /// Why pfSense may be serving old settings: its config.xml changed since it was applied ("" if not).
  std::string pf_stale_note();
  /// "tftpd-hpa on pxe serves /srv/tftp, as configured when it started at 00:01:02; …": why a
  /// request met a daemon still serving what it read before its configuration changed.
  std::string stale_note(const std::string& node, const std::string& unit, const std::string& serves,
                         const std::string& path, const std::string& now_says, const std::string& fix);
  void problem(Machine& m, const std::string& what);
  void halt(Machine& m, const std::string& why);
  /// Puts `ip` on the machine's NIC; false (with the problem noted) when it does not fit the wire.
  bool assign(Machine& m, std::size_t nic, const std::string& ip);

  std::optional<Lease> dhcp(const std::string& node, const std::string& mac, const std::string& segment);
  Fetched fetch(const std::string& node, const Lease& lease, const Location& where);
  std::vector<std::string> resolve_name(const std::string& name);
  std::string pf_interface_of(const std::string& segment) const;
  void wire_services(SimHost& host, const std::string& node);
  void wire_kube(SimHost& host, const std::string& machine);
  KubeNode kube_node(const std::string& machine);
  /// What the cluster asks of the site: dialling over the network from a node's machine (names
  /// resolved by its /etc/hosts, then the site's DNS) and the environment of its running command.
  KubeWorld kube_world();
  /// The system a cluster node runs on (by hostname, else by machine name), nullptr if none; its
  /// machine's name in `machine`.
  SimHost* kube_host(const KubeNode& node, std::string* machine = nullptr);
  void reconcile_cluster();
  void move_vip(const std::string& ip, const std::string& to);
  std::string machine_of_node(const std::string& node) const;
  void apply_fault(const FaultSpec& fault, bool undo);
  IngressRoute route(bool https, const std::string& host, const std::string& path);

  SiteModel site_;
  Engine engine_;
  EngineTasks tasks_{engine_};
  EngineClock clock_{engine_};
  SimNetwork net_{engine_};
  SimHypervisor hv_;
  std::unique_ptr<SimNetworkView> view_;
  std::map<std::string, std::unique_ptr<SimNetworkView>> views_;  // machine -> the network from it
  Timings timings_;
  double slowdown_ = 1.0;
  std::map<std::string, std::map<std::string, double>> data_weights_;  // machine -> declared dir -> weight
  std::map<std::string, int> sharing_;  // "net:SEGMENT" / "disk:MACHINE" -> transfers under way there
  bool console_operator_ = true;
  std::map<std::string, std::unique_ptr<Machine>> machines_;
  std::map<std::string, std::unique_ptr<SshHost>> ssh_hosts_;
  std::unique_ptr<SimHost> controller_;
  /// Physical machines of role `client` (a visitor on the internet): running, with sshd and the
  /// site's key, for the checks drctl makes from there.
  std::map<std::string, std::unique_ptr<SimHost>> clients_;
  // pfSense as configured now (from its config.xml), and the DHCP servers on the wire.
  std::optional<PfConfig> pf_config_;
  std::string pf_machine_;
  std::unique_ptr<DhcpServer> pf_dhcp_;
  std::string pf_applied_xml_;            // config.xml as /etc/rc.reload_all (or the boot) last applied it
  world::Duration pf_applied_at_{0};
  std::map<std::string, std::weak_ptr<ServiceManager>> services_;  // machine -> its system's (owned by the system)
  std::string last_dhcp_refusal_;  // why the last dhcp() got no lease
  // Kubernetes and what runs on it.
  KubeCluster kube_{engine_, KubeVersions{site_.versions.kubernetes, site_.versions.etcd}, kube_world()};
  std::unique_ptr<NasStorage> nas_;
  std::map<std::string, std::string> lb_ips_;      // "ns/name" -> IP
  std::map<std::string, std::string> vip_holder_;  // IP -> machine answering ARP for it
  std::map<std::string, std::string> pending_;     // "ns/name" -> why MetalLB left it pending (logged once)
  std::map<std::string, world::Duration> vip_moving_;  // IP -> when its failover completes
  std::unique_ptr<FaultSchedule> faults_;
  std::set<std::string> violations_;               // logged once each
  std::vector<std::string> powered_before_fault_;
  bool apiserver_stopped_ = false;  // a fault closed the API server's port  // VMs a host power fault will start again
  std::map<std::string, std::unique_ptr<DhcpServer>> physical_dhcp_;  // machine -> its DHCP server
  /// dnsmasq on a machine as it read its configuration at its last start, and its DHCP server
  /// built from that (kept, with its leases, until dnsmasq starts again).
  struct DnsmasqServed {
    std::optional<world::Duration> read_at;  // when it read them (nullopt: never parsed yet)
    std::optional<DnsmasqConfig> config;  // nullopt: unreadable (dnsmasq would not have started)
    std::unique_ptr<DhcpServer> dhcp;
  };
  std::map<std::string, DnsmasqServed> dnsmasq_;
  /// What dnsmasq on `machine` serves; nullptr when it is not running there.
  DnsmasqServed* dnsmasq_served(const std::string& machine);
  std::optional<Lease> dnsmasq_lease(const std::string& mac, const std::string& segment);
  /// What dnsmasq on `server` answers for `name` (its host-record lines, as read at start); "" for none.
  std::string dnsmasq_record(const std::string& server, const std::string& name);
  /// What the DNS server on `node` answers for `name`: pfSense's resolver its host overrides,
  /// dnsmasq its records; nothing else (recursion is not modelled).
  std::vector<std::string> dns_records(const std::string& node, const std::string& name);
};

}  // namespace drctl::sim
