#include "store/snapshot.hpp"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace drctl::store {

using json = nlohmann::json;

const Section* Snapshot::section(std::string_view name) const {
  for (const auto& s : sections)
    if (s.name == name) return &s;
  return nullptr;
}

json section_json(const Section& s) {
  json j = {{"name", s.name}, {"source", s.source}, {"tree", s.tree.hex()},
            {"files", s.files}, {"dirs", s.dirs},     {"bytes", s.bytes}};
  if (!s.excludes.empty()) {
    json paths = json::array();
    for (const auto& [path, pattern] : s.excluded_paths) paths.push_back({{"path", path}, {"pattern", pattern}});
    j["excludes"] = s.excludes;
    j["excluded"] = s.excluded;
    j["excluded_paths"] = paths;
  }
  return j;
}

std::string Snapshot::to_json() const {
  json secs = json::array();
  for (const auto& s : sections) {
    secs.push_back(section_json(s));
    if (s.root) secs.back()["root"] = s.root->hex();
  }
  json skips = json::array();
  for (const auto& s : skipped) skips.push_back({{"section", s.section}, {"path", s.path}, {"error", s.error}});
  json j = {{"format", "drctl-snapshot"}, {"version", 1},   {"time", time},        {"host", host},
            {"tags", tags},               {"sections", secs}, {"skipped", skips}, {"added_bytes", added_bytes}};
  if (parent) j["parent"] = parent->hex();
  if (original) j["original"] = original->hex();
  // Paths may hold bytes that are not UTF-8: they are replaced (U+FFFD) in the manifest, which
  // only names them; trees keep the exact bytes.
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

namespace {

bool section_char(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') return true;
  return !first && (c == '.' || c == '-' || c == '+' || c == ':' || c == '@');
}

/// A count in a manifest: an unsigned integer (a negative or fractional one is damage).
std::uint64_t count_field(const json& section, const char* key) {
  if (!section.contains(key)) return 0;
  const json& v = section.at(key);
  if (!v.is_number_unsigned()) throw Failure(std::string("section field '") + key + "' is not a count");
  return v.get<std::uint64_t>();
}

/// "2026-11-26T12:00:00Z", optionally with a fraction of a second (".123456789").
bool valid_time(std::string_view t) {
  static constexpr std::string_view form = "dddd-dd-ddTdd:dd:dd";
  if (t.size() < form.size() + 1 || t.back() != 'Z') return false;
  for (std::size_t i = 0; i < form.size(); ++i)
    if (form[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != form[i]) return false;
  std::string_view fraction = t.substr(form.size(), t.size() - form.size() - 1);
  if (fraction.empty()) return true;
  if (fraction[0] != '.' || fraction.size() < 2 || fraction.size() > 10) return false;
  return fraction.find_first_not_of("0123456789", 1) == std::string_view::npos;
}

/// Whether section `inner` lies inside section `outer` ("nas" holds "nas/media").
bool inside(const std::string& inner, const std::string& outer) {
  return inner.size() > outer.size() && inner.starts_with(outer) && inner[outer.size()] == '/';
}

}  // namespace

bool valid_section_name(std::string_view name) {
  if (name.empty() || name.size() > 1024) return false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      if (i == start || i - start > 255) return false;  // empty component: leading, trailing or double slash
      start = i + 1;
      continue;
    }
    if (!section_char(name[i], i == start)) return false;
  }
  return true;
}

void require_section_name(const std::string& name) {
  if (!valid_section_name(name))
    throw InputError("section name '" + escape_bytes(name) +
                     "' is not valid: use letters, digits and . _ + : @ - in parts joined by /, e.g. nas/media");
}

void Snapshot::validate() const {
  if (!valid_time(time)) throw Failure("time '" + escape_bytes(time) + "' is not ISO 8601 UTC (2026-11-26T12:00:00Z)");
  for (std::size_t i = 0; i < sections.size(); ++i) {
    const std::string& name = sections[i].name;
    if (!valid_section_name(name)) throw Failure("section name '" + escape_bytes(name) + "' is not valid (e.g. nas/media)");
    for (std::size_t j = 0; j < i; ++j) {
      const std::string& other = sections[j].name;
      if (other == name) throw Failure("section " + name + " appears twice");
      if (inside(name, other) || inside(other, name))
        throw Failure("section " + (inside(name, other) ? name + " lies inside section " + other : other + " lies inside section " + name));
    }
  }
  for (const auto& k : skipped)
    if (!section(k.section)) throw Failure("a skipped entry names section '" + escape_bytes(k.section) + "', which the snapshot does not have");
}

Snapshot Snapshot::from_json(std::string_view text, const Id& id) {
  try {
    json j = json::parse(text);
    if (j.at("format") != "drctl-snapshot" || j.at("version") != 1) throw Failure("unsupported snapshot format");
    Snapshot s;
    s.id = id;
    s.time = j.at("time").get<std::string>();
    s.host = j.at("host").get<std::string>();
    s.tags = j.at("tags").get<std::vector<std::string>>();
    for (const auto& x : j.at("sections")) {
      s.sections.push_back({x.at("name"), x.at("source"), Id::from_hex(x.at("tree").get<std::string>()),
                            std::nullopt, count_field(x, "files"), count_field(x, "dirs"), count_field(x, "bytes")});
      Section& sec = s.sections.back();
      if (x.contains("root")) sec.root = Id::from_hex(x["root"].get<std::string>());
      if (x.contains("excludes")) {
        sec.excludes = x.at("excludes").get<std::vector<std::string>>();
        sec.excluded = count_field(x, "excluded");
        for (const auto& e : x.at("excluded_paths"))
          sec.excluded_paths.emplace_back(e.at("path").get<std::string>(), e.at("pattern").get<std::string>());
      }
    }
    for (const auto& x : j.at("skipped")) s.skipped.push_back({x.at("section"), x.at("path"), x.at("error")});
    if (j.contains("parent")) s.parent = Id::from_hex(j["parent"].get<std::string>());
    if (j.contains("original")) s.original = Id::from_hex(j["original"].get<std::string>());
    s.added_bytes = j.value("added_bytes", 0ULL);
    s.validate();
    return s;
  } catch (const Failure& e) {
    throw Failure("snapshot " + id.short_hex() + " is malformed: " + e.what());
  } catch (const json::exception& e) {
    throw Failure("snapshot " + id.short_hex() + " is malformed: " + e.what());
  } catch (const std::runtime_error& e) {
    throw Failure("snapshot " + id.short_hex() + " is malformed: " + e.what());
  }
}

std::string utc_text(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(ns % 1000000000));
  return buf;
}

std::map<std::string, std::string> newest_by_section(const std::vector<Snapshot>& snapshots) {
  std::map<std::string, std::string> newest;
  for (const auto& snap : snapshots)
    for (const auto& sec : snap.sections)
      if (newest[sec.name] < snap.time) newest[sec.name] = snap.time;
  return newest;
}

std::optional<std::chrono::system_clock::time_point> parse_utc_text(std::string_view view) {
  const std::string text(view);
  std::tm tm{};
  char frac[16] = "";
  const int got = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%15[0-9]", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                              &tm.tm_min, &tm.tm_sec, frac);
  if (got < 6) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string digits = frac;
  digits.resize(9, '0');  // ".5" is 500000000 ns
  return std::chrono::system_clock::time_point(std::chrono::seconds(timegm(&tm))) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(std::stol(digits)));
}

std::string precise_utc_now() { return utc_text(std::chrono::system_clock::now()); }

}  // namespace drctl::store
