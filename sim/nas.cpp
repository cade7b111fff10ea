#include "sim/nas.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <stdexcept>

#include "sim/ipv4_text.hpp"

namespace drctl::sim {

namespace {

const std::set<std::string> kAcceptedProperties = {"compression", "atime", "recordsize", "sync"};

std::string parent_of(const std::string& dataset) {
  auto slash = dataset.rfind('/');
  return slash == std::string::npos ? "" : dataset.substr(0, slash);
}

std::vector<std::string> components(const std::string& dataset) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    auto slash = dataset.find('/', pos);
    out.push_back(dataset.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
    if (slash == std::string::npos) return out;
    pos = slash + 1;
  }
}

/// `inner` is `outer` or below it, as paths or dataset names.
bool under(const std::string& inner, const std::string& outer) {
  return inner == outer || (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
                            inner[outer.size()] == '/');
}

std::string strip_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

/// Options as zfs's getopt reads them: flags may be combined ("-Hp"); `with_value` letters take
/// the rest of the word or the next one ("-oname" or "-o name").
struct Options {
  std::set<char> flags;
  std::vector<std::pair<char, std::string>> values;
  std::vector<std::string> operands;
  std::string error;
};

Options getopt(const std::vector<std::string>& args, const std::string& flags, const std::string& with_value) {
  Options o;
  std::size_t i = 0;
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    const std::string& word = args[i];
    for (std::size_t k = 1; k < word.size(); ++k) {
      char c = word[k];
      if (with_value.find(c) != std::string::npos) {
        if (k + 1 < word.size()) {
          o.values.emplace_back(c, word.substr(k + 1));
        } else if (i + 1 < args.size()) {
          o.values.emplace_back(c, args[++i]);
        } else {
          o.error = std::string("missing argument for '") + c + "' option";
          return o;
        }
        break;
      }
      if (flags.find(c) == std::string::npos) {
        o.error = std::string("invalid option '") + c + "'";
        return o;
      }
      o.flags.insert(c);
    }
  }
  o.operands.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return o;
}

NasStorage::Result usage(const std::string& why) { return {2, "", why + "\n"}; }
NasStorage::Result failure(const std::string& why) { return {1, "", why + "\n"}; }
NasStorage::Result not_modelled(const std::string& what) { return {127, "", "sim: " + what + " is not modelled\n"}; }

}  // namespace

std::optional<std::int64_t> parse_zfs_size(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  std::string number = text.substr(0, digits), suffix = text.substr(digits);
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1 || number == ".") return std::nullopt;
  static const std::string kUnits = "BKMGTPE";
  int shift = 0;
  if (!suffix.empty()) {
    auto unit = kUnits.find(static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0]))));
    if (unit == std::string::npos) return std::nullopt;
    std::string rest = suffix.substr(1);
    for (auto& c : rest) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!(rest.empty() || (unit > 0 && (rest == "B" || rest == "IB")))) return std::nullopt;
    shift = 10 * static_cast<int>(unit);
  }
  if (number.find('.') != std::string::npos && shift == 0) return std::nullopt;  // zfs: no fractional bytes
  const long double value = std::stold(number) * std::pow(2.0L, shift);
  if (value >= static_cast<long double>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return static_cast<std::int64_t>(value);
}

std::string format_zfs_size(std::int64_t bytes) {
  static const char kUnits[] = "BKMGTPE";
  std::uint64_t n = static_cast<std::uint64_t>(std::max<std::int64_t>(bytes, 0)), whole = n;
  int index = 0;
  while (whole >= 1024 && index < 6) {
    whole /= 1024;
    ++index;
  }
  const std::uint64_t unit = std::uint64_t(1) << (10 * index);
  if (n % unit == 0) return std::to_string(whole) + kUnits[index];
  char buf[32];
  for (int precision = 2; precision >= 0; --precision) {
    std::snprintf(buf, sizeof buf, "%.*f%c", precision, static_cast<double>(n) / static_cast<double>(unit), kUnits[index]);
    if (std::string(buf).size() <= 5) break;
  }
  return buf;
}

