// The simulated API server's admission of objects (see kube_validation.hpp), after Kubernetes
// 1.28: the decoding of k8s.io/apiserver's create/update handlers (transformDecodeError: "KIND in
// version "V" cannot be handled as a KIND: ..."), apimachinery's field errors
// (pkg/util/validation/field/errors.go: "Required value", "Invalid value: V: DETAIL",
// "Unsupported value: V: supported values: ...") and errors.NewInvalid ("KIND.GROUP "NAME" is
// invalid: [e1, e2]"), and the validation of pkg/apis/{core,apps,networking,rbac,
// admissionregistration}/validation and apiextensions-apiserver's custom resource validation.
#include "sim/kube_validation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "sim/kube_schema.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim::kube_validation {

using nlohmann::json;

namespace {

// --- field errors (apimachinery pkg/util/validation/field) ---------------------------------------

struct FieldError {
  std::string field, body;
};
using Errors = std::vector<FieldError>;

/// Go's %q of a string (strconv.Quote for the printable ASCII the simulator meets).
std::string q(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out + "\"";
}
/// A JSON scalar as the Go value validation reports ("80" for an int, "\"x\"" for a string).
std::string v(const json& value) {
  if (value.is_string()) return q(value.get<std::string>());
  if (value.is_null()) return "null";
  return value.dump();
}
std::string quoted_list(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& s : values) out += (out.empty() ? "" : ", ") + q(s);
  return out;
}

void required(Errors& e, const std::string& f, const std::string& detail = "") {
  e.push_back({f, "Required value" + (detail.empty() ? "" : ": " + detail)});
}
void invalid(Errors& e, const std::string& f, const std::string& value, const std::string& detail) {
  e.push_back({f, "Invalid value: " + value + (detail.empty() ? "" : ": " + detail)});
}
void not_supported(Errors& e, const std::string& f, const std::string& value, const std::vector<std::string>& valid) {
  e.push_back({f, "Unsupported value: " + q(value) + (valid.empty() ? "" : ": supported values: " + quoted_list(valid))});
}
void duplicate(Errors& e, const std::string& f, const std::string& value) { e.push_back({f, "Duplicate value: " + value}); }
void forbidden(Errors& e, const std::string& f, const std::string& detail) { e.push_back({f, "Forbidden: " + detail}); }
void not_found(Errors& e, const std::string& f, const std::string& value) { e.push_back({f, "Not found: " + value}); }
void too_long(Errors& e, const std::string& f, long max) {
  e.push_back({f, "Too long: must have at most " + std::to_string(max) + " bytes"});
}

std::string child(const std::string& path, const std::string& name) { return path.empty() ? name : path + "." + name; }
std::string index(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }
std::string key(const std::string& path, const std::string& k) { return path + "[" + k + "]"; }

// --- json access ---------------------------------------------------------------------------------

const json kNull;
const json& at(const json& obj, const char* k) {
  if (!obj.is_object()) return kNull;
  auto it = obj.find(k);
  return it == obj.end() ? kNull : *it;
}
std::string s(const json& obj, const char* k) {
  const json& x = at(obj, k);
  return x.is_string() ? x.get<std::string>() : "";
}
bool has(const json& obj, const char* k) { return obj.is_object() && obj.contains(k) && !obj[k].is_null(); }
long long n(const json& obj, const char* k, long long fallback = 0) {
  const json& x = at(obj, k);
  return x.is_number() ? x.get<long long>() : fallback;
}
const json& arr(const json& obj, const char* k) {
  static const json empty = json::array();
  const json& x = at(obj, k);
  return x.is_array() ? x : empty;
}
const json& obj_at(const json& obj, const char* k) {
  static const json empty = json::object();
  const json& x = at(obj, k);
  return x.is_object() ? x : empty;
}

// --- names (apimachinery pkg/util/validation/validation.go) --------------------------------------

std::string regex_error(const std::string& msg, const std::string& fmt, const std::vector<std::string>& examples) {
  std::string out = msg + " (e.g. ";
  for (std::size_t i = 0; i < examples.size(); ++i) out += (i ? " or " : "") + ("'" + examples[i] + "', ");
  return out + "regex used for validation is '" + fmt + "')";
}
std::string max_len(std::size_t n) { return "must be no more than " + std::to_string(n) + " characters"; }

const std::string kLabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const std::string kSubdomainFmt = kLabelFmt + "(\\." + kLabelFmt + ")*";
const std::string kDns1035Fmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
const std::string kQualifiedFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

// The validators' patterns, matched by hand: each is a character class or two, and std::regex
// recurses once per character (a long name in a manifest would overflow the stack).
bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool every(std::string_view v, bool (*ok)(char)) { return !v.empty() && std::all_of(v.begin(), v.end(), ok); }

/// kLabelFmt, or with `dns1035` kDns1035Fmt (a letter first).
bool label_matches(std::string_view v, bool dns1035 = false) {
  if (v.empty() || !lower_alnum(v.back())) return false;
  if (dns1035 ? !(v[0] >= 'a' && v[0] <= 'z') : !lower_alnum(v[0])) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return lower_alnum(c) || c == '-'; });
}
bool subdomain_matches(std::string_view v) {
  for (std::size_t at = 0;;) {
    const std::size_t dot = v.find('.', at);
    if (!label_matches(v.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at))) return false;
    if (dot == std::string_view::npos) return true;
    at = dot + 1;
  }
}
bool qualified_matches(std::string_view v) {
  if (v.empty() || !alnum(v.front()) || !alnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

/// Whether `s` matches `fmt` (one of the patterns above) whole.
bool full_match(const std::string& s, const std::string& fmt) {
  if (fmt == kLabelFmt) return label_matches(s);
  if (fmt == kSubdomainFmt) return subdomain_matches(s);
  if (fmt == "\\*\\." + kSubdomainFmt) return s.starts_with("*.") && subdomain_matches(std::string_view(s).substr(2));
  if (fmt == kDns1035Fmt) return label_matches(s, true);
  if (fmt == kQualifiedFmt) return qualified_matches(s);
  if (fmt == "(" + kQualifiedFmt + ")?") return s.empty() || qualified_matches(s);
  if (fmt == "[-._a-zA-Z0-9]+") return every(s, [](char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; });
  if (fmt == "[-a-z0-9]+") return every(s, [](char c) { return lower_alnum(c) || c == '-'; });
  if (fmt == "[-._a-zA-Z][-._a-zA-Z0-9]*")
    return !s.empty() && !(s[0] >= '0' && s[0] <= '9') &&
           every(s, [](char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; });
  if (fmt == "[0-9a-fA-F:.]+")
    return every(s, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.'; });
  throw std::logic_error("kube validation: no matcher for the pattern " + fmt);
}

std::vector<std::string> dns1123_label(const std::string& s) {
  std::vector<std::string> out;
  if (s.size() > 63) out.push_back(max_len(63));
  if (!full_match(s, kLabelFmt))
    out.push_back(regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                              "must start and end with an alphanumeric character",
                              kLabelFmt, {"my-name", "123-abc"}));
  return out;
}
std::vector<std::string> dns1123_subdomain(const std::string& s) {
  std::vector<std::string> out;
  if (s.size() > 253) out.push_back(max_len(253));
  if (!full_match(s, kSubdomainFmt))
    out.push_back(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                              "'.', and must start and end with an alphanumeric character",
                              kSubdomainFmt, {"example.com"}));
  return out;
}
std::vector<std::string> wildcard_subdomain(const std::string& s) {
  std::vector<std::string> out;
  if (s.size() > 253) out.push_back(max_len(253));
  if (!full_match(s, "\\*\\." + kSubdomainFmt))
    out.push_back(regex_error("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
                              "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
                              "alphanumeric character",
                              "\\*\\." + kSubdomainFmt, {"*.example.com"}));
  return out;
}
std::vector<std::string> dns1035_label(const std::string& s) {
  std::vector<std::string> out;
  if (s.size() > 63) out.push_back(max_len(63));
  if (!full_match(s, kDns1035Fmt))
    out.push_back(regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                              "alphabetic character, and end with an alphanumeric character",
                              kDns1035Fmt, {"my-name", "abc-123"}));
  return out;
}
std::vector<std::string> qualified_name(const std::string& value) {
  std::vector<std::string> out;
  std::string name = value;
  auto slash = value.find('/');
  const std::string kMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  if (slash != std::string::npos) {
    if (value.find('/', slash + 1) != std::string::npos) {
      out.push_back("a qualified name " + regex_error(kMsg, kQualifiedFmt, {"MyName", "my.name", "123-abc"}) +
                    " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
      return out;
    }
    const std::string prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) out.push_back("prefix part must be non-empty");
    else
      for (auto& m : dns1123_subdomain(prefix)) out.push_back("prefix part " + m);
  }
  if (name.empty()) out.push_back("name part must be non-empty");
  else if (name.size() > 63) out.push_back("name part " + max_len(63));
  if (!name.empty() && !full_match(name, kQualifiedFmt))
    out.push_back("name part " + regex_error(kMsg, kQualifiedFmt, {"MyName", "my.name", "123-abc"}));
  return out;
}
std::vector<std::string> label_value(const std::string& s) {
  std::vector<std::string> out;
  if (s.size() > 63) out.push_back(max_len(63));
  if (!full_match(s, "(" + kQualifiedFmt + ")?"))
    out.push_back(regex_error("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                              "'.', and must start and end with an alphanumeric character",
                              "(" + kQualifiedFmt + ")?", {"MyValue", "my_value", "12345"}));
  return out;
}
std::vector<std::string> config_key(const std::string& s) {
  std::vector<std::string> out;
  if (s.size() > 253) out.push_back(max_len(253));
  if (!full_match(s, "[-._a-zA-Z0-9]+"))
    out.push_back(regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", "[-._a-zA-Z0-9]+",
                              {"key.name", "KEY_NAME", "key-name"}));
  if (s == ".") out.push_back("must not be '.'");
  else if (s == "..") out.push_back("must not be '..'");
  else if (s.rfind("..", 0) == 0) out.push_back("must not start with '..'");
  return out;
}
std::vector<std::string> port_name(const std::string& s) {
  std::vector<std::string> out;
  if (s.size() > 15) out.push_back(max_len(15));
  if (!full_match(s, "[-a-z0-9]+")) out.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (s.find_first_of("abcdefghijklmnopqrstuvwxyz") == std::string::npos) out.push_back("must contain at least one letter (a-z)");
  if (s.find("--") != std::string::npos) out.push_back("must not contain consecutive hyphens");
  if (!s.empty() && (s.front() == '-' || s.back() == '-')) out.push_back("must not begin or end with a hyphen");
  return out;
}
std::vector<std::string> port_num(long long p) {
  if (p >= 1 && p <= 65535) return {};
  return {"must be between 1 and 65535, inclusive"};
}
std::vector<std::string> path_segment(const std::string& s) {
  if (s == "." || s == "..") return {"may not be '" + s + "'"};
  for (const char* bad : {"/", "%"})
    if (s.find(bad) != std::string::npos) return {"may not contain '" + std::string(bad) + "'"};
  return {};
}
std::vector<std::string> env_name(const std::string& s) {
  std::vector<std::string> out;
  if (!full_match(s, "[-._a-zA-Z][-._a-zA-Z0-9]*"))
    out.push_back(regex_error("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
                              "or '.', and must not start with a digit",
                              "[-._a-zA-Z][-._a-zA-Z0-9]*", {"my.env-name", "MY_ENV.NAME", "MyEnvName1"}));
  if (s == ".") out.push_back("must not be '.'");
  else if (s == "..") out.push_back("must not be '..'");
  else if (s.rfind("..", 0) == 0) out.push_back("must not start with '..'");
  return out;
}

