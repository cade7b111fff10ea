// `drctl hosts trust`: adds a host's SSH key to known_hosts once the operator has named its
// fingerprint — drctl itself never trusts a key on first use — or pins a hypervisor's TLS
// certificate in the site the same way. `drctl hosts check`: whether every SSH host of a site
// answers, with a known key, a login and (become: sudo) sudo, and whether its hypervisor does.
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/site_hosts.hpp"
#include "base/yaml_json.hpp"
#include "runbook/loader.hpp"
#include "base/error.hpp"
#include "world/real/hypervisor_config.hpp"
#include "world/real/known_hosts.hpp"
#include "world/real/ssh_config.hpp"
#include "world/real/ssh_host.hpp"
#include "base/shell.hpp"

namespace drctl::cli {

namespace {

using namespace drctl::world::real;

struct TrustArgs {
  std::string host, fingerprint, known_hosts, ssh_config, site;
  int port = 0;
};

runbook::Site site_of(const std::string& file);
int cmd_trust_certificate(const TrustArgs& a);

int cmd_trust(const TrustArgs& a) {
  if (a.host.rfind("https://", 0) == 0) return cmd_trust_certificate(a);
  SshHostSpec spec;
  spec.name = a.host;
  spec.address = a.host;
  spec.port = a.port;
  spec.known_hosts = a.known_hosts;
  spec.ssh_config = a.ssh_config;
  SshEndpoint ep;
  std::string fingerprint;
  try {
    ep = resolve_ssh_endpoint(spec);
    fingerprint = normalize_fingerprint(a.fingerprint);
  } catch (const SshConfigError& e) {
    throw InputError(e.what());
  }
  TrustOutcome out;
  try {
    out = trust_host_key(ep, fingerprint, ep.connect_timeout);
  } catch (const SshError& e) {
    throw Failure(e.what());
  }
  if (!out.written) {
    std::printf("%s is already trusted: its %s key %s is in %s; nothing was written\n", ep.host_and_port().c_str(),
                out.key.type.c_str(), out.key.fingerprint.c_str(), out.trusted_in.c_str());
    return kOk;
  }
  std::printf("trusted %s: its %s key %s was added to %s\n", ep.host_and_port().c_str(), out.key.type.c_str(),
              out.key.fingerprint.c_str(), ep.known_hosts.c_str());
  if (out.other_keys)
    warn(ep.known_hosts + " still holds an older key for " + ep.host_and_port() +
         ", which is still accepted too; to drop it, run `" + out.remove_hint + "` and then this command again");
  return kOk;
}

/// Sets `thumbprint:` in the `hypervisor:` block of the site file's text (replacing one that is
/// there, else as the block's first entry); the rest of the file stays as written. Throws
/// InputError when the block is not a block map drctl can edit.
std::string with_thumbprint(const std::string& text, const std::string& file, const std::string& thumbprint) {
  std::vector<std::string> lines;
  for (std::size_t at = 0; at <= text.size();) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  auto indent_of = [](const std::string& l) { return l.find_first_not_of(' '); };
  auto blank = [](const std::string& l) {
    const auto p = l.find_first_not_of(' ');
    return p == std::string::npos || l[p] == '#';
  };
  std::size_t head = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i].rfind("hypervisor:", 0) == 0) head = i;
  if (head == lines.size()) throw InputError(file + ": no `hypervisor:` at the top level to pin the certificate in");
  const std::string rest = lines[head].substr(11);
  if (!blank(rest)) throw InputError(file + ": hypervisor: is written inline; add `thumbprint: \"" + thumbprint + "\"` to it by hand");
  std::size_t child_indent = 0, pinned = 0;  // pinned: the line of a thumbprint: already there (never line 0)
  for (std::size_t i = head + 1; i < lines.size() && !pinned; ++i) {
    if (blank(lines[i])) continue;
    const auto ind = indent_of(lines[i]);
    if (ind == 0) break;
    if (!child_indent) child_indent = ind;
    if (ind == child_indent && lines[i].compare(ind, 11, "thumbprint:") == 0) pinned = i;
  }
  const std::string entry = std::string(child_indent ? child_indent : 2, ' ') + "thumbprint: \"" + thumbprint + "\"";
  if (pinned)
    lines[pinned] = entry;
  else
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(head) + 1, entry + "   # pinned by drctl hosts trust");
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) out += lines[i] + (i + 1 < lines.size() ? "\n" : "");
  return out;
}