NasStorage::NasStorage(Engine& engine, std::string pool, std::int64_t pool_bytes)
    : engine_(engine), pool_(std::move(pool)), pool_bytes_(pool_bytes) {
  datasets_[pool_] = Dataset{};
}

NasStorage::NasStorage(Engine& engine, const PoolState& state)
    : engine_(engine), pool_(state.pool), pool_bytes_(state.pool_bytes) {
  datasets_[pool_] = Dataset{};
  for (const auto& d : state.datasets) {
    Dataset& ds = datasets_[d.name];
    ds.bytes = d.bytes;
    ds.quota = d.quota;
    for (const auto& [name, bytes] : d.snapshots) ds.snapshots.push_back(Snapshot{name, bytes});
  }
  for (const auto& s : state.shares) {
    shares_.push_back(Share{s.id, s.path, s.comment, s.networks, s.enabled});
    next_share_id_ = std::max(next_share_id_, s.id + 1);
  }
}

PoolState NasStorage::state() const {
  PoolState out{pool_, pool_bytes_, {}, {}};
  for (const auto& name : datasets()) {
    const Dataset& d = datasets_.at(name);
    PoolState::Dataset ds{name, d.bytes, d.quota, {}};
    for (const auto& s : d.snapshots) ds.snapshots.emplace_back(s.name, s.bytes);
    out.datasets.push_back(ds);
  }
  for (const auto& s : shares_) out.shares.push_back({s.id, s.path, s.comment, s.networks, s.enabled});
  return out;
}

// --- accounting ---

std::int64_t NasStorage::used(const std::string& dataset) const {
  std::int64_t total = 0;
  for (const auto& [name, ds] : datasets_)
    if (under(name, dataset)) total += ds.bytes;
  return total;
}

std::int64_t NasStorage::pool_used() const { return used(pool_); }

std::int64_t NasStorage::available(const std::string& dataset) const {
  std::int64_t avail = pool_bytes_ - pool_used();
  for (std::string d = dataset; !d.empty(); d = parent_of(d))
    if (const auto& q = datasets_.at(d).quota) avail = std::min(avail, *q - used(d));
  return std::max<std::int64_t>(avail, 0);
}

std::string NasStorage::dataset_of(const std::string& path_in) const {
  const std::string path = strip_trailing_slashes(path_in);
  std::string best;
  for (const auto& [name, ds] : datasets_)
    if (under(path, mountpoint(name)) && name.size() > best.size()) best = name;
  return best;
}

bool NasStorage::fits(const std::string& path, std::int64_t delta, std::string* why) const {
  const std::string dataset = dataset_of(path);
  if (dataset.empty() || delta <= 0) return true;
  const std::string wanted = format_zfs_size(delta) + " more wanted";
  for (std::string d = dataset; !d.empty(); d = parent_of(d)) {
    const auto& q = datasets_.at(d).quota;
    if (q && used(d) + delta > *q) {
      if (why)
        *why = "Disk quota exceeded (no space left under the quota of " + d + ": " + format_zfs_size(*q) + ", " +
               format_zfs_size(used(d)) + " used, " + wanted + ")";
      return false;
    }
  }
  if (pool_used() + delta > pool_bytes_) {
    if (why)
      *why = "No space left on device (pool " + pool_ + ": " + format_zfs_size(pool_bytes_) + ", " +
             format_zfs_size(pool_used()) + " used, " + wanted + ")";
    return false;
  }
  return true;
}

void NasStorage::commit(const std::string& path, std::int64_t delta) {
  const std::string dataset = dataset_of(path);
  if (dataset.empty()) return;
  auto& bytes = datasets_.at(dataset).bytes;
  bytes = std::max<std::int64_t>(bytes + delta, 0);
}

