#include "sim/kube_util.hpp"

#include "sim/tasks.hpp"

#include "base/ipv4.hpp"
#include "base/text.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <cstdio>
#include <ctime>

namespace drctl::sim::kube_util {

using text::sha256_hex;

std::string random_chars(Rng& rng, int n) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < n; ++i) s += alphabet[rng.range(0, alphabet.size() - 1)];
  return s;
}

std::optional<std::pair<std::uint32_t, int>> cluster_subnet(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) return std::nullopt;
  const auto net = parse_ipv4_cidr(cidr);
  if (!net) return std::nullopt;
  return std::pair(*parse_ipv4(cidr.substr(0, slash)), net->bits);
}

KubeResult fail(const std::string& err, int code) { return {code, "", err}; }

bool exists(const KubeFiles& files, const std::string& path) { return files.read && files.read(path).has_value(); }

std::optional<std::string> unbase64(const std::string& text) {
  std::string clean;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
  if (clean.size() % 4 != 0) return std::nullopt;
  std::string raw(clean.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = clean.ends_with("==") ? 2 : clean.ends_with("=") ? 1 : 0;
  raw.resize(static_cast<std::size_t>(n) - pad);
  return raw;
}

std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string sim_time(Duration t) {
  const std::time_t secs = static_cast<std::time_t>((kCalendarStart + std::chrono::duration_cast<std::chrono::seconds>(t)).count());
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string sim_uuid(const std::string& seed) {
  std::string h = sha256_hex("drctl-sim uid\n" + seed).substr(0, 32);
  h[12] = '4';
  h[16] = "89ab"[std::isdigit(static_cast<unsigned char>(h[16])) ? (h[16] - '0') % 4 : (h[16] - 'a') % 4];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::optional<Duration> go_duration(const std::string& text) {
  if (text == "0") return Duration(0);
  Duration total(0);
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j == i || j == text.size()) return std::nullopt;
    long long n = std::stoll(text.substr(i, j - i));
    char unit = text[j];
    if (unit == 'h') {
      total += std::chrono::hours(n);
    } else if (unit == 'm' && j + 1 < text.size() && text[j + 1] == 's') {
      total += std::chrono::milliseconds(n);
      ++j;
    } else if (unit == 'm') {
      total += std::chrono::minutes(n);
    } else if (unit == 's') {
      total += std::chrono::seconds(n);
    } else {
      return std::nullopt;
    }
    i = j + 1;
  }
  return text.empty() ? std::nullopt : std::optional(total);
}

std::string Args::get(const std::string& f, const std::string& fallback) const {
  auto it = flags.find(f);
  return it == flags.end() ? fallback : it->second;
}

std::vector<std::string> Args::values(const std::string& f) const {
  std::vector<std::string> out;
  for (const auto& [name, value] : all)
    if (name == f) out.push_back(value);
  return out;
}

Args parse_args(const std::vector<std::string>& argv, std::size_t from, const std::set<std::string>& with_value,
                const std::set<std::string>& boolean, const std::map<std::string, std::string>& aliases) {
  Args a;
  for (std::size_t i = from; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      a.positional.push_back(arg);
      continue;
    }
    std::string name = arg, value;
    bool inline_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    if (auto alias = aliases.find(name); alias != aliases.end()) name = alias->second;
    if (with_value.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) {
          a.error = "flag needs an argument: " + name;
          return a;
        }
        value = argv[++i];
      }
    } else if (boolean.count(name)) {
      if (!inline_value) value = "true";
    } else {
      a.error = "unknown flag: " + name;
      return a;
    }
    a.flags[name] = value;
    a.all.emplace_back(name, value);
  }
  return a;
}

std::size_t first_arg(const std::vector<std::string>& argv, const std::string& program) {
  if (argv.empty()) return 0;
  const std::string& a = argv[0];
  bool named = a == program || (a.size() > program.size() && a.ends_with("/" + program));
  return named ? 1 : 0;
}

json labels_of(const json& obj) {
  if (obj.contains("metadata") && obj["metadata"].contains("labels") && obj["metadata"]["labels"].is_object())
    return obj["metadata"]["labels"];
  return json::object();
}

bool matches(const json& selector, const json& labels) {
  if (!selector.is_object() || selector.empty()) return false;
  for (auto it = selector.begin(); it != selector.end(); ++it)
    if (!labels.contains(it.key()) || labels[it.key()] != it.value()) return false;
  return true;
}

json spec_of(const json& obj) { return obj.contains("spec") && obj["spec"].is_object() ? obj["spec"] : json::object(); }

int replicas_of(const json& obj) {
  const json spec = spec_of(obj);
  return spec.contains("replicas") && spec["replicas"].is_number_integer() ? spec["replicas"].get<int>() : 1;
}

std::string str(const json& obj, const json::json_pointer& ptr) {
  return obj.contains(ptr) && obj[ptr].is_string() ? obj[ptr].get<std::string>() : "";
}

}  // namespace drctl::sim::kube_util
