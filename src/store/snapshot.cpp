#include "store/snapshot.hpp"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "store/error.hpp"

namespace drctl::store {

using json = nlohmann::json;

const Section* Snapshot::section(std::string_view name) const {
  for (const auto& s : sections)
    if (s.name == name) return &s;
  return nullptr;
}

std::string Snapshot::to_json() const {
  json secs = json::array();
  for (const auto& s : sections) {
    secs.push_back({{"name", s.name}, {"source", s.source}, {"tree", s.tree.hex()},
                    {"files", s.files}, {"dirs", s.dirs}, {"bytes", s.bytes}});
    if (s.root) secs.back()["root"] = s.root->hex();
  }
  json skips = json::array();
  for (const auto& s : skipped) skips.push_back({{"section", s.section}, {"path", s.path}, {"error", s.error}});
  json j = {{"format", "drctl-snapshot"}, {"version", 1},   {"time", time},        {"host", host},
            {"tags", tags},               {"sections", secs}, {"skipped", skips}, {"added_bytes", added_bytes}};
  if (parent) j["parent"] = parent->hex();
  // Paths may hold bytes that are not UTF-8: they are replaced (U+FFFD) in the manifest, which
  // only names them; trees keep the exact bytes.
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
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
                            std::nullopt, x.value("files", 0ULL), x.value("dirs", 0ULL), x.value("bytes", 0ULL)});
      if (x.contains("root")) s.sections.back().root = Id::from_hex(x["root"].get<std::string>());
    }
    for (const auto& x : j.at("skipped")) s.skipped.push_back({x.at("section"), x.at("path"), x.at("error")});
    if (j.contains("parent")) s.parent = Id::from_hex(j["parent"].get<std::string>());
    s.added_bytes = j.value("added_bytes", 0ULL);
    return s;
  } catch (const json::exception& e) {
    throw Failure("snapshot " + id.short_hex() + " is malformed: " + e.what());
  } catch (const std::runtime_error& e) {
    throw Failure("snapshot " + id.short_hex() + " is malformed: " + e.what());
  }
}

std::string precise_utc_now() {
  auto now = std::chrono::system_clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(ns % 1000000000));
  return buf;
}

}  // namespace drctl::store
