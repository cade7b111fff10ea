// The simulated API server's strict decoding (see kube_schema.hpp). Go's encoding/json as
// Kubernetes 1.28 uses it (sigs.k8s.io/json, case-sensitive, strict): decode.go's
// UnmarshalTypeError ("json: cannot unmarshal VALUE into Go struct field STRUCT.PATH of type
// TYPE": STRUCT the innermost struct, PATH the JSON names from the root without indices), the
// first such error wins and decoding goes on; unknown fields are collected with their indices.
// kubectl sends JSON with its keys sorted, so the order is the sorted keys', depth first.
#include "sim/kube_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <cstring>
#include <set>
#include <sstream>

namespace drctl::sim::kube_schema {

using nlohmann::json;

namespace {

enum class K { String, Bool, Int32, Int64, Float64, IntOrString, Quantity, Time, Bytes, Any, Array, Map, Struct };

struct Struct;
struct Type {
  K k = K::Any;
  std::shared_ptr<Type> elem;     // Array, Map
  const Struct* st = nullptr;     // Struct
};
struct Struct {
  std::string go_name, go_pkg;
  std::map<std::string, std::shared_ptr<Type>> fields;
};

struct Tables {
  std::map<std::string, Struct> structs;                        // by id
  std::map<std::pair<std::string, std::string>, const Struct*> kinds;  // (apiVersion, kind)
};

std::shared_ptr<Type> parse_type(const std::string& code, std::map<std::string, Struct>& structs) {
  auto t = std::make_shared<Type>();
  if (code.rfind("a:", 0) == 0 || code.rfind("m:", 0) == 0) {
    t->k = code[0] == 'a' ? K::Array : K::Map;
    t->elem = parse_type(code.substr(2), structs);
  } else if (code[0] == '@') {
    t->k = K::Struct;
    t->st = &structs[code.substr(1)];  // filled in when its line is read
  } else {
    static const std::map<std::string, K> simple = {
        {"s", K::String}, {"b", K::Bool},         {"i32", K::Int32},   {"i64", K::Int64}, {"f64", K::Float64},
        {"ios", K::IntOrString}, {"q", K::Quantity}, {"t", K::Time}, {"y", K::Bytes},  {"any", K::Any}};
    t->k = simple.at(code);
  }
  return t;
}

const Tables& tables() {
  static const Tables t = [] {
    Tables out;
    std::istringstream types(kTypes);
    for (std::string line; std::getline(types, line);) {
      std::istringstream words(line);
      std::string id, go_name, pkg;
      if (!(words >> id >> go_name >> pkg)) continue;
      Struct& s = out.structs[id];
      s.go_name = go_name;
      s.go_pkg = pkg;
      for (std::string f; words >> f;) {
        auto colon = f.find(':');
        s.fields[f.substr(0, colon)] = parse_type(f.substr(colon + 1), out.structs);
      }
    }
    std::istringstream kinds(kKinds);
    for (std::string line; std::getline(kinds, line);) {
      std::istringstream words(line);
      std::string av, kind, id;
      if (words >> av >> kind >> id) out.kinds[{av, kind}] = &out.structs.at(id);
    }
    return out;
  }();
  return t;
}

/// Go's reflect.Type.String() of a type ("int32", "[]v1.ServicePort", "map[string]string").
std::string go_type(const Type& t) {
  switch (t.k) {
    case K::String: return "string";
    case K::Bool: return "bool";
    case K::Int32: return "int32";
    case K::Int64: return "int64";
    case K::Float64: return "float64";
    case K::IntOrString: return "intstr.IntOrString";
    case K::Quantity: return "resource.Quantity";
    case K::Time: return "v1.Time";
    case K::Bytes: return "[]uint8";
    case K::Any: return "interface {}";
    case K::Array: return "[]" + go_type(*t.elem);
    case K::Map: return "map[string]" + go_type(*t.elem);
    case K::Struct: return t.st->go_pkg + "." + t.st->go_name;
  }
  return "";
}

/// The name Go's decoder gives a JSON value it cannot store ("string", "number", "bool", ...).
std::string json_kind(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  return "object";
}

/// A number as Go's encoding/json writes a float64: the shortest text that reads back the same,
/// an exponent with no leading zero ("1.5", "1e-7", "1e+21").
std::string go_number(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  const double d = v.get<double>();
  std::string s;
  for (int p = 1; p <= 17; ++p) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", p, d);
    s = buf;
    if (std::strtod(buf, nullptr) == d) break;
  }
  if (auto e = s.find("e-0"); e != std::string::npos) s.erase(e + 2, 1);
  if (auto e = s.find("e+0"); e != std::string::npos) s.erase(e + 2, 1);
  return s;
}

/// Base64 as Go's StdEncoding decodes it (decodeQuantum, CR and LF skipped): the offset its
/// CorruptInputError names, or -1.
long bad_base64_at(const std::string& s) {
  auto valid = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/'; };
  auto newline = [](char c) { return c == '\r' || c == '\n'; };
  const long n = static_cast<long>(s.size());
  long si = 0;
  while (true) {
    for (int j = 0; j < 4; ++j) {
      if (si == n) {
        if (j == 0) return -1;
        return si - j;
      }
      const char in = s[si++];
      if (valid(in)) continue;
      if (newline(in)) {
        --j;
        continue;
      }
      if (in != '=') return si - 1;
      if (j < 2) return si - 1;
      if (j == 2) {
        while (si < n && newline(s[si])) ++si;
        if (si == n) return n;
        if (s[si] != '=') return si - 1;
        ++si;
      }
      while (si < n && newline(s[si])) ++si;
      return si < n ? si : -1;
    }
  }
}

/// resource.ParseQuantity's verdict: "" or its error. The regular expression it names is matched
/// by hand (std::regex recurses per character: a long value would overflow the stack).
std::string bad_quantity(const std::string& text) {
  static const char* kFormat =
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t at = 0;
  if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
  const std::size_t digits_from = at;
  while (at < text.size() && (digit(text[at]) || text[at] == '.')) ++at;
  if (at == digits_from) return kFormat;
  const std::string number = text.substr(0, at), suffix = text.substr(at);
  std::size_t k = 0;
  while (k < suffix.size() && std::strchr("eEinumkKMGTP", suffix[k]) && suffix[k] != '\0') ++k;
  const std::size_t letters = k;
  if (k < suffix.size() && (suffix[k] == '-' || suffix[k] == '+')) ++k;
  while (k < suffix.size() && digit(suffix[k])) ++k;
  if (k != suffix.size()) return kFormat;
  if (number.find_first_of("0123456789") == std::string::npos || std::count(number.begin(), number.end(), '.') > 1)
    return kFormat;
  static const std::set<std::string> suffixes = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m",
                                                 "k", "M",  "G",  "T",  "P",  "E"};
  if (suffixes.count(suffix)) return "";
  // an exponent: [eE][-+]?[0-9]+
  const bool exponent = letters == 1 && (suffix[0] == 'e' || suffix[0] == 'E') &&
                        suffix.size() > 1 + ((suffix[1] == '-' || suffix[1] == '+') ? 1u : 0u);
  if (exponent) return "";
  return "unable to parse quantity's suffix";
}