void NasStorage::fill(const std::string& dataset) {
  auto it = datasets_.find(dataset);
  if (it == datasets_.end()) throw std::invalid_argument("fill_disk: no dataset '" + dataset + "' on pool " + pool_);
  const std::int64_t added = available(dataset);
  it->second.bytes += added;
  engine_.log("nas", "filled", {{"dataset", dataset}, {"bytes", added}, {"used", used(dataset)}});
}

std::vector<std::string> NasStorage::datasets() const {
  std::vector<std::string> names;
  for (const auto& [name, ds] : datasets_) names.push_back(name);
  // Depth first, like zfs: tank/a, tank/a/x, then tank/a-b ('-' sorts before '/' as text).
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return components(a) < components(b);
  });
  return names;
}

std::vector<std::string> NasStorage::descendants(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& d : datasets())
    if (d != name && under(d, name)) out.push_back(d);
  return out;
}

std::string NasStorage::invalid_name(const std::string& name, bool snapshot) const {
  if (name.empty()) return "empty name";
  if (name.front() == '/') return "leading slash in name";
  if (name.back() == '/') return "trailing slash in name";
  const auto at = std::count(name.begin(), name.end(), '@');
  if (at > 1) return "multiple '@' and/or '#' delimiters in name";
  if (snapshot && at == 0) return "missing '@' delimiter in snapshot name";
  if (!snapshot && at == 1) return "snapshot delimiter '@' is not expected here";
  const std::string dataset = name.substr(0, name.find('@'));
  for (const auto& part : components(dataset))
    if (part.empty()) return "empty component or misplaced '@' or '#' delimiter in name";
  if (snapshot && name.back() == '@') return "empty component or misplaced '@' or '#' delimiter in name";
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string("_-.: /@").find(c) == std::string::npos)
      return std::string("invalid character '") + c + "' in name";
  return "";
}

// --- zfs ---

NasStorage::Result NasStorage::zfs(const std::vector<std::string>& argv) {
  if (argv.size() < 2) return usage("missing command");
  const std::string& sub = argv[1];
  const std::vector<std::string> args(argv.begin() + 2, argv.end());
  if (sub == "create") return create(args);
  if (sub == "set") return set(args);
  if (sub == "list") return list(args);
  if (sub == "destroy") return destroy(args);
  if (sub == "snapshot" || sub == "snap") return snapshot(args);
  if (sub == "rollback") return rollback(args);
  return not_modelled("zfs " + sub);
}

NasStorage::Result NasStorage::create(const std::vector<std::string>& args) {
  Options o = getopt(args, "p", "o");
  if (!o.error.empty()) return usage(o.error);
  if (o.operands.size() != 1) return usage(o.operands.empty() ? "missing filesystem argument" : "too many arguments");
  const std::string& name = o.operands[0];
  const std::string cannot = "cannot create '" + name + "': ";
  if (auto bad = invalid_name(name, false); !bad.empty()) return failure(cannot + bad);
  if (components(name)[0] != pool_) return failure(cannot + "no such pool '" + components(name)[0] + "'");
  if (name == pool_) return failure(cannot + "missing dataset name");
  std::optional<std::int64_t> quota;
  for (const auto& [letter, value] : o.values) {
    auto eq = value.find('=');
    if (eq == std::string::npos) return usage("missing '=' for property=value argument");
    const std::string prop = value.substr(0, eq), v = value.substr(eq + 1);
    if (prop == "quota") {
      auto size = v == "none" ? std::optional<std::int64_t>(0) : parse_zfs_size(v);
      if (!size) return failure(cannot + "bad numeric value '" + v + "'");
      if (*size > 0) quota = size;
    } else if (!kAcceptedProperties.contains(prop)) {
      return failure(cannot + "invalid property '" + prop + "'");
    }
  }
  if (datasets_.contains(name)) return o.flags.contains('p') ? Result{} : failure(cannot + "dataset already exists");
  if (!datasets_.contains(parent_of(name))) {
    if (!o.flags.contains('p')) return failure(cannot + "parent does not exist");
    for (std::string d = parent_of(name); !datasets_.contains(d); d = parent_of(d)) {
      datasets_[d] = Dataset{};
      engine_.log("nas", "dataset-created", {{"dataset", d}});
    }
  }
  datasets_[name] = Dataset{0, quota, {}};
  json details = {{"dataset", name}};
  if (quota) details["quota"] = *quota;
  engine_.log("nas", "dataset-created", details);
  return {};
}

