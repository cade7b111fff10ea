#include "actions/verify.hpp"

#include <algorithm>

#include "actions/generic.hpp"
#include "actions/snapshot_section.hpp"
#include "world/url.hpp"

namespace drctl::actions {

using world::Duration;

namespace {

/// A check that polls until nothing is failing: done when nothing fails now; otherwise waits
/// (inputs `timeout`, `interval`) and names what still fails. Connections start at the input
/// `from` (a site host) when it is given, else at drctl's machine.
class Probe : public Action {
 public:
  bool check(Context& ctx) const override { return failing(ctx).empty(); }
  json apply(Context& ctx) const override {
    std::string failed;
    if (poll_until(ctx, duration_input(ctx.inputs, "timeout"), duration_input(ctx.inputs, "interval"),
                   [&] { return (failed = failing(ctx)).empty(); }))
      return json::object();
    throw ActionError(failure(ctx, failed));
  }

 protected:
  /// What fails now ("" when nothing does), and the error naming it.
  virtual std::string failing(Context& ctx) const = 0;
  virtual std::string failure(Context& ctx, const std::string& failed) const = 0;
  static world::Network& network(Context& ctx) {
    const std::string from = ctx.inputs.value("from", "");
    return from.empty() ? ctx.world.network() : ctx.world.network_from(from);
  }
  /// " from HOST" when the check is made from another host.
  static std::string from_text(Context& ctx) {
    const std::string from = ctx.inputs.value("from", "");
    return from.empty() ? "" : " from " + from;
  }
};

/// verify.vip: every TCP port of the address accepts connections.
class VerifyVip : public Probe {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{"verify.vip",
                              "Check that a VIP accepts TCP connections on each of its ports",
                              {{"address", InputType::String, true, std::nullopt, "The VIP"},
                               {"ports", InputType::List, true, std::nullopt, "TCP ports, e.g. [80, 443, 993]"},
                               {"from", InputType::String, false, std::nullopt,
                                "A site host to connect from (a visitor on the internet); default: drctl's machine"},
                               {"timeout", InputType::Duration, false, json("2m"), "Give up after this long"},
                               {"interval", InputType::Duration, false, json("5s"), "Time between attempts"}},
                              {}};
    return s;
  }

 protected:
  std::string failure(Context& ctx, const std::string& failed) const override {
    return ctx.inputs["address"].get<std::string>() + " does not answer" + from_text(ctx) + " on " + failed;
  }
  std::string failing(Context& ctx) const override {
    const std::string address = ctx.inputs.at("address").get<std::string>();
    std::string out;
    for (const auto& p : ctx.inputs.at("ports")) {
      const int port = p.is_number() ? p.get<int>() : std::stoi(p.get<std::string>());
      if (!network(ctx).tcp_probe(address, port, Duration(3000))) out += (out.empty() ? "" : ", ") + std::to_string(port);
    }
    return out;
  }
};

/// verify.ingress: each host through the ingress VIP answers 200 from its own backend; hosts
/// with `tls: true` over HTTPS too, with a certificate for that host.
class VerifyIngress : public Probe {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "verify.ingress",
        "Check each host through the ingress VIP: HTTP 200 from its own backend, and TLS where asked",
        {{"address", InputType::String, true, std::nullopt, "The ingress VIP"},
         {"hosts", InputType::List, true, std::nullopt,
          "Entries {host, path (default /), expect (text the body must contain), tls (also over HTTPS: the handshake "
          "and a certificate naming the host)}"},
         {"trusted", InputType::Boolean, false, json(false), "TLS: the certificate's chain must verify against the system's CAs"},
         {"from", InputType::String, false, std::nullopt,
          "A site host to make the requests from (a visitor on the internet reaching the public address); default: drctl's machine"},
         {"timeout", InputType::Duration, false, json("5m"), "Give up after this long"},
         {"interval", InputType::Duration, false, json("10s"), "Time between attempts"}},
        {}};
    return s;
  }

 protected:
  std::string failure(Context& ctx, const std::string& failed) const override {
    return "through " + ctx.inputs["address"].get<std::string>() + from_text(ctx) + ": " + failed;
  }
  std::string failing(Context& ctx) const override {
    const std::string address = ctx.inputs.at("address").get<std::string>();
    const bool trusted = ctx.inputs.value("trusted", false);
    std::string out;
    for (const auto& h : ctx.inputs.at("hosts")) {
      if (!h.is_object() || !h.contains("host")) throw ActionError("hosts: each entry needs `host` (and optionally path, expect, tls)");
      const std::string host = h["host"].get<std::string>(), path = h.value("path", "/"), expect = h.value("expect", "");
      const bool tls = h.value("tls", false);
      for (const bool https : {false, true}) {
        if (https && !tls) continue;
        auto r = network(ctx).http_get((https ? "https://" : "http://") + address + path, host, Duration(5000));
        std::string problem;
        if (r.status != 200)
          problem = r.status == 0 ? r.error : "HTTP " + std::to_string(r.status) + " " + tail_lines(r.body, 1);
        else if (!expect.empty() && r.body.find(expect) == std::string::npos)
          problem = "the answer does not come from its backend (no '" + expect + "' in: " + tail_lines(r.body, 1) + ")";
        else if (https && !world::tls_name_matches(r.tls_names, host))
          problem = "the certificate is not for this host (it names " + join(r.tls_names) + ")" + default_certificate(r.tls_names);
        else if (https && trusted && !r.tls_trusted)
          problem = "the certificate is not trusted: " + r.tls_verify_error;
        if (!problem.empty()) out += std::string(out.empty() ? "" : "; ") + (https ? "https://" : "") + host + ": " + problem;
      }
    }
    return out;
  }

 private:
  /// ingress-nginx presents its own certificate (DNS name ingress.local) when no TLS Secret of
  /// an Ingress covers the host: say so, as that is what to fix.
  static std::string default_certificate(const std::vector<std::string>& names) {
    if (names.size() != 1 || names[0] != "ingress.local") return "";
    return ": ingress-nginx's default \"Kubernetes Ingress Controller Fake Certificate\", served when no TLS Secret of "
           "an Ingress for the host holds a valid certificate covering it";
  }
  static std::string join(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s.empty() ? "nothing" : s;
  }
};