struct Walker {
  Decoded out;
  std::vector<std::string> go_path;  // JSON names of the struct fields from the root
  std::string go_struct;             // the innermost struct's name

  void type_error(const std::string& value, const Type& t) {
    if (!out.error.empty()) return;
    std::string field;
    for (const auto& p : go_path) field += (field.empty() ? "" : ".") + p;
    out.error = "json: cannot unmarshal " + value + " into Go struct field " + go_struct + "." + field + " of type " + go_type(t);
  }
  void error(const std::string& e) {
    if (out.error.empty()) out.error = e;
  }

  void walk(const json& v, const Type& t, const std::string& path) {
    if (v.is_null()) return;
    switch (t.k) {
      case K::Any: return;
      case K::String:
      case K::Time:
        if (!v.is_string()) type_error(json_kind(v), Type{K::String, nullptr, nullptr});
        return;
      case K::Bool:
        if (!v.is_boolean()) type_error(json_kind(v), t);
        return;
      case K::Int32:
      case K::Int64:
      case K::IntOrString: {
        if (t.k == K::IntOrString && v.is_string()) return;
        const Type as = t.k == K::Int64 ? t : Type{K::Int32, nullptr, nullptr};
        if (!v.is_number()) return type_error(json_kind(v), as);
        const double d = v.get<double>();
        bool fits = d == std::floor(d);
        if (as.k == K::Int32) {
          fits = fits && d >= std::numeric_limits<std::int32_t>::min() && d <= std::numeric_limits<std::int32_t>::max();
        } else if (v.is_number_unsigned()) {  // JSON's integers beyond int64 arrive unsigned
          fits = v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        } else if (v.is_number_float()) {  // 2^63 itself is a double, and not an int64
          fits = fits && d >= -0x1p63 && d < 0x1p63;
        }
        if (!fits) type_error("number " + go_number(v), as);
        return;
      }
      case K::Float64:
        if (!v.is_number()) type_error(json_kind(v), t);
        return;
      case K::Quantity: {
        std::string text = v.is_string() ? v.get<std::string>() : v.is_number() ? go_number(v) : v.dump();
        if (auto e = bad_quantity(text); !e.empty()) error(e);
        return;
      }
      case K::Bytes:
        if (!v.is_string()) return type_error(json_kind(v), t);
        if (long at = bad_base64_at(v.get<std::string>()); at >= 0)
          error("illegal base64 data at input byte " + std::to_string(at));
        return;
      case K::Array: {
        if (!v.is_array()) return type_error(json_kind(v), t);
        for (std::size_t i = 0; i < v.size(); ++i) walk(v[i], *t.elem, path + "[" + std::to_string(i) + "]");
        return;
      }
      case K::Map: {
        if (!v.is_object()) return type_error(json_kind(v), t);
        for (auto it = v.begin(); it != v.end(); ++it) walk(it.value(), *t.elem, path + "[" + it.key() + "]");
        return;
      }
      case K::Struct: {
        if (!v.is_object()) return type_error(json_kind(v), t);
        const std::string outer = go_struct;
        for (auto it = v.begin(); it != v.end(); ++it) {
          const std::string child = path.empty() ? it.key() : path + "." + it.key();
          auto f = t.st->fields.find(it.key());
          if (f == t.st->fields.end()) {
            out.unknown.push_back(child);
            continue;
          }
          go_struct = t.st->go_name;
          go_path.push_back(it.key());
          walk(it.value(), *f->second, child);
          go_path.pop_back();
        }
        go_struct = outer;
        return;
      }
    }
  }
};

}  // namespace

bool known(const std::string& api_version, const std::string& kind) { return tables().kinds.count({api_version, kind}) > 0; }

Decoded decode(const std::string& api_version, const std::string& kind, const json& obj) {
  Walker w;
  Type root{K::Struct, nullptr, tables().kinds.at({api_version, kind})};
  w.walk(obj, root, "");
  if (!w.out.error.empty()) w.out.unknown.clear();
  return w.out;
}

std::vector<std::string> unknown_in_metadata(const json& metadata) {
  Walker w;
  Type meta{K::Struct, nullptr, &tables().structs.at("V1ObjectMeta")};
  w.walk(metadata, meta, "metadata");
  return w.out.unknown;
}

}  // namespace drctl::sim::kube_schema