using NameFn = std::vector<std::string> (*)(const std::string&);

void each(Errors& e, const std::string& f, const std::string& value, const std::vector<std::string>& msgs) {
  for (const auto& m : msgs) invalid(e, f, q(value), m);
}

// --- Go values as %#v prints them ----------------------------------------------------------------

std::string go_string_map(const json& m) {
  if (!m.is_object()) return "map[string]string(nil)";
  std::string out;
  for (auto it = m.begin(); it != m.end(); ++it)
    out += (out.empty() ? "" : ", ") + q(it.key()) + ":" + (it.value().is_string() ? q(it.value().get<std::string>()) : it.value().dump());
  return "map[string]string{" + out + "}";
}
std::string go_selector(const json& sel) {
  std::string exprs = "[]v1.LabelSelectorRequirement(nil)";
  if (sel.is_object() && sel.contains("matchExpressions") && sel["matchExpressions"].is_array()) {
    std::string items;
    for (const auto& r : sel["matchExpressions"]) {
      std::string values = "[]string(nil)";
      if (r.is_object() && r.contains("values") && r["values"].is_array()) {
        std::string vs;
        for (const auto& x : r["values"]) vs += (vs.empty() ? "" : ", ") + q(x.is_string() ? x.get<std::string>() : x.dump());
        values = "[]string{" + vs + "}";
      }
      items += (items.empty() ? "" : ", ") + ("v1.LabelSelectorRequirement{Key:" + q(s(r, "key")) + ", Operator:" +
                                               q(s(r, "operator")) + ", Values:" + values + "}");
    }
    exprs = "[]v1.LabelSelectorRequirement{" + items + "}";
  }
  return "v1.LabelSelector{MatchLabels:" + go_string_map(at(sel, "matchLabels")) + ", MatchExpressions:" + exprs + "}";
}

// --- label selectors and labels (apimachinery pkg/apis/meta/v1/validation) -----------------------

void validate_labels(Errors& e, const json& labels, const std::string& f) {
  if (!labels.is_object()) return;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    each(e, f, it.key(), qualified_name(it.key()));
    if (it.value().is_string()) each(e, f, it.value().get<std::string>(), label_value(it.value().get<std::string>()));
  }
}

void validate_label_selector(Errors& e, const json& sel, const std::string& f) {
  if (!sel.is_object()) return;
  const json& exprs = arr(sel, "matchExpressions");
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    const json& r = exprs[i];
    const std::string p = index(child(f, "matchExpressions"), i), op = s(r, "operator");
    const bool has_values = !arr(r, "values").empty();
    if (op == "In" || op == "NotIn") {
      if (!has_values) required(e, child(p, "values"), "must be specified when `operator` is 'In' or 'NotIn'");
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (has_values) forbidden(e, child(p, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    } else {
      invalid(e, child(p, "operator"), q(op), "not a valid selector operator");
    }
    each(e, child(p, "key"), s(r, "key"), qualified_name(s(r, "key")));
  }
  validate_labels(e, at(sel, "matchLabels"), child(f, "matchLabels"));
}

/// Whether a label selector selects `labels` (metav1.LabelSelectorAsSelector; nil selects nothing).
bool selects(const json& sel, const json& labels) {
  if (!sel.is_object()) return false;
  auto label = [&](const std::string& k) -> const json* {
    return labels.is_object() && labels.contains(k) ? &labels[k] : nullptr;
  };
  for (auto it = obj_at(sel, "matchLabels").begin(); it != obj_at(sel, "matchLabels").end(); ++it) {
    const json* l = label(it.key());
    if (!l || *l != it.value()) return false;
  }
  for (const auto& r : arr(sel, "matchExpressions")) {
    const json* l = label(s(r, "key"));
    const std::string op = s(r, "operator");
    bool in = false;
    for (const auto& x : arr(r, "values"))
      if (l && *l == x) in = true;
    if ((op == "In" && !in) || (op == "NotIn" && l && in) || (op == "Exists" && !l) || (op == "DoesNotExist" && l))
      return false;
  }
  return true;
}

// --- ObjectMeta (pkg/api/validation/objectmeta.go) ------------------------------------------------

void validate_meta(Errors& e, const json& obj, bool namespaced, NameFn name_fn) {
  const json& m = obj_at(obj, "metadata");
  if (has(m, "generateName")) {
    std::string g = s(m, "generateName");
    std::string masked = g;
    if (!masked.empty() && masked.back() == '-') masked.back() = 'a';  // maskTrailingDash
    each(e, "metadata.generateName", g, name_fn(masked));
  }
  const std::string name = s(m, "name");
  if (name.empty()) required(e, "metadata.name", "name or generateName is required");
  else each(e, "metadata.name", name, name_fn(name));
  if (namespaced) {
    if (s(m, "namespace").empty()) required(e, "metadata.namespace");
    else each(e, "metadata.namespace", s(m, "namespace"), dns1123_label(s(m, "namespace")));
  } else if (!s(m, "namespace").empty()) {
    forbidden(e, "metadata.namespace", "not allowed on this type");
  }
  if (n(m, "generation") < 0) invalid(e, "metadata.generation", std::to_string(n(m, "generation")), "must be greater than or equal to 0");
  validate_labels(e, at(m, "labels"), "metadata.labels");
  const json& annotations = at(m, "annotations");
  if (annotations.is_object()) {
    std::size_t total = 0;
    for (auto it = annotations.begin(); it != annotations.end(); ++it) {
      std::string lower = it.key();
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      each(e, "metadata.annotations", it.key(), qualified_name(lower));
      total += it.key().size() + (it.value().is_string() ? it.value().get<std::string>().size() : 0);
    }
    if (total > 256 * 1024) too_long(e, "metadata.annotations", 256 * 1024);
  }
}

// --- pods (pkg/apis/core/validation: ValidatePodTemplateSpec, ValidatePodSpec) -------------------

const std::vector<std::string> kProtocols = {"SCTP", "TCP", "UDP"};

void validate_container_ports(Errors& e, const json& ports, const std::string& f) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const json& p = ports[i];
    const std::string ip = index(f, i);
    if (!s(p, "name").empty()) {
      auto msgs = port_name(s(p, "name"));
      if (!msgs.empty()) each(e, child(ip, "name"), s(p, "name"), msgs);
      else if (!names.insert(s(p, "name")).second) duplicate(e, child(ip, "name"), q(s(p, "name")));
    }
    if (n(p, "containerPort") == 0) required(e, child(ip, "containerPort"));
    else
      for (auto& m : port_num(n(p, "containerPort"))) invalid(e, child(ip, "containerPort"), std::to_string(n(p, "containerPort")), m);
    if (n(p, "hostPort") != 0)
      for (auto& m : port_num(n(p, "hostPort"))) invalid(e, child(ip, "hostPort"), std::to_string(n(p, "hostPort")), m);
    if (has(p, "protocol") && std::find(kProtocols.begin(), kProtocols.end(), s(p, "protocol")) == kProtocols.end())
      not_supported(e, child(ip, "protocol"), s(p, "protocol"), kProtocols);
  }
}

