// Small helpers shared by the simulated Kubernetes' files (kube*.cpp): argument parsing as
// cobra does it, base64, names and subnets, commands' results, and reading fields of API objects.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/engine.hpp"
#include "sim/kube_types.hpp"

namespace drctl::sim::kube_util {

std::string base64(const std::string& data);
/// Decodes base64; nullopt if malformed.
std::optional<std::string> unbase64(const std::string& text);

/// Virtual time as the cluster's clocks show it: RFC 3339 UTC to the second, the simulation
/// starting at 2024-01-01T00:00:00Z ("2024-01-01T00:12:05Z").
std::string sim_time(Duration t);
/// A UUID (version 4 in form) derived from `seed`: the same seed, the same uid.
std::string sim_uuid(const std::string& seed);

/// `n` characters of [a-z0-9] drawn from the seeded RNG (token ids and secrets, pod name suffixes).
std::string random_chars(Rng& rng, int n);
/// A subnet as kubeadm's configuration gives it ("10.244.0.0/16"): its address as written (host
/// bits kept, the cluster counts its addresses from it) and prefix length; nullopt without a '/'.
std::optional<std::pair<std::uint32_t, int>> cluster_subnet(const std::string& cidr);

/// A failed command: exit `code`, `err` on stderr.
KubeResult fail(const std::string& err, int code = 1);
/// Whether `path` exists among a machine's files.
bool exists(const KubeFiles& files, const std::string& path);

/// Go's time.ParseDuration for h/m/s/ms units ("24h0m0s", "90s", "1500ms"); nullopt if malformed.
std::optional<Duration> go_duration(const std::string& text);

/// Flags and positional arguments, cobra-style: `--flag value`, `--flag=value`, `-f value`.
struct Args {
  std::map<std::string, std::string> flags;              // the last value of each flag
  std::vector<std::pair<std::string, std::string>> all;  // every flag in order (repeated -f)
  std::vector<std::string> positional;
  std::string error;
  bool has(const std::string& f) const { return flags.count(f) > 0; }
  std::string get(const std::string& f, const std::string& fallback = "") const;
  std::vector<std::string> values(const std::string& f) const;
};
/// Parses argv[from..]; `aliases` maps short flags to long ones ("-n" → "--namespace").
Args parse_args(const std::vector<std::string>& argv, std::size_t from, const std::set<std::string>& with_value,
                const std::set<std::string>& boolean, const std::map<std::string, std::string>& aliases = {});
/// Where the arguments start: argv may or may not begin with the program's own name.
std::size_t first_arg(const std::vector<std::string>& argv, const std::string& program);

json labels_of(const json& obj);
/// Whether `labels` carry every key/value of a (non-empty) selector map.
bool matches(const json& selector, const json& labels);
json spec_of(const json& obj);
/// spec.replicas of a workload (1 when unset).
int replicas_of(const json& obj);
/// The string at `ptr`, "" if absent or not a string.
std::string str(const json& obj, const json::json_pointer& ptr);

}  // namespace drctl::sim::kube_util
