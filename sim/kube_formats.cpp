// kubectl's output formats and YAML: -o yaml as Go's YAML writes it (quoting what would read
// back as something else), -o jsonpath, tables and ages; multi-document YAML in, and resource
// quantities.
#include <yaml-cpp/yaml.h>

#include <regex>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <tuple>
#include <unordered_map>

#include "base/yaml_json.hpp"
#include "sim/kube.hpp"
#include "sim/kube_formats.hpp"

namespace drctl::sim {

using json = nlohmann::json;

namespace {

/// Whether a string would read back as something else than a string when written plain.
bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  // Go's YAML quotes what would read back as a timestamp ("2024-01-01T00:16:49Z").
  if (s.size() >= 10 && std::isdigit(static_cast<unsigned char>(s[0])) && s[4] == '-' && s[7] == '-' &&
      s.find_first_not_of("0123456789-:TZ.+ ") == std::string::npos)
    return true;
  if (yaml_to_json(YAML::Load(s)) != json(s)) return true;
  return s.find(": ") != std::string::npos || s.find(" #") != std::string::npos || s.front() == ' ' || s.back() == ' ';
}

void emit(YAML::Emitter& out, const json& v) {
  if ((v.is_object() || v.is_array()) && v.empty()) {
    out << YAML::Flow << (v.is_object() ? YAML::BeginMap : YAML::BeginSeq)
        << (v.is_object() ? YAML::EndMap : YAML::EndSeq);
  } else if (v.is_object()) {
    out << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      emit(out, it.value());
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& item : v) emit(out, item);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    bool quote = false;
    try {
      quote = needs_quotes(s);
    } catch (const YAML::Exception&) {
      quote = true;
    }
    if (quote) out << YAML::DoubleQuoted;
    out << s;
  } else if (v.is_null()) {
    out << YAML::Null;
  } else {
    out << v.dump();
  }
}

}  // namespace

namespace kube_formats {

/// `{.status.loadBalancer.ingress[0].ip}` (kubectl's -o jsonpath, fields, [n] and [*] only).
std::string jsonpath(const json& root, const std::string& expr) {
  std::string out;
  std::size_t pos = 0;
  while (pos < expr.size()) {
    auto open = expr.find('{', pos);
    out += expr.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (open == std::string::npos) break;
    auto close = expr.find('}', open);
    if (close == std::string::npos) break;
    std::string path = expr.substr(open + 1, close - open - 1);
    std::vector<json> current = {root};
    std::size_t i = 0;
    while (i < path.size()) {
      std::vector<json> next;
      if (path[i] == '.') {
        std::size_t j = path.find_first_of(".[", i + 1);
        std::string field = path.substr(i + 1, j == std::string::npos ? std::string::npos : j - i - 1);
        for (const auto& c : current)
          if (field.empty())
            next.push_back(c);
          else if (c.is_object() && c.contains(field))
            next.push_back(c[field]);
        i = j == std::string::npos ? path.size() : j;
      } else if (path[i] == '[') {
        std::size_t j = path.find(']', i);
        std::string index = path.substr(i + 1, j - i - 1);
        for (const auto& c : current) {
          if (!c.is_array()) continue;
          if (index == "*")
            next.insert(next.end(), c.begin(), c.end());
          else if (std::stoul(index) < c.size())
            next.push_back(c[std::stoul(index)]);
        }
        i = j == std::string::npos ? path.size() : j + 1;
      } else {
        break;
      }
      current = std::move(next);
    }
    for (std::size_t k = 0; k < current.size(); ++k)
      out += (k ? " " : "") + (current[k].is_string() ? current[k].get<std::string>() : current[k].dump());
    pos = close + 1;
  }
  return out;
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      width.resize(std::max(width.size(), r.size()));
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i)
      line += i + 1 < r.size() ? r[i] + std::string(width[i] - r[i].size() + 3, ' ') : r[i];
    out += line + "\n";
  }
  return out;
}

std::string age(Duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 120) return std::to_string(s) + "s";
  if (s < 3 * 3600) return std::to_string(s / 60) + "m";
  if (s < 2 * 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

}  // namespace kube_formats

namespace {

/// Plain scalars that YAML 1.1 (go-yaml v2, which kubectl's sigs.k8s.io/yaml uses) resolves to
/// floats become numbers: yaml_to_json keeps them as text.
void resolve_floats(const YAML::Node& node, json& j) {
  if (node.IsMap() && j.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto at = j.find(it->first.Scalar());
      if (at != j.end()) resolve_floats(it->second, *at);
    }
  } else if (node.IsSequence() && j.is_array()) {
    for (std::size_t i = 0; i < node.size() && i < j.size(); ++i) resolve_floats(node[i], j[i]);
  } else if (node.IsScalar() && node.Tag() == "?" && j.is_string()) {
    static const std::regex float_form("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$");
    const std::string& text = node.Scalar();
    if (text.find_first_of(".eE") != std::string::npos && std::regex_match(text, float_form)) j = std::stod(text);
  }
}

}  // namespace

std::vector<json> kube_parse_yaml(const std::string& text) {
  // The same texts come back again and again (the kubeconfig at every kubectl call, a runbook's
  // manifests in every drill a thread runs): each thread keeps what it parsed, a pure function
  // of the text. Errors are not kept: a text that does not parse throws every time.
  thread_local std::unordered_map<std::string, std::vector<json>> parsed;
  if (auto hit = parsed.find(text); hit != parsed.end()) return hit->second;
  if (parsed.size() >= 256) parsed.clear();
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::ParserException& e) {
    throw std::runtime_error("yaml: line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  std::vector<json> out;
  for (const auto& d : docs) {
    json j = yaml_to_json(d);
    if (j.is_null()) continue;
    resolve_floats(d, j);
    if (j.is_object() && j.value("kind", "") == "List" && j.contains("items") && j["items"].is_array()) {
      for (const auto& item : j["items"]) out.push_back(item);
    } else {
      out.push_back(j);
    }
  }
  parsed.emplace(text, out);
  return out;
}

std::string kube_to_yaml(const json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

std::optional<long double> kube_quantity(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  long double n;
  try {
    n = std::stold(text.substr(0, i));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  static const std::map<std::string, long double> suffix = {{"", 1},
                                                            {"m", 1e-3},
                                                            {"k", 1e3},
                                                            {"M", 1e6},
                                                            {"G", 1e9},
                                                            {"T", 1e12},
                                                            {"P", 1e15},
                                                            {"E", 1e18},
                                                            {"Ki", 1024.0L},
                                                            {"Mi", 1048576.0L},
                                                            {"Gi", 1073741824.0L},
                                                            {"Ti", 1099511627776.0L},
                                                            {"Pi", 1125899906842624.0L},
                                                            {"Ei", 1152921504606846976.0L}};
  auto it = suffix.find(text.substr(i));
  if (it == suffix.end()) return std::nullopt;
  return n * it->second;
}

}  // namespace drctl::sim