/// verify.dns: a DNS server answers a name over UDP with the address expected — from drctl's
/// machine, or (`from`) from a site host, e.g. a visitor asking through the border router's forward.
class VerifyDns : public Probe {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "verify.dns",
        "Check that a DNS server answers a name (A records) over UDP, with the address expected when one is given",
        {{"server", InputType::String, true, std::nullopt, "The server's IP address; [v6] and :port are accepted"},
         {"name", InputType::String, true, std::nullopt, "The name to ask for"},
         {"expect", InputType::String, false, std::nullopt, "An address the answer must hold"},
         {"from", InputType::String, false, std::nullopt,
          "A site host to ask from (a visitor on the internet; it needs dig or drill); default: drctl's machine"},
         {"timeout", InputType::Duration, false, json("2m"), "Give up after this long"},
         {"interval", InputType::Duration, false, json("5s"), "Time between attempts"}},
        {}};
    return s;
  }

 protected:
  std::string failure(Context& ctx, const std::string& failed) const override {
    return "DNS " + ctx.inputs["server"].get<std::string>() + from_text(ctx) + ": " + failed;
  }
  std::string failing(Context& ctx) const override {
    const auto [server, port] = server_and_port(ctx.inputs.at("server").get<std::string>());
    const std::string name = ctx.inputs.at("name").get<std::string>(), expect = ctx.inputs.value("expect", "");
    const world::DnsAnswer a = network(ctx).dns_query(server, port, name, Duration(5000));
    if (a.rcode.empty()) return "no answer to " + name + ": " + a.error;
    if (a.rcode != "NOERROR") return name + ": " + a.rcode;
    if (a.addresses.empty()) return name + ": no A record";
    if (expect.empty() || std::find(a.addresses.begin(), a.addresses.end(), expect) != a.addresses.end()) return "";
    std::string got;
    for (const auto& address : a.addresses) got += (got.empty() ? "" : ", ") + address;
    return name + " is " + got + ", not " + expect;
  }

 private:
  /// "10.0.20.1", "10.0.20.1:5353", "[2a00::1]", "[2a00::1]:53", "2a00::1": the address and the port (53 unless given).
  static std::pair<std::string, int> server_and_port(const std::string& text) {
    std::string address = text;
    int port = 53;
    auto take_port = [&](std::size_t colon) {
      const std::string digits = address.substr(colon + 1);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 5 ||
          std::stoi(digits) < 1 || std::stoi(digits) > 65535)
        throw ActionError("server: '" + text + "' has no valid port after its ':'");
      port = std::stoi(digits);
      address.resize(colon);
    };
    if (!address.empty() && address.front() == '[') {
      const auto close = address.find(']');
      if (close == std::string::npos) throw ActionError("server: '" + text + "' opens '[' and never closes it");
      if (close + 1 < address.size()) {
        if (address[close + 1] != ':') throw ActionError("server: '" + text + "': only :PORT may follow ']'");
        take_port(close + 1);
      }
      address = address.substr(1, close - 1);
    } else if (std::count(address.begin(), address.end(), ':') == 1) {
      take_port(address.find(':'));
    }
    return {address, port};
  }
};

/// verify.data: the files of a directory on the step's host hash as the snapshot's section says.
class VerifyData : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "verify.data",
        "Check restored data: every file of a snapshot's section is in a directory of the step's host with the same "
        "SHA-256 (hashed there; files added since are listed, not counted as differences)",
        {{"repo", InputType::String, true, std::nullopt, "The repository on this machine"},
         {"snapshot", InputType::String, false, json("latest"), "Snapshot id, prefix, or latest"},
         {"section", InputType::String, true, std::nullopt, "e.g. nas/mail"},
         {"path", InputType::String, true, std::nullopt, "The directory on the host"}},
        {{"files", "Files checked"}, {"differences", "Files missing or changed"}, {"extra", "Files not in the snapshot"}}};
    return s;
  }
  bool check(Context&) const override { return false; }  // a check is cheap and always worth doing
  json apply(Context& ctx) const override {
    const OpenSection open(ctx.inputs);
    const std::string path = ctx.inputs.at("path").get<std::string>();
    const auto diff = open.compare(ctx.host, path);
    ctx.log(ctx.host.name() + ":" + path + " against " + open.section->name + " of " + open.snap.id.short_hex() + ": " +
            std::to_string(diff.same) + " files equal, " + diff.describe() + "\n");
    if (!diff.equal())
      throw ActionError(ctx.host.name() + ":" + path + " differs from " + open.section->name + " of snapshot " +
                        open.snap.id.short_hex() + ": " + diff.describe());
    return {{"files", diff.same}, {"differences", 0}, {"extra", diff.extra.size()}};
  }
};

}  // namespace

void add_verify_actions(Registry& registry) {
  registry.add(std::make_unique<VerifyData>());
  registry.add(std::make_unique<VerifyVip>());
  registry.add(std::make_unique<VerifyIngress>());
  registry.add(std::make_unique<VerifyDns>());
}

}  // namespace drctl::actions