void validate_containers(Errors& e, const json& containers, const std::set<std::string>& volumes, const std::string& f) {
  if (containers.empty()) return required(e, f);
  std::set<std::string> names;
  for (std::size_t i = 0; i < containers.size(); ++i) {
    const json& c = containers[i];
    const std::string p = index(f, i);
    if (s(c, "name").empty()) required(e, child(p, "name"));
    else each(e, child(p, "name"), s(c, "name"), dns1123_label(s(c, "name")));
    if (s(c, "image").empty()) required(e, child(p, "image"));
    validate_container_ports(e, arr(c, "ports"), child(p, "ports"));
    const json& env = arr(c, "env");
    for (std::size_t j = 0; j < env.size(); ++j) {
      if (s(env[j], "name").empty()) required(e, child(index(child(p, "env"), j), "name"));
      else each(e, child(index(child(p, "env"), j), "name"), s(env[j], "name"), env_name(s(env[j], "name")));
    }
    const json& mounts = arr(c, "volumeMounts");
    for (std::size_t j = 0; j < mounts.size(); ++j) {
      const std::string mp = index(child(p, "volumeMounts"), j);
      if (s(mounts[j], "name").empty()) required(e, child(mp, "name"));
      else if (!volumes.count(s(mounts[j], "name"))) not_found(e, child(mp, "name"), q(s(mounts[j], "name")));
      if (s(mounts[j], "mountPath").empty()) required(e, child(mp, "mountPath"));
    }
    if (has(c, "imagePullPolicy")) {
      const std::string pp = s(c, "imagePullPolicy");
      if (pp != "Always" && pp != "IfNotPresent" && pp != "Never")
        not_supported(e, child(p, "imagePullPolicy"), pp, {"Always", "IfNotPresent", "Never"});
    }
    if (!s(c, "name").empty() && !names.insert(s(c, "name")).second) duplicate(e, child(p, "name"), q(s(c, "name")));
  }
}