int cmd_trust_certificate(const TrustArgs& a) {
  if (a.site.empty()) throw InputError("hosts trust " + a.host + ": give the site whose hypervisor this is (--site SITE.yaml)");
  const runbook::Site site = site_of(a.site);
  const std::string url = site.hypervisor.is_object() ? site.hypervisor.value("url", "") : "";
  if (url != a.host) throw InputError(site.file + ": hypervisor.url is '" + url + "', not " + a.host);
  std::string want;
  try {
    want = world::real::normalize_thumbprint(a.fingerprint);
  } catch (const std::invalid_argument& e) {
    throw InputError(std::string("--fingerprint: ") + e.what());
  }
  std::string seen;
  try {
    seen = world::real::tls_thumbprint(url, 30);
  } catch (const std::runtime_error& e) {
    throw Failure(e.what());
  }
  if (seen != want)
    throw Failure(url + " presents a certificate with SHA-256 thumbprint " + seen + ", not " + want + ": nothing was pinned");
  std::ifstream in(site.file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string updated = with_thumbprint(text.str(), site.file, seen);
  const std::string tmp = site.file + ".drctl-tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << updated;
    if (!out.flush()) throw Failure("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::permissions(tmp, std::filesystem::status(site.file).permissions(), ec);
  std::filesystem::rename(tmp, site.file, ec);
  if (ec) throw Failure("cannot replace " + site.file + ": " + ec.message());
  std::printf("pinned %s: its certificate %s is now the only one drctl accepts there (thumbprint: in %s)\n", url.c_str(),
              seen.c_str(), site.file.c_str());
  return kOk;
}

struct CheckArgs {
  std::string file, ssh_config;
};

/// The site of FILE: a runbook's (it has `steps`), or FILE itself.
runbook::Site site_of(const std::string& file) {
  try {
    YAML::Node doc = load_yaml_file(file);
    if (doc.IsMap() && doc["steps"]) {
      runbook::Runbook rb = runbook::load_runbook(file);
      if (!rb.site) throw InputError(file + ": the runbook has no site: it runs on this machine only");
      return *rb.site;
    }
    return runbook::load_site(file);
  } catch (const runbook::LoadError& e) {
    throw InputError(e.what());
  } catch (const YAML::Exception& e) {
    throw InputError(file + ": " + e.what());
  }
}

/// What became of one host: where it was reached (user@host:port) and, when it did not answer
/// as it should, why not.
struct HostCheck {
  std::string where, problem;
};

HostCheck check_host(const SshHostSpec& spec) {
  HostCheck out{spec.address, ""};
  try {
    SshEndpoint ep = resolve_ssh_endpoint(spec);
    out.where = ep.describe();
    world::Cancel cancel;
    SshHost host(std::move(ep), cancel);
    world::Command c = world::shell_command("true");
    c.timeout = std::chrono::seconds(30);
    const world::CommandResult r = host.run(c);
    if (!r.transport_error.empty()) {
      out.problem = r.transport_error;
    } else if (r.timed_out) {
      out.problem = "`true` did not finish within 30 s";
    } else if (!r.ok()) {
      std::string err = r.err;
      while (!err.empty() && err.back() == '\n') err.pop_back();
      out.problem = (spec.sudo ? "sudo -n true" : "true") + std::string(" exited with status ") +
                    std::to_string(r.exit_code) + (err.empty() ? "" : ": " + err);
    }
  } catch (const std::exception& e) {
    out.problem = e.what();
  }
  return out;
}

int cmd_check(const CheckArgs& a) {
  const runbook::Site site = site_of(a.file);
  const auto specs = site_ssh_specs(site, a.ssh_config);
  std::vector<HostCheck> checks(specs.size());
  std::vector<std::thread> workers;  // side by side: an unreachable host waits out its connect timeout
  for (std::size_t i = 0; i < specs.size(); ++i) workers.emplace_back([&, i] { checks[i] = check_host(specs[i]); });
  for (auto& w : workers) w.join();
  int failed = 0;
  std::optional<world::real::HypervisorConfig> hv_config;
  std::string hv_line, hv_problem;
  try {
    hv_config = site_hypervisor(site);
    if (hv_config) hv_line = world::real::make_hypervisor(*hv_config)->check();
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    hv_problem = e.what();
  }
  if (hv_config && hv_problem.empty()) std::printf("%-14s ok      %s\n", "hypervisor", hv_line.c_str());
  if (hv_config && !hv_problem.empty()) {
    ++failed;
    std::printf("%-14s FAILED  %s\n", "hypervisor", hv_problem.c_str());
  }
  for (const auto& h : site.hosts)
    if (h.connection == "local") std::printf("%-14s ok      this machine\n", h.name.c_str());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (checks[i].problem.empty()) {
      std::printf("%-14s ok      %s%s\n", specs[i].name.c_str(), checks[i].where.c_str(),
                  specs[i].sudo ? ", root through sudo" : "");
      continue;
    }
    ++failed;
    std::printf("%-14s FAILED  %s\n", specs[i].name.c_str(), checks[i].problem.c_str());
  }
  if (failed)
    std::fprintf(stderr, "drctl: %d of %zu %s of %s cannot be used\n", failed, specs.size() + (hv_config ? 1 : 0),
                 hv_config ? "hosts and hypervisors" : "SSH hosts", site.file.c_str());
  return failed ? kFailed : kOk;
}

}  // namespace