NasStorage::Result NasStorage::set(const std::vector<std::string>& args) {
  if (args.empty() || args[0].find('=') == std::string::npos) return usage("missing '=' for property=value argument");
  if (args.size() < 2) return usage("missing dataset name(s)");
  const std::string prop = args[0].substr(0, args[0].find('=')), value = args[0].substr(args[0].find('=') + 1);
  Result r;  // zfs goes on with the other datasets and reports each failure
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& name = args[i];
    const std::string cannot = "cannot set property for '" + name + "': ";
    auto it = datasets_.find(name);
    if (it == datasets_.end()) {
      r.code = 1;
      r.err += "cannot open '" + name + "': dataset does not exist\n";
      continue;
    }
    if (kAcceptedProperties.contains(prop)) continue;
    if (prop != "quota") return failure(cannot + "invalid property '" + prop + "'");
    auto size = value == "none" ? std::optional<std::int64_t>(0) : parse_zfs_size(value);
    if (!size) return failure(cannot + "bad numeric value '" + value + "'");
    if (*size > 0 && *size < used(name)) {
      r.code = 1;
      r.err += cannot + "size is less than current used or reserved space\n";
      continue;
    }
    it->second.quota = *size > 0 ? size : std::nullopt;
    engine_.log("nas", "quota-set", {{"dataset", name}, {"quota", *size > 0 ? json(*size) : json("none")}});
  }
  return r;
}