void validate_pod_spec(Errors& e, const json& spec, const std::string& f) {
  std::set<std::string> volumes;
  const json& vols = arr(spec, "volumes");
  for (std::size_t i = 0; i < vols.size(); ++i) {
    const std::string p = index(child(f, "volumes"), i), name = s(vols[i], "name");
    if (name.empty()) required(e, child(p, "name"));
    else {
      each(e, child(p, "name"), name, dns1123_label(name));
      if (!volumes.insert(name).second) duplicate(e, child(p, "name"), q(name));
    }
    if (vols[i].is_object() && vols[i].size() - (vols[i].contains("name") ? 1 : 0) == 0)
      required(e, p, "must specify a volume type");
  }
  validate_containers(e, arr(spec, "containers"), volumes, child(f, "containers"));
  if (has(spec, "restartPolicy")) {
    const std::string rp = s(spec, "restartPolicy");
    if (rp != "Always" && rp != "OnFailure" && rp != "Never")
      not_supported(e, child(f, "restartPolicy"), rp, {"Always", "OnFailure", "Never"});
  }
  if (has(spec, "dnsPolicy")) {
    const std::string dp = s(spec, "dnsPolicy");
    if (dp != "ClusterFirstWithHostNet" && dp != "ClusterFirst" && dp != "Default" && dp != "None")
      not_supported(e, child(f, "dnsPolicy"), dp, {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"});
  }
  validate_labels(e, at(spec, "nodeSelector"), child(f, "nodeSelector"));
  if (!s(spec, "serviceAccountName").empty())
    each(e, child(f, "serviceAccountName"), s(spec, "serviceAccountName"), dns1123_subdomain(s(spec, "serviceAccountName")));
}

void validate_pod_template(Errors& e, const json& tmpl, const std::string& f) {
  const json& m = obj_at(tmpl, "metadata");
  validate_labels(e, at(m, "labels"), child(f, "labels"));  // ValidatePodTemplateSpec names them so
  validate_pod_spec(e, obj_at(tmpl, "spec"), child(f, "spec"));
}

/// Whether `restartPolicy` (defaulted Always) is Always, else the error workloads give.
void require_always(Errors& e, const json& tmpl, const std::string& f) {
  const json& spec = obj_at(tmpl, "spec");
  if (has(spec, "restartPolicy") && s(spec, "restartPolicy") != "Always")
    not_supported(e, f, s(spec, "restartPolicy"), {"Always"});
}

// --- apps (pkg/apis/apps/validation) -------------------------------------------------------------

void nonnegative(Errors& e, const json& spec, const char* field, const std::string& f) {
  if (n(spec, field) < 0) invalid(e, f, std::to_string(n(spec, field)), "must be greater than or equal to 0");
}

void template_matches(Errors& e, const json& spec, const std::string& f) {
  const json& tmpl = obj_at(spec, "template");
  const json& labels = at(obj_at(tmpl, "metadata"), "labels");
  if (!selects(at(spec, "selector"), labels))
    invalid(e, child(f, "template.metadata.labels"), go_string_map(labels), "`selector` does not match template `labels`");
}

bool empty_selector(const json& sel) { return obj_at(sel, "matchLabels").empty() && arr(sel, "matchExpressions").empty(); }

Errors validate_deployment(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  const json& spec = obj_at(o, "spec");
  nonnegative(e, spec, "replicas", "spec.replicas");
  if (!has(spec, "selector")) {
    required(e, "spec.selector");
  } else {
    validate_label_selector(e, at(spec, "selector"), "spec.selector");
    if (empty_selector(at(spec, "selector")))
      invalid(e, "spec.selector", go_selector(at(spec, "selector")), "empty selector is invalid for deployment");
  }
  if (!has(spec, "selector") || !empty_selector(at(spec, "selector"))) template_matches(e, spec, "spec");
  validate_pod_template(e, obj_at(spec, "template"), "spec.template");
  require_always(e, obj_at(spec, "template"), "spec.template.spec.restartPolicy");
  const json& strategy = obj_at(spec, "strategy");
  if (has(strategy, "type")) {
    const std::string t = s(strategy, "type");
    if (t == "Recreate" && has(strategy, "rollingUpdate"))
      forbidden(e, "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'");
    else if (t != "Recreate" && t != "RollingUpdate")
      not_supported(e, "spec.strategy.type", t, {"Recreate", "RollingUpdate"});
  }
  nonnegative(e, spec, "minReadySeconds", "spec.minReadySeconds");
  return e;
}

Errors validate_daemonset(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  const json& spec = obj_at(o, "spec");
  validate_label_selector(e, at(spec, "selector"), "spec.selector");
  template_matches(e, spec, "spec");
  if (has(spec, "selector") && empty_selector(at(spec, "selector")))
    invalid(e, "spec.selector", go_selector(at(spec, "selector")), "empty selector is invalid for daemonset");
  validate_pod_template(e, obj_at(spec, "template"), "spec.template");
  require_always(e, obj_at(spec, "template"), "spec.template.spec.restartPolicy");
  const json& strategy = obj_at(spec, "updateStrategy");
  if (has(strategy, "type") && s(strategy, "type") != "RollingUpdate" && s(strategy, "type") != "OnDelete")
    not_supported(e, "spec.updateStrategy.type", s(strategy, "type"), {"OnDelete", "RollingUpdate"});
  return e;
}

Errors validate_statefulset(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  const json& spec = obj_at(o, "spec");
  if (has(spec, "podManagementPolicy") && s(spec, "podManagementPolicy") != "OrderedReady" &&
      s(spec, "podManagementPolicy") != "Parallel")
    invalid(e, "spec.podManagementPolicy", q(s(spec, "podManagementPolicy")), "must be 'OrderedReady' or 'Parallel'");
  nonnegative(e, spec, "replicas", "spec.replicas");
  nonnegative(e, spec, "minReadySeconds", "spec.minReadySeconds");
  if (!has(spec, "selector")) {
    required(e, "spec.selector");
  } else {
    validate_label_selector(e, at(spec, "selector"), "spec.selector");
    if (empty_selector(at(spec, "selector")))
      invalid(e, "spec.selector", go_selector(at(spec, "selector")), "empty selector is invalid for statefulset");
  }
  if (!has(spec, "selector") || !empty_selector(at(spec, "selector"))) template_matches(e, spec, "spec");
  validate_pod_template(e, obj_at(spec, "template"), "spec.template");
  require_always(e, obj_at(spec, "template"), "spec.template.spec.restartPolicy");
  return e;
}

// --- batch (pkg/apis/batch/validation) -----------------------------------------------------------

/// A Job's spec at `f`: its template's restartPolicy (defaulted Always) must be OnFailure or Never.
void validate_job_spec(Errors& e, const json& spec, const std::string& f) {
  nonnegative(e, spec, "parallelism", child(f, "parallelism"));
  nonnegative(e, spec, "completions", child(f, "completions"));
  nonnegative(e, spec, "backoffLimit", child(f, "backoffLimit"));
  const json& tmpl = obj_at(spec, "template");
  validate_pod_template(e, tmpl, child(f, "template"));
  const json& pod = obj_at(tmpl, "spec");
  const std::string rp = has(pod, "restartPolicy") ? s(pod, "restartPolicy") : "Always";
  if (rp != "OnFailure" && rp != "Never") not_supported(e, child(f, "template.spec.restartPolicy"), rp, {"OnFailure", "Never"});
}

Errors validate_job(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  validate_job_spec(e, obj_at(o, "spec"), "spec");
  return e;
}

Errors validate_cronjob(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  const std::string name = s(obj_at(o, "metadata"), "name");
  // ValidateCronJobCreate: the Jobs it makes add 11 characters to a name that must stay a DNS-1035 label
  if (name.size() > 52) invalid(e, "metadata.name", q(name), "must be no more than 52 characters");
  const json& spec = obj_at(o, "spec");
  if (s(spec, "schedule").empty()) required(e, "spec.schedule");
  if (has(spec, "concurrencyPolicy") && s(spec, "concurrencyPolicy") != "Allow" && s(spec, "concurrencyPolicy") != "Forbid" &&
      s(spec, "concurrencyPolicy") != "Replace")
    not_supported(e, "spec.concurrencyPolicy", s(spec, "concurrencyPolicy"), {"Allow", "Forbid", "Replace"});
  validate_job_spec(e, obj_at(obj_at(spec, "jobTemplate"), "spec"), "spec.jobTemplate.spec");
  return e;
}

Errors validate_pod(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  validate_pod_spec(e, obj_at(o, "spec"), "spec");
  return e;
}

// --- core (pkg/apis/core/validation) -------------------------------------------------------------

bool is_ip(const std::string& s) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(s.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4) return a < 256 && b < 256 && c < 256 && d < 256;
  return s.find(':') != std::string::npos && full_match(s, "[0-9a-fA-F:.]+");
}

Errors validate_service(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1035_label);
  const json& spec = obj_at(o, "spec");
  const std::string type = has(spec, "type") ? s(spec, "type") : "ClusterIP";
  const bool headless = s(spec, "clusterIP") == "None";
  const json& ports = arr(spec, "ports");
  if (ports.empty() && !headless && type != "ExternalName") required(e, "spec.ports");
  if (type == "ExternalName") {
    std::string cname = s(spec, "externalName");
    if (!cname.empty() && cname.back() == '.') cname.pop_back();
    if (cname.empty()) required(e, "spec.externalName");
    else each(e, "spec.externalName", cname, dns1123_subdomain(cname));
  }
  if ((type == "LoadBalancer" || type == "NodePort") && headless)
    invalid(e, "spec.clusterIPs[0]", q("None"), "may not be set to 'None' for " + type + " services");
  std::set<std::string> names;
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const json& p = ports[i];
    const std::string pp = index("spec.ports", i);
    if (ports.size() > 1 && s(p, "name").empty()) required(e, child(pp, "name"));
    else if (!s(p, "name").empty()) {
      each(e, child(pp, "name"), s(p, "name"), dns1123_label(s(p, "name")));
      if (!names.insert(s(p, "name")).second) duplicate(e, child(pp, "name"), q(s(p, "name")));
    }
    for (auto& m : port_num(n(p, "port"))) invalid(e, child(pp, "port"), std::to_string(n(p, "port")), m);
    if (has(p, "protocol") && std::find(kProtocols.begin(), kProtocols.end(), s(p, "protocol")) == kProtocols.end())
      not_supported(e, child(pp, "protocol"), s(p, "protocol"), kProtocols);
    const json& target = at(p, "targetPort");
    if (target.is_string()) each(e, child(pp, "targetPort"), target.get<std::string>(), port_name(target.get<std::string>()));
    else if (target.is_number() && target.get<long long>() != 0)
      for (auto& m : port_num(target.get<long long>())) invalid(e, child(pp, "targetPort"), target.dump(), m);
  }
  validate_labels(e, at(spec, "selector"), "spec.selector");
  if (has(spec, "sessionAffinity") && s(spec, "sessionAffinity") != "ClientIP" && s(spec, "sessionAffinity") != "None")
    not_supported(e, "spec.sessionAffinity", s(spec, "sessionAffinity"), {"ClientIP", "None"});
  const json& external_ips = arr(spec, "externalIPs");
  for (std::size_t i = 0; i < external_ips.size(); ++i) {
    const std::string ip = external_ips[i].is_string() ? external_ips[i].get<std::string>() : "";
    if (!is_ip(ip)) invalid(e, index("spec.externalIPs", i), q(ip), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
  }
  static const std::vector<std::string> kTypes = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"};
  if (std::find(kTypes.begin(), kTypes.end(), type) == kTypes.end()) not_supported(e, "spec.type", type, kTypes);
  for (std::size_t i = 0; i < ports.size(); ++i)
    if (type == "ClusterIP" && n(ports[i], "nodePort") != 0)
      forbidden(e, child(index("spec.ports", i), "nodePort"), "may not be used when `type` is 'ClusterIP'");
  if (!arr(spec, "loadBalancerSourceRanges").empty() && type != "LoadBalancer")
    forbidden(e, "spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'");
  if (has(spec, "allocateLoadBalancerNodePorts") && type != "LoadBalancer")
    forbidden(e, "spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'");
  // validateServiceExternalTrafficPolicy: apiservice.ExternallyAccessible
  const bool external = type == "LoadBalancer" || type == "NodePort" || (type == "ClusterIP" && !external_ips.empty());
  if (!external) {
    if (has(spec, "externalTrafficPolicy"))
      invalid(e, "spec.externalTrafficPolicy", q(s(spec, "externalTrafficPolicy")), "may only be set for externally-accessible services");
  } else if (has(spec, "externalTrafficPolicy") && s(spec, "externalTrafficPolicy") != "Cluster" &&
             s(spec, "externalTrafficPolicy") != "Local") {
    not_supported(e, "spec.externalTrafficPolicy", s(spec, "externalTrafficPolicy"), {"Cluster", "Local"});
  }
  // the NodePort allocator (pkg/registry/core/service/portallocator): the default range
  if (type == "NodePort" || type == "LoadBalancer")
    for (std::size_t i = 0; i < ports.size(); ++i) {
      const long long np = n(ports[i], "nodePort");
      if (np != 0 && (np < 30000 || np > 32767))
        invalid(e, child(index("spec.ports", i), "nodePort"), std::to_string(np),
                "provided port is not in the valid range. The range of valid ports is 30000-32767");
    }
  return e;
}