void add_hosts_command(CLI::App& app, Action& run) {
  auto a = std::make_shared<TrustArgs>();
  auto* hosts = app.add_subcommand("hosts", "SSH hosts and hypervisors: trust a host's key or a certificate, check a site's hosts");
  hosts->require_subcommand(1);
  auto* trust = hosts->add_subcommand(
      "trust", "Add a host's SSH key to known_hosts, after checking it has the fingerprint you give (compare it with "
               "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host's console)");
  trust->add_option("HOST", a->host,
                    "The host, as in the site or after `ssh` (resolved through the SSH config); or the site's hypervisor "
                    "URL (https://…) to pin its TLS certificate in the site (with --site)")
      ->required();
  trust->add_option("--fingerprint", a->fingerprint,
                    "The key's fingerprint: SHA256:… (for a hypervisor, the certificate's SHA-256 thumbprint AB:CD:…, as "
                    "its console or `openssl x509 -noout -fingerprint -sha256` shows it)")
      ->required();
  trust->add_option("--site", a->site, "With a hypervisor URL: the site.yaml whose hypervisor it is; its thumbprint: is set")
      ->check(CLI::ExistingFile);
  trust->add_option("--port", a->port, "The SSH port (default: the SSH config's, else 22)")
      ->check(CLI::Validator([](std::string& v) { return whole_number_problem(v, "", 1, 65535); }, "", "PORT"));
  trust->add_option("--known-hosts", a->known_hosts, "The known_hosts file to add to (default: the SSH config's, else ~/.ssh/known_hosts)");
  trust->add_option("--ssh-config", a->ssh_config, "The SSH client config to read (default: ~/.ssh/config)");
  trust->callback([&run, a] { run = [a] { return cmd_trust(*a); }; });

  auto c = std::make_shared<CheckArgs>();
  auto* check = hosts->add_subcommand(
      "check", "Check every SSH host of a site (or of a runbook's site) before a run: it answers, its key is known, the "
               "login works and, for become: sudo, sudo -n does; and its hypervisor: reachable, certificate as pinned, "
               "login, the datacenter, datastore and networks the site names; exit 1 when one is not so");
  check->add_option("FILE", c->file, "A site.yaml, or a runbook with a site")->required()->check(CLI::ExistingFile);
  check->add_option("--ssh-config", c->ssh_config, "The SSH client config to read (default: ~/.ssh/config)");
  check->callback([&run, c] { run = [c] { return cmd_check(*c); }; });
}

}  // namespace drctl::cli