NasStorage::Result NasStorage::list(const std::vector<std::string>& args) const {
  Options o = getopt(args, "Hpr", "ot");
  if (!o.error.empty()) return usage(o.error);
  std::vector<std::string> columns = {"name", "used", "avail", "refer", "mountpoint"};
  bool want_fs = true, want_snap = false;
  for (const auto& [letter, value] : o.values) {
    std::vector<std::string> items;
    for (std::size_t pos = 0;;) {
      auto comma = value.find(',', pos);
      items.push_back(value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (letter == 'o') {
      for (auto& c : items) {
        if (c == "available") c = "avail";
        if (c == "referenced") c = "refer";
        if (c != "name" && c != "used" && c != "avail" && c != "refer" && c != "quota" && c != "mountpoint")
          return usage("bad property list: invalid property '" + c + "'");
      }
      columns = items;
    } else {
      want_fs = want_snap = false;
      for (const auto& t : items) {
        if (t == "filesystem") want_fs = true;
        else if (t == "snapshot") want_snap = true;
        else if (t == "all") want_fs = want_snap = true;
        else return usage("invalid type '" + t + "'");
      }
    }
  }
  const bool exact = o.flags.contains('p');
  auto size = [&](std::int64_t n) { return exact ? std::to_string(n) : format_zfs_size(n); };

  std::vector<std::vector<std::string>> rows;
  auto add_dataset = [&](const std::string& name) {
    const Dataset& ds = datasets_.at(name);
    std::vector<std::string> row;
    for (const auto& c : columns) {
      if (c == "name") row.push_back(name);
      else if (c == "used") row.push_back(size(used(name)));
      else if (c == "avail") row.push_back(size(available(name)));
      else if (c == "refer") row.push_back(size(ds.bytes));
      else if (c == "quota") row.push_back(ds.quota ? size(*ds.quota) : exact ? "0" : "none");
      else row.push_back(mountpoint(name));
    }
    rows.push_back(row);
  };
  auto add_snapshot = [&](const std::string& dataset, const Snapshot& s) {
    std::vector<std::string> row;
    for (const auto& c : columns) {
      if (c == "name") row.push_back(dataset + "@" + s.name);
      else if (c == "used") row.push_back(size(0));
      else if (c == "refer") row.push_back(size(s.bytes));
      else row.push_back("-");
    }
    rows.push_back(row);
  };
  auto add = [&](const std::string& name) {
    if (want_fs) add_dataset(name);
    if (want_snap)
      for (const auto& s : datasets_.at(name).snapshots) add_snapshot(name, s);
  };

  std::vector<std::string> names = o.operands;
  const bool recurse = o.flags.contains('r') || names.empty();
  if (names.empty()) names.push_back(pool_);
  for (const auto& name : names) {
    if (auto at = name.find('@'); at != std::string::npos) {
      const auto ds = datasets_.find(name.substr(0, at));
      const std::string snap = name.substr(at + 1);
      const Snapshot* s = nullptr;
      if (ds != datasets_.end())
        for (const auto& candidate : ds->second.snapshots)
          if (candidate.name == snap) s = &candidate;
      if (!s) return failure("cannot open '" + name + "': dataset does not exist");
      add_snapshot(ds->first, *s);
      continue;
    }
    if (!datasets_.contains(name)) return failure("cannot open '" + name + "': dataset does not exist");
    add(name);
    if (recurse)
      for (const auto& d : descendants(name)) add(d);
  }

  std::string out;
  if (o.flags.contains('H')) {
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) out += (i ? "\t" : "") + row[i];
      out += "\n";
    }
    return {0, out, ""};
  }
  std::vector<std::string> header;
  for (auto c : columns) {
    std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) { return std::toupper(ch); });
    header.push_back(c);
  }
  rows.insert(rows.begin(), header);
  std::vector<std::size_t> width(columns.size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      const bool text = columns[i] == "name" || columns[i] == "mountpoint";  // numbers align right
      const std::string pad(width[i] - row[i].size(), ' ');
      if (i) line += "  ";
      line += text ? row[i] + (i + 1 < row.size() ? pad : "") : pad + row[i];
    }
    out += line + "\n";
  }
  return {0, out, ""};
}

NasStorage::Result NasStorage::destroy(const std::vector<std::string>& args) {
  Options o = getopt(args, "r", "");
  if (!o.error.empty()) return usage(o.error);
  if (o.operands.size() != 1) return usage(o.operands.empty() ? "missing dataset argument" : "too many arguments");
  const std::string& name = o.operands[0];
  const std::string cannot = "cannot destroy '" + name + "': ";
  if (auto at = name.find('@'); at != std::string::npos) {
    auto ds = datasets_.find(name.substr(0, at));
    if (ds == datasets_.end()) return failure("cannot open '" + name.substr(0, at) + "': dataset does not exist");
    auto& snaps = ds->second.snapshots;
    auto s = std::find_if(snaps.begin(), snaps.end(), [&](const Snapshot& x) { return x.name == name.substr(at + 1); });
    if (s == snaps.end()) return failure("could not find any snapshots to destroy; check snapshot names.");
    snaps.erase(s);
    engine_.log("nas", "snapshot-destroyed", {{"snapshot", name}});
    return {};
  }
  if (!datasets_.contains(name)) return failure("cannot open '" + name + "': dataset does not exist");
  if (name == pool_)
    return failure(cannot + "operation does not apply to pools\nuse 'zfs destroy -r " + pool_ +
                   "' to destroy all datasets in the pool\nuse 'zpool destroy " + pool_ + "' to destroy the pool itself");
  const std::vector<std::string> below = descendants(name);
  if (!o.flags.contains('r') && (!below.empty() || !datasets_.at(name).snapshots.empty())) {
    std::string listing;
    for (const auto& s : datasets_.at(name).snapshots) listing += "\n" + name + "@" + s.name;
    for (const auto& d : below) listing += "\n" + d;
    return failure(cannot + "filesystem has children\nuse '-r' to destroy the following datasets:" + listing);
  }
  for (const auto& d : below) datasets_.erase(d);
  datasets_.erase(name);
  engine_.log("nas", "dataset-destroyed", {{"dataset", name}, {"children", below.size()}});
  return {};
}