/// The bytes of a Secret's data and stringData (stringData wins, as the conversion merges them).
std::map<std::string, std::string> secret_data(const json& o) {
  std::map<std::string, std::string> out;
  for (auto it = obj_at(o, "data").begin(); it != obj_at(o, "data").end(); ++it)
    out[it.key()] = it.value().is_string() ? kube_util::unbase64(it.value().get<std::string>()).value_or("") : "";
  for (auto it = obj_at(o, "stringData").begin(); it != obj_at(o, "stringData").end(); ++it)
    out[it.key()] = it.value().is_string() ? it.value().get<std::string>() : "";
  return out;
}

Errors validate_secret(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  const auto data = secret_data(o);
  std::size_t total = 0;
  for (const auto& [k, value] : data) {
    each(e, key("data", k), k, config_key(k));
    total += value.size();
  }
  if (total > 1024 * 1024) too_long(e, "data", 1024 * 1024);
  const std::string type = s(o, "type");
  if (type == "kubernetes.io/service-account-token") {
    if (s(obj_at(obj_at(o, "metadata"), "annotations"), "kubernetes.io/service-account.name").empty())
      required(e, "metadata.annotations[kubernetes.io/service-account.name]");
  } else if (type == "kubernetes.io/basic-auth") {
    auto size = [&](const char* k) { auto it = data.find(k); return it == data.end() ? 0 : it->second.size(); };
    if (size("username") == 0 && size("password") == 0) {
      required(e, "data[username]");
      required(e, "data[password]");
    }
  } else if (type == "kubernetes.io/ssh-auth") {
    auto it = data.find("ssh-privatekey");
    if (it == data.end() || it->second.empty()) required(e, "data[ssh-privatekey]");
  } else if (type == "kubernetes.io/tls") {
    if (!data.count("tls.crt")) required(e, "data[tls.crt]");
    if (!data.count("tls.key")) required(e, "data[tls.key]");
  } else if (type == "kubernetes.io/dockerconfigjson") {
    auto it = data.find(".dockerconfigjson");
    if (it == data.end() || it->second.empty()) required(e, "data[.dockerconfigjson]");
    else if (!json::accept(it->second)) invalid(e, "data[.dockerconfigjson]", q("<secret contents redacted>"), "invalid character");
  }
  return e;
}

Errors validate_configmap(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  std::size_t total = 0;
  const json& data = obj_at(o, "data");
  const json& binary = obj_at(o, "binaryData");
  for (auto it = data.begin(); it != data.end(); ++it) {
    each(e, key("data", it.key()), it.key(), config_key(it.key()));
    if (binary.contains(it.key())) invalid(e, key("data", it.key()), q(it.key()), "duplicate of key present in binaryData");
    total += it.value().is_string() ? it.value().get<std::string>().size() : 0;
  }
  for (auto it = binary.begin(); it != binary.end(); ++it) {
    each(e, key("binaryData", it.key()), it.key(), config_key(it.key()));
    if (data.contains(it.key())) invalid(e, key("binaryData", it.key()), q(it.key()), "duplicate of key present in data");
    total += it.value().is_string() ? kube_util::unbase64(it.value().get<std::string>()).value_or("").size() : 0;
  }
  if (total > 1024 * 1024) too_long(e, "[]", 1024 * 1024);  // field.NewPath("") prints as "[]"
  return e;
}

/// A quantity's value ("10Gi" → 10737418240), nullopt if it is not one.
std::optional<double> quantity(const json& value) {
  std::string t = value.is_string() ? value.get<std::string>() : value.is_number() ? value.dump() : "";
  static const std::regex form("^([+-]?[0-9.]+)([a-zA-Z]*)$");
  std::smatch m;
  if (t.size() > 256 || !std::regex_match(t, m, form)) return std::nullopt;  // std::regex recurses per character
  double number = std::atof(m[1].str().c_str());
  static const std::map<std::string, double> mult = {
      {"", 1},       {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}, {"Pi", 1125899906842624.0},
      {"Ei", 1152921504606846976.0}, {"n", 1e-9}, {"u", 1e-6}, {"m", 1e-3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
      {"P", 1e15},   {"E", 1e18}};
  auto it = mult.find(m[2]);
  if (it == mult.end()) return std::nullopt;
  return number * it->second;
}

Errors validate_pvc(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  const json& spec = obj_at(o, "spec");
  const json& modes = arr(spec, "accessModes");
  if (modes.empty()) required(e, "spec.accessModes", "at least 1 access mode is required");
  validate_label_selector(e, at(spec, "selector"), "spec.selector");
  static const std::vector<std::string> kModes = {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"};
  bool once_pod = false;
  for (const auto& m : modes) {
    const std::string mode = m.is_string() ? m.get<std::string>() : "";
    if (mode == "ReadWriteOncePod") once_pod = true;
    if (std::find(kModes.begin(), kModes.end(), mode) == kModes.end()) not_supported(e, "spec.accessModes", mode, kModes);
  }
  if (once_pod && modes.size() > 1) forbidden(e, "spec.accessModes", "may not use ReadWriteOncePod with other access modes");
  const json& requests = obj_at(obj_at(spec, "resources"), "requests");
  if (!requests.contains("storage")) {
    required(e, "spec.resources[storage]");
  } else if (auto value = quantity(requests["storage"]); value && *value <= 0) {
    invalid(e, "spec.resources[storage]", q(requests["storage"].is_string() ? requests["storage"].get<std::string>() : requests["storage"].dump()),
            "must be greater than zero");
  }
  if (!s(spec, "storageClassName").empty())
    each(e, "spec.storageClassName", s(spec, "storageClassName"), dns1123_subdomain(s(spec, "storageClassName")));
  if (has(spec, "volumeMode") && s(spec, "volumeMode") != "Block" && s(spec, "volumeMode") != "Filesystem")
    not_supported(e, "spec.volumeMode", s(spec, "volumeMode"), {"Block", "Filesystem"});
  return e;
}

// --- networking (pkg/apis/networking/validation) -------------------------------------------------

void validate_backend(Errors& e, const json& backend, const std::string& f) {
  const bool resource = has(backend, "resource"), service = has(backend, "service");
  if (resource && service) return invalid(e, f, q(""), "cannot set both resource and service backends");
  if (resource) {
    const json& r = obj_at(backend, "resource");
    if (!s(r, "apiGroup").empty()) each(e, child(f, "resource.apiGroup"), s(r, "apiGroup"), dns1123_subdomain(s(r, "apiGroup")));
    if (s(r, "kind").empty()) required(e, child(f, "resource.kind"), "kind is required");
    else each(e, child(f, "resource.kind"), s(r, "kind"), path_segment(s(r, "kind")));
    if (s(r, "name").empty()) required(e, child(f, "resource.name"), "name is required");
    else each(e, child(f, "resource.name"), s(r, "name"), path_segment(s(r, "name")));
    return;
  }
  if (!service) return invalid(e, f, q(""), "resource or service backend is required");
  const json& svc = obj_at(backend, "service");
  if (s(svc, "name").empty()) required(e, child(f, "service.name"));
  else each(e, child(f, "service.name"), s(svc, "name"), dns1035_label(s(svc, "name")));
  const json& port = obj_at(svc, "port");
  const bool by_name = !s(port, "name").empty(), by_number = n(port, "number") != 0;
  if (by_name && by_number) invalid(e, f, q(""), "cannot set both port name & port number");
  else if (by_name) each(e, child(f, "service.port.name"), s(port, "name"), port_name(s(port, "name")));
  else if (by_number)
    for (auto& m : port_num(n(port, "number"))) invalid(e, child(f, "service.port.number"), std::to_string(n(port, "number")), m);
  else required(e, f, "port name or number is required");
}

Errors validate_ingress(const json& o) {
  Errors e;
  validate_meta(e, o, true, dns1123_subdomain);
  const json& spec = obj_at(o, "spec");
  const json& rules = arr(spec, "rules");
  if (rules.empty() && !has(spec, "defaultBackend"))
    invalid(e, "spec", "[]networking.IngressRule(nil)", "either `defaultBackend` or `rules` must be specified");
  if (has(spec, "defaultBackend")) validate_backend(e, obj_at(spec, "defaultBackend"), "spec.defaultBackend");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    const std::string rp = index("spec.rules", i), host = s(r, "host");
    if (!host.empty()) {
      if (is_ip(host)) invalid(e, child(rp, "host"), q(host), "must be a DNS name, not an IP address");
      if (host.find('*') != std::string::npos) each(e, child(rp, "host"), host, wildcard_subdomain(host));
      else each(e, child(rp, "host"), host, dns1123_subdomain(host));
    }
    if (!has(r, "http")) continue;
    const json& paths = arr(obj_at(r, "http"), "paths");
    if (paths.empty()) required(e, child(rp, "http.paths"));
    for (std::size_t j = 0; j < paths.size(); ++j) {
      const json& p = paths[j];
      const std::string pp = index(child(rp, "http.paths"), j), path = s(p, "path");
      if (!has(p, "pathType")) {
        required(e, child(pp, "pathType"), "pathType must be specified");
        continue;
      }
      const std::string type = s(p, "pathType");
      if (type == "Exact" || type == "Prefix") {
        if (path.rfind('/', 0) != 0) invalid(e, child(pp, "path"), q(path), "must be an absolute path");
        if (!path.empty()) {
          for (const char* seq : {"//", "/./", "/../", "%2f", "%2F"})
            if (path.find(seq) != std::string::npos) invalid(e, child(pp, "path"), q(path), std::string("must not contain '") + seq + "'");
          for (const std::string suffix : {"/..", "/."})
            if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
              invalid(e, child(pp, "path"), q(path), "cannot end with '" + suffix + "'");
        }
      } else if (type == "ImplementationSpecific") {
        if (!path.empty() && path[0] != '/') invalid(e, child(pp, "path"), q(path), "must be an absolute path");
      } else {
        not_supported(e, child(pp, "pathType"), type, {"Exact", "ImplementationSpecific", "Prefix"});
      }
      validate_backend(e, obj_at(p, "backend"), child(pp, "backend"));
    }
  }
  const json& tls = arr(spec, "tls");
  for (std::size_t i = 0; i < tls.size(); ++i) {
    const json& hosts = arr(tls[i], "hosts");
    for (std::size_t j = 0; j < hosts.size(); ++j) {
      const std::string host = hosts[j].is_string() ? hosts[j].get<std::string>() : "";
      const std::string hp = index(child(index("spec.tls", i), "hosts"), j);
      each(e, hp, host, host.find('*') != std::string::npos ? wildcard_subdomain(host) : dns1123_subdomain(host));
    }
    if (!s(tls[i], "secretName").empty())
      each(e, child(index("spec.tls", i), "secretName"), s(tls[i], "secretName"), dns1123_subdomain(s(tls[i], "secretName")));
  }
  if (has(spec, "ingressClassName"))
    each(e, "spec.ingressClassName", s(spec, "ingressClassName"), dns1123_subdomain(s(spec, "ingressClassName")));
  // ValidateIngressCreate
  const json& annotations = obj_at(obj_at(o, "metadata"), "annotations");
  if (annotations.contains("kubernetes.io/ingress.class") && has(spec, "ingressClassName"))
    invalid(e, "annotations.kubernetes.io/ingress.class", v(annotations["kubernetes.io/ingress.class"]),
            "can not be set when the class field is also set");
  return e;
}

Errors validate_ingress_class(const json& o) {
  Errors e;
  validate_meta(e, o, false, dns1123_subdomain);
  const std::string controller = s(obj_at(o, "spec"), "controller");
  if (controller.size() > 250) e.push_back({"spec.controller", "Too long: may not be longer than 250"});
  if (controller.empty()) required(e, "spec.controller");
  else {  // IsDomainPrefixedPath
    auto slash = controller.find('/');
    if (slash == std::string::npos) invalid(e, "spec.controller", q(controller), "must be a domain-prefixed path (such as \"acme.io/foo\")");
    else each(e, "spec.controller", controller.substr(0, slash), dns1123_subdomain(controller.substr(0, slash)));
  }
  return e;
}

// --- rbac (pkg/apis/rbac/validation) -------------------------------------------------------------

const char* kRbacGroup = "rbac.authorization.k8s.io";

void validate_rules(Errors& e, const json& rules, bool namespaced) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    const std::string rp = index("rules", i);
    if (arr(r, "verbs").empty()) required(e, child(rp, "verbs"), "verbs must contain at least one value");
    if (!arr(r, "nonResourceURLs").empty()) {
      std::string urls;
      for (const auto& u : arr(r, "nonResourceURLs")) urls += (urls.empty() ? "" : ", ") + v(u);
      if (namespaced) invalid(e, child(rp, "nonResourceURLs"), "[]string{" + urls + "}", "namespaced rules cannot apply to non-resource URLs");
      if (!arr(r, "apiGroups").empty() || !arr(r, "resources").empty() || !arr(r, "resourceNames").empty())
        invalid(e, child(rp, "nonResourceURLs"), "[]string{" + urls + "}", "rules cannot apply to both regular resources and non-resource URLs");
      continue;
    }
    if (arr(r, "apiGroups").empty()) required(e, child(rp, "apiGroups"), "resource rules must supply at least one api group");
    if (arr(r, "resources").empty()) required(e, child(rp, "resources"), "resource rules must supply at least one resource");
  }
}

