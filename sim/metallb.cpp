#include "sim/metallb.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <set>
#include <stdexcept>

#include "sim/ipv4_text.hpp"
#include "base/text.hpp"

namespace drctl::sim {

namespace {

using nlohmann::json;

const char* kNamespace = "metallb-system";

// Go's %q for the plain text MetalLB quotes.
std::string q(const std::string& s) { return "\"" + s + "\""; }

using text::trim;

// A string member of a JSON object, "" when absent or not a string.
std::string str(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& member(const json& obj, const char* key) {
  static const json none;
  if (!obj.is_object()) return none;
  auto it = obj.find(key);
  return it == obj.end() ? none : *it;
}

std::string object_name(const json& obj) {
  const json& meta = member(obj, "metadata");
  return str(meta, "namespace") + "/" + str(meta, "name");
}

// ---- addresses ----------------------------------------------------------------------------------

struct Range {
  std::uint32_t first = 0, last = 0;
  bool contains(std::uint32_t ip) const { return first <= ip && ip <= last; }
  bool overlaps(const Range& o) const { return first <= o.last && o.first <= last; }
};

// "10.0.20.0/24" (host bits are masked, as Go's net.ParseCIDR does); throws std::invalid_argument.
Range parse_prefix(const std::string& text) {
  const auto slash = text.find('/');
  const std::string bits_text = slash == std::string::npos ? "" : text.substr(slash + 1);
  if (bits_text.empty() || bits_text.size() > 2 || !std::all_of(bits_text.begin(), bits_text.end(), ::isdigit) ||
      std::stoi(bits_text) > 32)
    throw std::invalid_argument("invalid CIDR " + q(text));
  const int bits = std::stoi(bits_text);
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  std::uint32_t ip = 0;
  try {
    ip = ipv4_or_throw(text.substr(0, slash));
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("invalid CIDR " + q(text));
  }
  return {ip & mask, (ip & mask) | ~mask};
}

// MetalLB's ParseCIDR: a prefix or "start-end", with MetalLB's messages.
Range parse_range(const std::string& text) {
  const auto dash = text.find('-');
  if (dash == std::string::npos) return parse_prefix(text);
  const std::string start = text.substr(0, dash), end = text.substr(dash + 1);
  auto ip = [&](const std::string& part, const char* which) {
    try {
      return ipv4_or_throw(trim(part));
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument("invalid IP range " + q(text) + ": invalid " + which + " IP " + q(part));
    }
  };
  const Range r{ip(start, "start"), ip(end, "end")};
  if (r.first > r.last)
    throw std::invalid_argument("invalid IP range " + q(text) + ": start IP " + q(trim(start)) +
                                " is after the end IP " + q(trim(end)));
  return r;
}

// ---- pools --------------------------------------------------------------------------------------

struct AcceptedRange {
  std::string pool, text;
  Range range;
};

// MetalLB's own validation of one pool against those accepted before it; throws std::invalid_argument
// with MetalLB's message. On success the pool's ranges join `accepted`.
void validate_pool(const MetalPool& pool, std::vector<AcceptedRange>& accepted) {
  if (pool.name.empty()) throw std::invalid_argument("missing pool name");
  if (pool.ranges.empty()) throw std::invalid_argument("pool has no prefixes defined");
  std::vector<AcceptedRange> mine;
  for (const auto& text : pool.ranges) {
    try {
      mine.push_back({pool.name, text, parse_range(text)});
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("invalid CIDR " + q(text) + " in pool " + q(pool.name) + ": " + e.what());
    }
  }
  for (const auto& a : accepted)
    if (a.pool == pool.name) throw std::invalid_argument("duplicate definition of pool " + q(pool.name));
  for (const auto& m : mine)
    for (const auto& a : accepted)
      if (m.range.overlaps(a.range))
        throw std::invalid_argument("CIDR " + q(m.text) + " in pool " + q(pool.name) +
                                    " overlaps with already defined CIDR " + q(a.text));
  accepted.insert(accepted.end(), mine.begin(), mine.end());
}

// The legacy ConfigMap metallb-system/config (MetalLB <= 0.12). A pool MetalLB cannot parse rejects
// the whole configuration, as MetalLB does.
void read_configmap(const json& cm, MetalConfig& out) {
  const std::string where = "ConfigMap metallb-system/config";
  const json& text = member(member(cm, "data"), "config");
  if (!text.is_string()) {
    out.errors.push_back(where + " has no data.config: MetalLB has no pools");
    return;
  }
  struct Candidate {
    MetalPool pool;
    std::string protocol;
  };
  std::vector<Candidate> candidates;
  bool has_peers = false;
  try {
    const YAML::Node root = YAML::Load(text.get<std::string>());
    has_peers = root["peers"] && root["peers"].size() > 0;
    std::vector<AcceptedRange> accepted;
    const YAML::Node pools = root["address-pools"];
    for (std::size_t i = 0; pools && i < pools.size(); ++i) {
      const YAML::Node p = pools[i];
      Candidate c;
      c.pool.name = p["name"] ? p["name"].as<std::string>() : "";
      c.protocol = p["protocol"] ? p["protocol"].as<std::string>() : "";
      if (p["addresses"])
        for (const auto& a : p["addresses"]) c.pool.ranges.push_back(a.as<std::string>());
      if (p["auto-assign"]) c.pool.auto_assign = p["auto-assign"].as<bool>();
      c.pool.announced = c.protocol == "layer2";
      try {
        validate_pool(c.pool, accepted);
        if (c.protocol.empty()) throw std::invalid_argument("address pool is missing the protocol field");
        if (c.protocol != "layer2" && c.protocol != "bgp")
          throw std::invalid_argument("unknown protocol " + q(c.protocol));
      } catch (const std::invalid_argument& e) {
        out.errors.push_back(where + " rejected, MetalLB keeps no pools: parsing address pool #" +
                             std::to_string(i + 1) + ": " + e.what());
        return;
      }
      candidates.push_back(std::move(c));
    }
  } catch (const YAML::Exception& e) {
    out.errors.push_back(where + " rejected, MetalLB keeps no pools: could not parse config: " + e.what());
    return;
  }
  for (auto& c : candidates) {
    if (c.protocol == "bgp" && !has_peers) {
      out.errors.push_back("pool " + q(c.pool.name) +
                           " rejected: protocol bgp but the configuration has no peers, so nothing announces it");
      continue;
    }
    out.pools.push_back(std::move(c.pool));
  }
}

bool labels_match(const json& match_labels, const json& labels) {
  for (const auto& [k, v] : match_labels.items())
    if (!labels.is_object() || !labels.contains(k) || labels[k] != v) return false;
  return true;
}

// Whether an L2Advertisement selects the pool: by name, by label selector, or (neither listed) all.
bool advertises(const json& l2, const json& pool) {
  const json& spec = member(l2, "spec");
  const json& names = member(spec, "ipAddressPools");
  const json& selectors = member(spec, "ipAddressPoolSelectors");
  const bool by_name = names.is_array() && !names.empty();
  const bool by_label = selectors.is_array() && !selectors.empty();
  if (!by_name && !by_label) return true;
  const std::string name = str(member(pool, "metadata"), "name");
  if (by_name && std::find(names.begin(), names.end(), json(name)) != names.end()) return true;
  if (by_label)
    for (const auto& s : selectors)
      if (labels_match(member(s, "matchLabels"), member(member(pool, "metadata"), "labels"))) return true;
  return false;
}

// MetalLB reads its objects only from its own namespace; one applied elsewhere is named and skipped.
bool in_metallb_namespace(const json& obj, MetalConfig& out) {
  const std::string ns = str(member(obj, "metadata"), "namespace");
  if (ns.empty() || ns == kNamespace) return true;
  out.errors.push_back(str(obj, "kind") + " " + object_name(obj) + " is ignored: MetalLB reads only " + kNamespace);
  return false;
}

// IPAddressPool + L2Advertisement (MetalLB >= 0.13). The webhook rejects a bad pool on its own.
void read_crds(const std::vector<json>& objects, MetalConfig& out) {
  std::vector<json> l2ads;
  for (const auto& o : objects)
    if (str(o, "kind") == "L2Advertisement" && in_metallb_namespace(o, out)) l2ads.push_back(o);
  std::vector<AcceptedRange> accepted;
  for (const auto& o : objects) {
    if (str(o, "kind") != "IPAddressPool" || !in_metallb_namespace(o, out)) continue;
    MetalPool pool;
    pool.name = str(member(o, "metadata"), "name");
    const json& spec = member(o, "spec");
    for (const auto& a : member(spec, "addresses"))
      if (a.is_string()) pool.ranges.push_back(a.get<std::string>());
    if (const json& aa = member(spec, "autoAssign"); aa.is_boolean()) pool.auto_assign = aa.get<bool>();
    pool.announced = std::any_of(l2ads.begin(), l2ads.end(), [&](const json& l2) { return advertises(l2, o); });
    try {
      validate_pool(pool, accepted);
    } catch (const std::invalid_argument& e) {
      out.errors.push_back("IPAddressPool " + object_name(o) + " rejected: " + e.what());
      continue;
    }
    out.pools.push_back(std::move(pool));
  }
}

// ---- the controller -----------------------------------------------------------------------------

struct Port {
  std::string proto;
  int port = 0;
  auto operator<=>(const Port&) const = default;
  std::string str() const { return proto + "/" + std::to_string(port); }
};

// What a Service asks of the controller.
struct Request {
  std::string key;  // "ns/name"
  std::vector<Port> ports;
  std::string sharing, backend;  // MetalLB's sharing key and backend key
  std::string pool;              // requested pool, "" for any
  std::optional<std::uint32_t> ip;
  std::string error;  // the request itself is invalid
};

// An annotation under metallb.io/ or, failing that, the deprecated metallb.universe.tf/.
std::optional<std::string> annotation(const json& svc, const std::string& name) {
  const json& annotations = member(member(svc, "metadata"), "annotations");
  for (const char* prefix : {"metallb.io/", "metallb.universe.tf/"})
    if (const json& v = member(annotations, (prefix + name).c_str()); v.is_string()) return v.get<std::string>();
  return std::nullopt;
}

Request request_of(const json& svc) {
  Request r;
  r.key = object_name(svc);
  const json& spec = member(svc, "spec");
  for (const auto& p : member(spec, "ports")) {
    const std::string proto = str(p, "protocol");
    r.ports.push_back(
        {proto.empty() ? "TCP" : proto, member(p, "port").is_number_integer() ? p["port"].get<int>() : 0});
  }
  r.sharing = annotation(svc, "allow-shared-ip").value_or("");
  if (str(spec, "externalTrafficPolicy") == "Local")
    for (const auto& [k, v] : member(spec, "selector").items())  // sorted by key, as labels.Set.String()
      r.backend += (r.backend.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  r.pool = annotation(svc, "address-pool").value_or("");
  const auto wanted_ips = annotation(svc, "loadBalancerIPs");
  const std::string spec_ip = str(spec, "loadBalancerIP");
  if (wanted_ips && !spec_ip.empty()) {
    r.error = "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP";
  } else if (wanted_ips || !spec_ip.empty()) {
    try {
      r.ip = ipv4_or_throw(trim(wanted_ips.value_or(spec_ip)));
    } catch (const std::invalid_argument&) {
      r.error = wanted_ips ? "invalid metallb.io/loadBalancerIPs: " + q(*wanted_ips)
                           : "invalid spec.loadBalancerIP " + q(spec_ip);
    }
  }
  return r;
}

// The controller's allocator: which Services use which IP, with which keys and ports.
class Allocator {
 public:
  explicit Allocator(const MetalConfig& config) {
    for (const auto& p : config.pools) {
      std::vector<Range> ranges;
      for (const auto& text : p.ranges) ranges.push_back(parse_range(text));
      pools_.push_back({&p, std::move(ranges)});
    }
  }

  bool has_pools() const { return !pools_.empty(); }

  /// The name of the pool holding `ip`, "" when none does.
  std::string pool_of(std::uint32_t ip) const {
    for (const auto& p : pools_)
      for (const auto& r : p.ranges)
        if (r.contains(ip)) return p.def->name;
    return "";
  }

  /// Why `r` may not have `ip` (MetalLB's error: not in a pool, or the sharing rules), "" when it may.
  std::string check(const Request& r, std::uint32_t ip) const {
    if (pool_of(ip).empty()) return "[" + q(format_ipv4(ip)) + "] is not allowed in config";
    return sharing_conflict(r, ip);
  }

  /// Records that `r` holds `ip` (after check()).
  void take(const Request& r, std::uint32_t ip) {
    Use& use = uses_[ip];
    use.sharing = r.sharing;
    use.backend = r.backend;
    use.services.push_back(r.key);
    for (const auto& port : r.ports) use.ports[port] = r.key;
  }

  /// The first address of `pool` that `r` may have, taken; nullopt when none is left.
  std::optional<std::uint32_t> allocate_from(const Request& r, const std::string& pool) {
    for (const auto& p : pools_) {
      if (p.def->name != pool) continue;
      for (const auto& range : p.ranges)
        for (std::uint64_t candidate = range.first; candidate <= range.last; ++candidate) {
          const auto ip = static_cast<std::uint32_t>(candidate);
          if (check(r, ip).empty()) {
            take(r, ip);
            return ip;
          }
        }
    }
    return std::nullopt;
  }

  bool has_pool(const std::string& name) const {
    return std::any_of(pools_.begin(), pools_.end(), [&](const Pool& p) { return p.def->name == name; });
  }

  std::vector<std::string> auto_assign_pools() const {
    std::vector<std::string> names;
    for (const auto& p : pools_)
      if (p.def->auto_assign) names.push_back(p.def->name);
    return names;
  }

 private:
  struct Pool {
    const MetalPool* def;
    std::vector<Range> ranges;
  };
  struct Use {
    std::string sharing, backend;
    std::vector<std::string> services;
    std::map<Port, std::string> ports;  // port -> "ns/name"
  };

  // MetalLB's checkSharing: same non-empty sharing key, same backend key, no port used twice.
  std::string sharing_conflict(const Request& r, std::uint32_t ip) const {
    auto it = uses_.find(ip);
    if (it == uses_.end()) return "";
    const Use& use = it->second;
    if (use.sharing.empty() || r.sharing.empty() || use.sharing != r.sharing || use.backend != r.backend) {
      std::string others;
      for (const auto& s : use.services) others += (others.empty() ? "" : ",") + s;
      return "can't change sharing key for " + q(r.key) + ", address also in use by " + others;
    }
    for (const auto& port : r.ports)
      if (use.ports.contains(port)) return "port " + port.str() + " is already in use on " + q(format_ipv4(ip));
    return "";
  }

  std::vector<Pool> pools_;
  std::map<std::uint32_t, Use> uses_;
};

// A new allocation for `r` (MetalLB's allocateIPs): the IP, or MetalLB's error.
std::string allocate(Allocator& alloc, const Request& r, std::uint32_t& ip) {
  if (!r.error.empty()) return r.error;
  if (r.ip) {
    if (auto why = alloc.check(r, *r.ip); !why.empty()) return why;
    if (!r.pool.empty() && alloc.pool_of(*r.ip) != r.pool)
      return "requested loadBalancer IP(s) [" + q(format_ipv4(*r.ip)) +
             "] is not compatible with requested address pool " + r.pool;
    alloc.take(r, *r.ip);
    ip = *r.ip;
    return "";
  }
  if (!r.pool.empty()) {
    if (!alloc.has_pool(r.pool)) return "unknown pool " + q(r.pool);
    auto got = alloc.allocate_from(r, r.pool);
    if (!got) return "no available IPs in pool " + q(r.pool);
    ip = *got;
    return "";
  }
  for (const auto& pool : alloc.auto_assign_pools()) {
    if (auto got = alloc.allocate_from(r, pool)) {
      ip = *got;
      return "";
    }
  }
  return "no available IPs";
}

// Whether `previous` still holds for `r` (MetalLB re-asserts a Service's status before allocating).
bool keep_previous(Allocator& alloc, const Request& r, const std::string& previous) {
  std::uint32_t ip = 0;
  try {
    ip = ipv4_or_throw(previous);
  } catch (const std::invalid_argument&) {
    return false;
  }
  if (!r.error.empty() || (r.ip && *r.ip != ip)) return false;
  if ((!r.pool.empty() && alloc.pool_of(ip) != r.pool) || !alloc.check(r, ip).empty()) return false;
  alloc.take(r, ip);
  return true;
}

bool is_load_balancer(const json& svc) {
  return str(svc, "kind") == "Service" && str(member(svc, "spec"), "type") == "LoadBalancer";
}

}  // namespace

MetalConfig read_metallb_config(const std::vector<json>& objects, const Version& metallb) {
  MetalConfig out;
  // Up to v0.12 MetalLB reads the ConfigMap; from v0.13 only the CRDs (internal/config's For(),
  // fed by the config controller from IPAddressPool, L2Advertisement, …: the ConfigMap is never read).
  const bool crds = metallb.at_least(0, 13);
  const std::string version = "MetalLB " + metallb.text;
  for (const auto& o : objects) {
    const std::string kind = str(o, "kind");
    const json& meta = member(o, "metadata");
    if (kind == "ConfigMap" && str(meta, "namespace") == kNamespace && str(meta, "name") == "config") {
      if (crds)
        out.errors.push_back("ConfigMap metallb-system/config is ignored: " + version +
                             " reads only IPAddressPool and L2Advertisement objects (the ConfigMap was read up to 0.12)");
      else
        read_configmap(o, out);
    } else if (!crds && (kind == "IPAddressPool" || kind == "L2Advertisement")) {
      out.errors.push_back(kind + " " + object_name(o) + " is ignored: " + version +
                           " reads only the ConfigMap metallb-system/config (the CRDs came in 0.13)");
    }
  }
  if (crds) read_crds(objects, out);
  return out;
}

std::vector<MetalAssignment> assign_ips(const MetalConfig& config, const std::vector<json>& services,
                                        const std::map<std::string, std::string>& previous) {
  Allocator alloc(config);
  std::vector<Request> requests;
  std::vector<MetalAssignment> out;
  for (const auto& svc : services) {
    if (!is_load_balancer(svc)) continue;
    requests.push_back(request_of(svc));
    const json& meta = member(svc, "metadata");
    out.push_back({str(meta, "namespace"), str(meta, "name"), "", ""});
  }
  // Addresses Services already hold first, so that a new Service cannot take them.
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto prev = previous.find(requests[i].key);
    if (prev != previous.end() && keep_previous(alloc, requests[i], prev->second)) out[i].ip = prev->second;
  }
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!out[i].ip.empty()) continue;
    if (!alloc.has_pools()) {
      out[i].pending_reason = "no MetalLB address pool is configured";
      continue;
    }
    std::uint32_t ip = 0;
    const std::string why = allocate(alloc, requests[i], ip);
    if (why.empty())
      out[i].ip = format_ipv4(ip);
    else
      out[i].pending_reason = "Failed to allocate IP for " + q(requests[i].key) + ": " + why;
  }
  return out;
}

std::string announcing_node(const std::string& ip, const std::vector<std::string>& speaker_nodes) {
  std::string best;
  std::array<unsigned char, EVP_MAX_MD_SIZE> best_digest{};
  for (const auto& node : speaker_nodes) {
    const std::string key = node + "#" + ip;
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    EVP_Digest(key.data(), key.size(), digest.data(), &len, EVP_sha256(), nullptr);
    if (best.empty() || digest < best_digest) {
      best = node;
      best_digest = digest;
    }
  }
  return best;
}

std::vector<std::string> announcing_nodes(const std::vector<ServiceEndpoints>& services,
                                          const std::vector<std::string>& speaker_nodes) {
  std::set<std::string> out;
  for (const auto& svc : services) {
    if (svc.nodes.empty()) continue;  // no active endpoint: nobody announces for this Service
    for (const auto& node : speaker_nodes)
      if (!svc.local || std::find(svc.nodes.begin(), svc.nodes.end(), node) != svc.nodes.end()) out.insert(node);
  }
  return {out.begin(), out.end()};
}

}  // namespace drctl::sim