NasStorage::Result NasStorage::snapshot(const std::vector<std::string>& args) {
  if (args.empty()) return usage("missing snapshot argument");
  for (const auto& name : args) {
    const std::string cannot = "cannot create snapshot '" + name + "': ";
    if (auto bad = invalid_name(name, true); !bad.empty()) return failure(cannot + bad);
    const std::string dataset = name.substr(0, name.find('@')), snap = name.substr(name.find('@') + 1);
    auto ds = datasets_.find(dataset);
    if (ds == datasets_.end()) return failure("cannot open '" + dataset + "': dataset does not exist");
    for (const auto& s : ds->second.snapshots)
      if (s.name == snap) return failure(cannot + "dataset already exists");
    ds->second.snapshots.push_back({snap, ds->second.bytes});
    engine_.log("nas", "snapshot", {{"snapshot", name}, {"bytes", ds->second.bytes}});
  }
  return {};
}

NasStorage::Result NasStorage::rollback(const std::vector<std::string>& args) {
  Options o = getopt(args, "r", "");
  if (!o.error.empty()) return usage(o.error);
  if (o.operands.size() != 1) return usage(o.operands.empty() ? "missing dataset argument" : "too many arguments");
  const std::string& name = o.operands[0];
  if (name.find('@') == std::string::npos) return failure("'" + name + "' is not a snapshot");
  const std::string dataset = name.substr(0, name.find('@')), snap = name.substr(name.find('@') + 1);
  auto ds = datasets_.find(dataset);
  if (ds == datasets_.end()) return failure("cannot open '" + name + "': dataset does not exist");
  auto& snaps = ds->second.snapshots;
  auto s = std::find_if(snaps.begin(), snaps.end(), [&](const Snapshot& x) { return x.name == snap; });
  if (s == snaps.end()) return failure("cannot open '" + name + "': dataset does not exist");
  if (s + 1 != snaps.end() && !o.flags.contains('r')) {
    std::string later;
    for (auto l = s + 1; l != snaps.end(); ++l) later += "\n" + dataset + "@" + l->name;
    return failure("cannot rollback to '" + name + "': more recent snapshots or bookmarks exist\n"
                   "use '-r' to force deletion of the following snapshots and bookmarks:" + later);
  }
  snaps.erase(s + 1, snaps.end());
  ds->second.bytes = snaps.back().bytes;
  engine_.log("nas", "rollback", {{"snapshot", name}, {"bytes", ds->second.bytes}});
  return {};
}

// --- TrueNAS's middleware: NFS shares ---

NasStorage::Result NasStorage::midclt(const std::vector<std::string>& argv) {
  if (argv.size() < 3 || argv[1] != "call")
    return not_modelled("midclt" + (argv.size() > 1 ? " " + argv[1] : std::string()));
  const std::string& method = argv[2];
  const std::string arg = argv.size() > 3 ? argv[3] : "";
  if (method == "sharing.nfs.create") return nfs_create(arg);
  if (method == "sharing.nfs.query") return nfs_query(arg);
  return not_modelled("midclt method '" + method + "'");
}

json NasStorage::share_json(const Share& s) {
  return {{"id", s.id}, {"path", s.path}, {"comment", s.comment}, {"networks", s.networks}, {"enabled", s.enabled}};
}