Errors validate_role(const json& o, bool namespaced) {
  Errors e;
  validate_meta(e, o, namespaced, path_segment);
  validate_rules(e, arr(o, "rules"), namespaced);
  return e;
}

std::string go_role_ref(const json& ref) {
  return "rbac.RoleRef{APIGroup:" + q(s(ref, "apiGroup").empty() ? kRbacGroup : s(ref, "apiGroup")) + ", Kind:" + q(s(ref, "kind")) +
         ", Name:" + q(s(ref, "name")) + "}";
}

Errors validate_binding(const json& o, const json* old, bool namespaced) {
  Errors e;
  validate_meta(e, o, namespaced, path_segment);
  const json& ref = obj_at(o, "roleRef");
  const std::string group = has(ref, "apiGroup") ? s(ref, "apiGroup") : kRbacGroup;  // SetDefaults_RoleBinding
  if (group != kRbacGroup) not_supported(e, "roleRef.apiGroup", group, {kRbacGroup});
  const std::string kind = s(ref, "kind");
  if (namespaced && kind != "Role" && kind != "ClusterRole") not_supported(e, "roleRef.kind", kind, {"Role", "ClusterRole"});
  if (!namespaced && kind != "ClusterRole") not_supported(e, "roleRef.kind", kind, {"ClusterRole"});
  if (s(ref, "name").empty()) required(e, "roleRef.name");
  else each(e, "roleRef.name", s(ref, "name"), path_segment(s(ref, "name")));
  const json& subjects = arr(o, "subjects");
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    const json& sub = subjects[i];
    const std::string sp = index("subjects", i), sk = s(sub, "kind");
    if (s(sub, "name").empty()) required(e, child(sp, "name"));
    if (sk == "ServiceAccount") {
      if (!s(sub, "name").empty()) each(e, child(sp, "name"), s(sub, "name"), dns1123_subdomain(s(sub, "name")));
      if (!s(sub, "apiGroup").empty()) not_supported(e, child(sp, "apiGroup"), s(sub, "apiGroup"), {""});
      if (!namespaced && s(sub, "namespace").empty()) required(e, child(sp, "namespace"));
    } else if (sk == "User" || sk == "Group") {
      const std::string g = has(sub, "apiGroup") ? s(sub, "apiGroup") : kRbacGroup;  // SetDefaults_Subject
      if (g != kRbacGroup) not_supported(e, child(sp, "apiGroup"), g, {kRbacGroup});
    } else {
      not_supported(e, child(sp, "kind"), sk, {"ServiceAccount", "User", "Group"});
    }
  }
  if (old) {
    json a = obj_at(*old, "roleRef"), b = ref;
    if (!a.contains("apiGroup")) a["apiGroup"] = kRbacGroup;
    if (!b.contains("apiGroup")) b["apiGroup"] = kRbacGroup;
    if (a != b) invalid(e, "roleRef", go_role_ref(ref), "cannot change roleRef");
  }
  return e;
}

// --- admissionregistration (pkg/apis/admissionregistration/validation) ---------------------------

Errors validate_webhooks(const json& o, bool mutating) {
  Errors e;
  validate_meta(e, o, false, dns1123_subdomain);
  std::set<std::string> names;
  const json& hooks = arr(o, "webhooks");
  for (std::size_t i = 0; i < hooks.size(); ++i) {
    const json& h = hooks[i];
    const std::string hp = index("webhooks", i), name = s(h, "name");
    // utilvalidation.IsFullyQualifiedName
    if (name.empty()) required(e, child(hp, "name"));
    else if (auto msgs = dns1123_subdomain(name); !msgs.empty()) {
      std::string joined;
      for (const auto& m : msgs) joined += (joined.empty() ? "" : ",") + m;
      invalid(e, child(hp, "name"), q(name), joined);
    } else if (std::count(name.begin(), name.end(), '.') < 2) {
      invalid(e, child(hp, "name"), q(name), "should be a domain with at least three segments separated by dots");
    }
    if (has(h, "failurePolicy") && s(h, "failurePolicy") != "Fail" && s(h, "failurePolicy") != "Ignore")
      not_supported(e, child(hp, "failurePolicy"), s(h, "failurePolicy"), {"Fail", "Ignore"});
    if (has(h, "matchPolicy") && s(h, "matchPolicy") != "Equivalent" && s(h, "matchPolicy") != "Exact")
      not_supported(e, child(hp, "matchPolicy"), s(h, "matchPolicy"), {"Equivalent", "Exact"});
    validate_label_selector(e, at(h, "namespaceSelector"), child(hp, "namespaceSelector"));
    validate_label_selector(e, at(h, "objectSelector"), child(hp, "objectSelector"));
    if (!has(h, "sideEffects")) required(e, child(hp, "sideEffects"), "must specify one of None, NoneOnDryRun");
    else if (s(h, "sideEffects") != "None" && s(h, "sideEffects") != "NoneOnDryRun")
      not_supported(e, child(hp, "sideEffects"), s(h, "sideEffects"), {"None", "NoneOnDryRun"});
    if (has(h, "timeoutSeconds") && (n(h, "timeoutSeconds") > 30 || n(h, "timeoutSeconds") < 1))
      invalid(e, child(hp, "timeoutSeconds"), std::to_string(n(h, "timeoutSeconds")), "the timeout value must be between 1 and 30 seconds");
    const json& cc = obj_at(h, "clientConfig");
    if (has(cc, "url") == has(cc, "service")) {
      required(e, child(hp, "clientConfig"), "exactly one of url or service is required");
    } else if (has(cc, "service")) {
      const json& svc = obj_at(cc, "service");
      const std::string sp = child(hp, "clientConfig.service");
      if (s(svc, "name").empty()) required(e, child(sp, "name"), "service name is required");
      if (s(svc, "namespace").empty()) required(e, child(sp, "namespace"), "service namespace is required");
      const long long port = n(svc, "port", 443);
      if (!port_num(port).empty())
        invalid(e, child(sp, "port"), std::to_string(port), "port is not valid: must be between 1 and 65535, inclusive");
      if (has(svc, "path") && !s(svc, "path").empty() && s(svc, "path") != "/" && s(svc, "path")[0] != '/')
        invalid(e, child(sp, "path"), q(s(svc, "path")), "must start with a '/'");
    } else {
      const std::string url = s(cc, "url");
      if (url.rfind("https://", 0) != 0)
        invalid(e, child(hp, "clientConfig.url"), q(url), "'https' is the only allowed URL scheme");
    }
    if (mutating && has(h, "reinvocationPolicy") && s(h, "reinvocationPolicy") != "IfNeeded" && s(h, "reinvocationPolicy") != "Never")
      not_supported(e, child(hp, "reinvocationPolicy"), s(h, "reinvocationPolicy"), {"IfNeeded", "Never"});
    // validateAdmissionReviewVersions
    const json& versions = arr(h, "admissionReviewVersions");
    const std::string vp = child(hp, "admissionReviewVersions");
    if (versions.empty()) {
      required(e, vp, "must specify one of v1, v1beta1");
    } else {
      std::set<std::string> seen;
      bool accepted = false;
      std::string listed;
      for (std::size_t j = 0; j < versions.size(); ++j) {
        const std::string ver = versions[j].is_string() ? versions[j].get<std::string>() : "";
        listed += (listed.empty() ? "" : ", ") + q(ver);
        if (!seen.insert(ver).second) {
          invalid(e, index(vp, j), q(ver), "duplicate version");
          continue;
        }
        each(e, index(vp, j), ver, dns1035_label(ver));
        if (ver == "v1" || ver == "v1beta1") accepted = true;
      }
      if (!accepted) invalid(e, vp, "[]string{" + listed + "}", "must include at least one of v1, v1beta1");
    }
    if (!name.empty() && !names.insert(name).second) duplicate(e, child(hp, "name"), q(name));
  }
  return e;
}

// --- apiextensions -------------------------------------------------------------------------------

Errors validate_crd(const json& o) {
  Errors e;
  validate_meta(e, o, false, dns1123_subdomain);
  const json& spec = obj_at(o, "spec");
  const json& names = obj_at(spec, "names");
  const std::string want = s(names, "plural") + "." + s(spec, "group");
  if (s(obj_at(o, "metadata"), "name") != want)
    invalid(e, "metadata.name", q(s(obj_at(o, "metadata"), "name")), "must be spec.names.plural+\".\"+spec.group");
  if (s(spec, "group").empty()) required(e, "spec.group");
  else if (s(spec, "group").find('.') == std::string::npos)
    invalid(e, "spec.group", q(s(spec, "group")), "should be a domain with at least one dot");
  if (s(spec, "scope").empty()) required(e, "spec.scope");
  else if (s(spec, "scope") != "Cluster" && s(spec, "scope") != "Namespaced")
    not_supported(e, "spec.scope", s(spec, "scope"), {"Cluster", "Namespaced"});
  if (s(names, "plural").empty()) required(e, "spec.names.plural");
  if (s(names, "kind").empty()) required(e, "spec.names.kind");
  if (s(names, "listKind").empty()) required(e, "spec.names.listKind");
  // apiextensions.k8s.io/v1: every version carries a structural schema, and exactly one is stored
  // (apiextensions-apiserver pkg/apis/apiextensions/validation/validation.go,
  // ValidateCustomResourceDefinitionSpec: "schemas are required", "must have exactly one version
  // marked as storage version").
  const json& versions = at(spec, "versions");
  if (!versions.is_array() || versions.empty()) {
    invalid(e, "spec.versions", "[]string(nil)", "must have exactly one version marked as storage version");
  } else {
    int stored = 0;
    for (std::size_t i = 0; i < versions.size(); ++i) {
      const json& v = versions[i];
      if (!v.is_object()) continue;
      if (v.value("storage", false)) ++stored;
      if (!obj_at(obj_at(v, "schema"), "openAPIV3Schema").is_object() || obj_at(obj_at(v, "schema"), "openAPIV3Schema").empty())
        required(e, "spec.versions[" + std::to_string(i) + "].schema.openAPIV3Schema", "schemas are required");
    }
    if (stored != 1) {
      // The real value is Go's %v of every version (long): the simulator abbreviates it.
      invalid(e, "spec.versions", "[]apiextensions.CustomResourceDefinitionVersion{...}",
              "must have exactly one version marked as storage version");
    }
  }
  return e;
}

// --- custom resources (apiextensions-apiserver pkg/apiserver/validation, kube-openapi) -----------

struct CrWalker {
  Errors errors;
  std::vector<std::string> pruned;

  static std::string type_of(const json& value) {
    if (value.is_string()) return "string";
    if (value.is_boolean()) return "boolean";
    if (value.is_number_integer() || value.is_number_unsigned()) return "integer";
    if (value.is_number()) return std::floor(value.get<double>()) == value.get<double>() ? "integer" : "number";
    if (value.is_array()) return "array";
    return "object";
  }