NasStorage::Result NasStorage::nfs_create(const std::string& arg) {
  const json data = json::parse(arg, nullptr, false);
  if (data.is_discarded() || !data.is_object())
    return failure("[EINVAL] sharingnfs_create: the argument must be a JSON object, got '" + arg + "'");
  auto invalid = [](const std::string& field, const std::string& why) {
    return failure("[EINVAL] sharingnfs_create." + field + ": " + why);
  };
  Share share;
  for (auto it = data.begin(); it != data.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "path") {
      if (!v.is_string()) return invalid(key, "Not a string");
      share.path = strip_trailing_slashes(v.get<std::string>());
    } else if (key == "comment") {
      if (!v.is_string()) return invalid(key, "Not a string");
      share.comment = v.get<std::string>();
    } else if (key == "enabled") {
      if (!v.is_boolean()) return invalid(key, "Not a boolean");
      share.enabled = v.get<bool>();
    } else if (key == "networks") {
      if (!v.is_array()) return invalid(key, "Not a list");
      for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string field = key + "." + std::to_string(i);
        if (!v[i].is_string() || !parse_ipv4_cidr(v[i].get<std::string>()))
          return invalid(field, v[i].dump() + " is not an IPv4 network (like 10.0.20.0/24)");
        share.networks.push_back(v[i].get<std::string>());
      }
    } else {
      return invalid(key, "Field was not expected");
    }
  }
  if (share.path.empty()) return invalid("path", "attribute required");
  const std::string dataset = dataset_of(share.path);
  if (dataset.empty() || mountpoint(dataset) != share.path) return invalid("path", "This path does not exist.");
  share.id = next_share_id_++;
  shares_.push_back(share);
  engine_.log("nas", "nfs-share-created", {{"id", share.id}, {"path", share.path}, {"networks", share.networks}});
  return {0, share_json(share).dump() + "\n", ""};
}

NasStorage::Result NasStorage::nfs_query(const std::string& arg) const {
  const json filters = arg.empty() ? json::array() : json::parse(arg, nullptr, false);
  if (filters.is_discarded() || !filters.is_array())
    return failure("[EINVAL] sharing.nfs.query: the filters must be a JSON list, got '" + arg + "'");
  json out = json::array();
  for (const auto& s : shares_) {
    const json share = share_json(s);
    bool match = true;
    for (const auto& f : filters) {
      if (!f.is_array() || f.size() != 3 || !f[0].is_string() || f[1] != "=")
        return not_modelled("the query filter " + f.dump() + " (only [\"field\", \"=\", value])");
      match = match && share.contains(f[0].get<std::string>()) && share[f[0].get<std::string>()] == f[2];
    }
    if (match) out.push_back(share);
  }
  return {0, out.dump() + "\n", ""};
}

bool NasStorage::nfs_allows(const std::string& path_in, const std::string& client_ip, std::string* why) const {
  const std::string path = strip_trailing_slashes(path_in);
  auto refuse = [&](const std::string& cause) {
    if (why) *why = "access denied by server while mounting " + path + " (" + cause + ")";
    return false;
  };
  std::string deepest;
  for (const auto& s : shares_)
    if (s.enabled && under(path, s.path) && s.path.size() > deepest.size()) deepest = s.path;
  if (deepest.empty()) return refuse("no NFS share covers it");
  if (dataset_of(deepest).empty() || mountpoint(dataset_of(deepest)) != deepest)
    return refuse("the shared dataset at " + deepest + " no longer exists");
  std::uint32_t ip = 0;
  try {
    ip = ipv4_or_throw(client_ip);
  } catch (const std::invalid_argument& e) {
    return refuse(e.what());
  }
  std::string allowed;
  for (const auto& s : shares_) {
    if (!s.enabled || s.path != deepest) continue;
    if (s.networks.empty()) return true;
    for (const auto& n : s.networks) {
      if (parse_ipv4_cidr(n)->contains(ip)) return true;
      allowed += (allowed.empty() ? "" : ", ") + n;
    }
  }
  return refuse(client_ip + " is not in the share's networks " + allowed);
}

}  // namespace drctl::sim