  void walk(const json& value, const json& schema, const std::string& path) {
    if (!schema.is_object() || value.is_null()) return;
    const std::string type = s(schema, "type");
    const std::string actual = type_of(value);
    if (schema.value("x-kubernetes-int-or-string", false)) {
      if (actual != "integer" && actual != "string")
        invalid(errors, path, q(actual), path + " in body must be of type integer,string: " + q(actual));
      return;
    }
    if (!type.empty() && type != actual && !(type == "number" && actual == "integer")) {
      invalid(errors, path, q(actual), path + " in body must be of type " + type + ": " + q(actual));
      return;
    }
    if (has(schema, "enum") && schema["enum"].is_array()) {
      bool found = false;
      std::vector<std::string> allowed;
      for (const auto& x : schema["enum"]) {
        if (x == value) found = true;
        allowed.push_back(x.is_string() ? x.get<std::string>() : x.dump());
      }
      if (!found) errors.push_back({path, "Unsupported value: " + v(value) + ": supported values: " + quoted_list(allowed)});
    }
    if (value.is_string()) {
      const std::string text = value.get<std::string>();
      if (has(schema, "maxLength") && static_cast<long long>(text.size()) > n(schema, "maxLength"))
        errors.push_back({path, "Too long: may not be longer than " + std::to_string(n(schema, "maxLength"))});
      if (has(schema, "minLength") && static_cast<long long>(text.size()) < n(schema, "minLength"))
        invalid(errors, path, q(text), path + " in body should be at least " + std::to_string(n(schema, "minLength")) + " chars long");
      if (has(schema, "pattern")) {
        bool matched = true;
        try {  // Go's RE2 syntax; a pattern std::regex cannot read, or a value too long for its
               // recursion (one frame a character), is not checked
          if (text.size() <= 4096) matched = std::regex_search(text, std::regex(s(schema, "pattern")));
        } catch (const std::regex_error&) {
        }
        if (!matched) invalid(errors, path, q(text), path + " in body should match '" + s(schema, "pattern") + "'");
      }
    }
    if (value.is_number()) {
      const double d = value.get<double>();
      auto num = [](const json& x) { return x.dump(); };
      if (has(schema, "minimum") && d < schema["minimum"].get<double>())
        invalid(errors, path, value.dump(), path + " in body should be greater than or equal to " + num(schema["minimum"]));
      if (has(schema, "maximum") && d > schema["maximum"].get<double>())
        invalid(errors, path, value.dump(), path + " in body should be less than or equal to " + num(schema["maximum"]));
    }
    if (value.is_array()) {
      if (has(schema, "maxItems") && static_cast<long long>(value.size()) > n(schema, "maxItems"))
        errors.push_back({path, "Too many: " + std::to_string(value.size()) + ": must have at most " +
                                    std::to_string(n(schema, "maxItems")) + " items"});
      if (has(schema, "minItems") && static_cast<long long>(value.size()) < n(schema, "minItems"))
        invalid(errors, path, std::to_string(value.size()),
                path + " in body should have at least " + std::to_string(n(schema, "minItems")) + " items");
      if (has(schema, "items"))
        for (std::size_t i = 0; i < value.size(); ++i) walk(value[i], schema["items"], index(path, i));
    }
    if (value.is_object()) {
      for (const auto& r : arr(schema, "required"))
        if (r.is_string() && !value.contains(r.get<std::string>())) required(errors, child(path, r.get<std::string>()));
      const json& props = obj_at(schema, "properties");
      const bool keep = schema.value("x-kubernetes-preserve-unknown-fields", false);
      const json& additional = at(schema, "additionalProperties");
      for (auto it = value.begin(); it != value.end(); ++it) {
        const std::string p = child(path, it.key());
        if (props.contains(it.key())) walk(it.value(), props[it.key()], p);
        else if (additional.is_object()) walk(it.value(), additional, p);
        else if (!keep && !(additional.is_boolean() && additional.get<bool>())) pruned.push_back(p);
      }
    }
  }
};

/// The version entry of a CRD for `version`.
const json* crd_version(const json& crd, const std::string& version) {
  for (const auto& ver : arr(obj_at(crd, "spec"), "versions"))
    if (s(ver, "name") == version) return &ver;
  return nullptr;
}

std::string joined(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

}  // namespace

int minor_of(const std::string& version) {
  int major = 0, minor = 0;
  if (std::sscanf(version.c_str(), "v%d.%d", &major, &minor) == 2 || std::sscanf(version.c_str(), "%d.%d", &major, &minor) == 2)
    return minor;
  return 28;
}

std::optional<Refusal> admit(const KubeKind& kind, const json& obj, const json* old, const json* crd) {
  const std::string name = s(obj_at(obj, "metadata"), "name");
  auto bad_request = [&](const std::string& why) {
    return Refusal{"BadRequest", kind.kind + " in version " + q(kind.version) + " cannot be handled as a " + kind.kind + ": " + why, "", "", {}};
  };
  Errors errors;
  if (crd) {
    // Custom resources: metadata as ObjectMeta, the rest by the version's schema; unknown fields are
    // what pruning would drop, and fieldValidation=Strict refuses them.
    std::vector<std::string> unknown = kube_schema::unknown_in_metadata(obj_at(obj, "metadata"));
    const json* ver = crd_version(*crd, kind.version);
    const json* schema = ver && ver->contains("/schema/openAPIV3Schema"_json_pointer) ? &(*ver)["schema"]["openAPIV3Schema"] : nullptr;
    CrWalker w;
    if (schema) {
      json body = obj;
      body.erase("apiVersion");
      body.erase("kind");
      body.erase("metadata");
      json root = *schema;
      if (root.is_object() && root.contains("properties") && root["properties"].is_object()) {
        root["properties"].erase("apiVersion");
        root["properties"].erase("kind");
        root["properties"].erase("metadata");
      }
      if (root.is_object() && root.contains("required") && root["required"].is_array()) {
        json req = json::array();
        for (const auto& r : root["required"])
          if (r != "metadata" && r != "apiVersion" && r != "kind") req.push_back(r);
        root["required"] = req;
      }
      w.walk(body, root, "");
      unknown.insert(unknown.end(), w.pruned.begin(), w.pruned.end());
    }
    if (!unknown.empty()) {
      std::vector<std::string> parts;
      for (const auto& u : unknown) parts.push_back("unknown field " + q(u));
      return bad_request("strict decoding error: " + joined(parts, ", "));
    }
    validate_meta(errors, obj, kind.namespaced, dns1123_subdomain);
    errors.insert(errors.end(), w.errors.begin(), w.errors.end());
  } else {
    if (kube_schema::known(kind.api_version(), kind.kind)) {
      auto decoded = kube_schema::decode(kind.api_version(), kind.kind, obj);
      if (!decoded.error.empty()) return bad_request(decoded.error);
      if (!decoded.unknown.empty()) {
        std::vector<std::string> parts;
        for (const auto& u : decoded.unknown) parts.push_back("unknown field " + q(u));
        return bad_request("strict decoding error: " + joined(parts, ", "));
      }
    }
    const std::string& k = kind.kind;
    if (k == "Service") errors = validate_service(obj);
    else if (k == "Deployment") errors = validate_deployment(obj);
    else if (k == "DaemonSet") errors = validate_daemonset(obj);
    else if (k == "StatefulSet") errors = validate_statefulset(obj);
    else if (k == "Secret") errors = validate_secret(obj);
    else if (k == "ConfigMap") errors = validate_configmap(obj);
    else if (k == "PersistentVolumeClaim") errors = validate_pvc(obj);
    else if (k == "Ingress") errors = validate_ingress(obj);
    else if (k == "IngressClass") errors = validate_ingress_class(obj);
    else if (k == "Namespace") validate_meta(errors, obj, false, dns1123_label);
    else if (k == "Role" || k == "ClusterRole") errors = validate_role(obj, k == "Role");
    else if (k == "RoleBinding" || k == "ClusterRoleBinding") errors = validate_binding(obj, old, k == "RoleBinding");
    else if (k == "ValidatingWebhookConfiguration" || k == "MutatingWebhookConfiguration")
      errors = validate_webhooks(obj, k == "MutatingWebhookConfiguration");
    else if (k == "CustomResourceDefinition") errors = validate_crd(obj);
    else if (k == "Pod") errors = validate_pod(obj);
    else if (k == "Job") errors = validate_job(obj);
    else if (k == "CronJob") errors = validate_cronjob(obj);
    else validate_meta(errors, obj, kind.namespaced, dns1123_subdomain);
    if (old && (k == "Deployment" || k == "DaemonSet")) {
      const json& a = at(obj_at(*old, "spec"), "selector");
      const json& b = at(obj_at(obj, "spec"), "selector");
      if (a != b) invalid(errors, "spec.selector", go_selector(b), "field is immutable");
    }
    if (old && k == "Secret" && s(*old, "type") != s(obj, "type"))
      invalid(errors, "type", q(s(obj, "type")), "field is immutable");
  }
  if (errors.empty()) return std::nullopt;
  // errors.NewInvalid: the causes, and the message with ErrorList.ToAggregate's (deduplicated) text
  Refusal r{"Invalid", "", kind.kind, name, {}};
  for (const auto& fe : errors) r.causes.push_back(fe.field + ": " + fe.body);
  std::vector<std::string> unique;
  std::set<std::string> added;
  for (const auto& c : r.causes)
    if (added.insert(c).second) unique.push_back(c);
  const std::string qualified = kind.group.empty() ? kind.kind : kind.kind + "." + kind.group;
  r.message = qualified + " " + q(name) + " is invalid: " + (unique.size() == 1 ? unique[0] : "[" + joined(unique, ", ") + "]");
  return r;
}

}  // namespace drctl::sim::kube_validation
