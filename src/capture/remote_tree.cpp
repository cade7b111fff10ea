#include "capture/remote_tree.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <unordered_map>

#include "base/error.hpp"
#include "store/bytes.hpp"

namespace drctl::capture {

using store::Node;
using store::NodeType;
using store::escape_bytes;

namespace {

/// Splits `s` at spaces (fields never hold one: they are numbers).
std::vector<std::string_view> fields_of(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t space = std::min(s.find(' ', pos), s.size());
    out.push_back(s.substr(pos, space - pos));
    pos = space + 1;
  }
  return out;
}

template <typename T>
bool number(std::string_view s, T& out, int base = 10) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

/// "1796237975.2802204300" (GNU %T@, ten digits) or "1796237975.280220430" (BSD %.9F) → ns.
bool time_ns(std::string_view s, std::int64_t& out) {
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  const std::size_t dot = s.find('.');
  std::int64_t sec = 0;
  if (!number(s.substr(0, dot), sec)) return false;
  std::int64_t frac = 0;
  if (dot != std::string_view::npos) {
    std::string digits(s.substr(dot + 1, 9));
    if (digits.find_first_not_of("0123456789") != std::string::npos) return false;
    digits.resize(9, '0');
    number(std::string_view(digits), frac);
  }
  out = (sec * 1000000000 + frac) * (negative ? -1 : 1);
  return true;
}

/// "./a/b" → "a/b", "." → "".
bool relative(std::string_view name, std::string& out) {
  if (name == ".") {
    out.clear();
    return true;
  }
  if (!name.starts_with("./") || name.size() == 2) return false;
  out.assign(name.substr(2));
  return true;
}

std::optional<NodeType> type_of_letter(char c) {
  switch (c) {
    case 'f': return NodeType::File;
    case 'd': return NodeType::Dir;
    case 'l': return NodeType::Symlink;
    case 'p': return NodeType::Fifo;
    case 'c': return NodeType::CharDev;
    case 'b': return NodeType::BlockDev;
    default: return std::nullopt;  // s (socket), D (door)
  }
}

/// The type bits of st_mode are the same on Linux and FreeBSD (POSIX leaves them open; both
/// take the historical values).
std::optional<NodeType> type_of_mode(std::uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return NodeType::File;
    case S_IFDIR: return NodeType::Dir;
    case S_IFLNK: return NodeType::Symlink;
    case S_IFIFO: return NodeType::Fifo;
    case S_IFCHR: return NodeType::CharDev;
    case S_IFBLK: return NodeType::BlockDev;
    default: return std::nullopt;
  }
}

[[noreturn]] void bad(const std::string& what, std::string_view record) {
  throw Failure("the host's listing does not parse (" + what + "): " + escape_bytes(record.substr(0, 200)));
}

/// Reads NUL-terminated fields from a listing.
struct NulReader {
  std::string_view in;
  std::size_t at = 0;
  bool done() const { return at >= in.size(); }
  std::optional<std::string_view> next() {
    const std::size_t end = in.find('\0', at);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view field = in.substr(at, end - at);
    at = end + 1;
    return field;
  }
};

}  // namespace

std::vector<RemoteEntry> parse_find_listing(std::string_view out) {
  std::vector<RemoteEntry> entries;
  NulReader in{out};
  while (!in.done()) {
    const auto meta = in.next(), name = in.next(), target = in.next();
    if (!meta || !name || !target) bad("a record is cut short", out.substr(in.at));
    const auto f = fields_of(*meta);
    RemoteEntry e;
    std::uint32_t perm = 0;
    if (f.size() != 10 || f[2].size() != 1 || !number(f[0], e.dev) || !number(f[1], e.inode) ||
        !number(f[3], perm, 8) || !number(f[4], e.nlink) || !number(f[5], e.uid) || !number(f[6], e.gid) ||
        !number(f[7], e.size) || !time_ns(f[8], e.mtime_ns) || !time_ns(f[9], e.ctime_ns))
      bad("fields", *meta);
    if (!relative(*name, e.path)) bad("a name not under ./", *name);
    e.type = type_of_letter(f[2][0]);
    e.mode = perm & 07777;
    e.target.assign(*target);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::vector<RemoteEntry> parse_stat_listing(std::string_view out) {
  std::vector<RemoteEntry> entries;
  std::size_t at = 0;
  while (at < out.size()) {
    // The batch's names, up to an empty one.
    std::vector<std::string_view> names;
    NulReader in{out, at};
    while (true) {
      const auto name = in.next();
      if (!name) bad("a batch of names is cut short", out.substr(at));
      if (name->empty()) break;
      names.push_back(*name);
    }
    at = in.at;
    // Then one line per name still there, in the same order, ending in the name itself.
    for (std::string_view name : names) {
      std::size_t fields_end = at;  // the space after the ninth field
      for (int i = 0; i < 9 && fields_end != std::string_view::npos; ++i) fields_end = out.find(' ', fields_end + 1);
      if (fields_end == std::string_view::npos) continue;
      const std::string_view meta = out.substr(at, fields_end - at);
      const std::string_view rest = out.substr(fields_end + 1);
      if (!rest.starts_with(name) || rest.size() <= name.size() || rest[name.size()] != '\n') continue;  // gone
      const auto f = fields_of(meta);
      RemoteEntry e;
      std::uint32_t mode = 0;
      if (f.size() != 9 || !number(f[0], e.dev) || !number(f[1], e.inode) || !number(f[2], mode, 8) ||
          !number(f[3], e.nlink) || !number(f[4], e.uid) || !number(f[5], e.gid) || !number(f[6], e.size) ||
          !time_ns(f[7], e.mtime_ns) || !time_ns(f[8], e.ctime_ns))
        bad("fields", meta);
      if (!relative(name, e.path)) bad("a name not under ./", name);
      e.type = type_of_mode(mode);
      e.mode = mode & 07777;
      entries.push_back(std::move(e));
      at = fields_end + 1 + name.size() + 1;
    }
  }
  return entries;
}

std::vector<RemoteEntry> parse_listing(world::HostSystem::Lister lister, std::string_view out) {
  switch (lister) {
    case world::HostSystem::Lister::find: return parse_find_listing(out);
    case world::HostSystem::Lister::bsd_stat: return parse_stat_listing(out);
    case world::HostSystem::Lister::none: break;
  }
  throw Failure("the host has no way to list a tree");
}

std::string tar_name_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    out += n;
    out += '\0';
  }
  return out;
}

namespace {

/// Whether `a` comes before `b` in a depth-first walk of trees sorted by name bytes.
bool tree_order_less(std::string_view a, std::string_view b) {
  while (true) {
    const std::size_t sa = a.find('/'), sb = b.find('/');
    const std::string_view ha = a.substr(0, sa), hb = b.substr(0, sb);
    if (ha != hb) return ha < hb;
    if (sa == std::string_view::npos || sb == std::string_view::npos) return sa == std::string_view::npos && sb != sa;
    a.remove_prefix(sa + 1);
    b.remove_prefix(sb + 1);
  }
}

/// The parent snapshot's trees, read as the comparison needs them.
class ParentTrees {
 public:
  ParentTrees(const store::Repository& repo, const std::optional<store::Id>& top,
              const std::function<void(const std::string&)>& warn)
      : repo_(repo), warn_(warn) {
    if (top) load("", *top);
  }

  /// Hands over every tree read so far, by directory path.
  std::unordered_map<std::string, std::pair<store::Id, store::Tree>> take() {
    std::unordered_map<std::string, std::pair<store::Id, store::Tree>> out;
    for (auto& [dir, tree] : trees_)
      if (tree) out.emplace(dir, std::move(*tree));
    trees_.clear();
    return out;
  }

  /// The parent's node at `path` ("a/b"); nullptr when it had none (or its tree is unreadable).
  const Node* find(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
    const store::Tree* tree = tree_of(dir);
    return tree ? tree->find(slash == std::string::npos ? path : path.substr(slash + 1)) : nullptr;
  }

 private:
  const store::Tree* tree_of(const std::string& dir) {
    if (auto it = trees_.find(dir); it != trees_.end()) return it->second ? &it->second->second : nullptr;
    const Node* node = dir.empty() ? nullptr : find(dir);
    if (!node || node->type != NodeType::Dir || !node->subtree) {
      trees_[dir] = std::nullopt;
      return nullptr;
    }
    return load(dir, *node->subtree);
  }

  const store::Tree* load(const std::string& dir, const store::Id& id) {
    std::optional<std::pair<store::Id, store::Tree>>& slot = trees_[dir];
    try {
      store::Tree tree = repo_.load_tree(id);
      if (tree.is_section_root()) throw Failure("a section root stands for a directory listing");
      slot.emplace(id, std::move(tree));
    } catch (const Failure& e) {
      warn_("cannot read the earlier snapshot's tree for " + (dir.empty() ? std::string(".") : escape_bytes(dir)) +
            " (" + e.what() + "); reading it in full");
    }
    return slot ? &slot->second : nullptr;
  }

  const store::Repository& repo_;
  const std::function<void(const std::string&)>& warn_;
  std::unordered_map<std::string, std::optional<std::pair<store::Id, store::Tree>>> trees_;
};

/// What the listing says has not changed since the parent's node (a file's size too; tar
/// records no size for other kinds).
bool same_as(const RemoteEntry& e, const Node& p) {
  return e.type == p.type && e.mtime_ns == p.mtime_ns && e.ctime_ns == p.ctime_ns && e.inode == p.inode &&
         (p.type != NodeType::File || e.size == p.size);
}

/// A file with several names is kept when the parent recorded exactly this: the first name in
/// tree order a File, the others Hardlink nodes naming it, all unchanged.
bool group_unchanged(const std::vector<const RemoteEntry*>& names, ParentTrees& parent) {
  const std::string& first = names.front()->path;
  for (const RemoteEntry* e : names) {
    const Node* p = parent.find(e->path);
    if (!p) return false;
    const bool is_first = e->path == first;
    const NodeType want = is_first || names.size() == 1 ? NodeType::File : NodeType::Hardlink;
    if (p->type != want || p->mtime_ns != e->mtime_ns || p->ctime_ns != e->ctime_ns || p->inode != e->inode ||
        (want == NodeType::File && p->size != e->size))  // trees keep no size for a Hardlink
      return false;
    if (want == NodeType::Hardlink && p->target != first) return false;
  }
  return true;
}

}  // namespace

IncrementalPlan plan_incremental(const store::Repository& repo, const std::vector<RemoteEntry>& listing,
                                 const std::optional<store::Id>& parent,
                                 const std::function<void(const std::string&)>& warn) {
  IncrementalPlan plan;
  ParentTrees earlier(repo, parent, warn);
  plan.fetch.emplace_back(".");  // the root's own metadata: one header
  auto fetch = [&](const RemoteEntry& e) {
    plan.fetch.push_back("./" + e.path);
    plan.base.listed[e.path] = {e.ctime_ns, e.mtime_ns, e.inode, e.size};
  };
  auto keep = [&](const RemoteEntry& e, const Node& p) {
    Node n = p;
    if (n.type == NodeType::Dir) n.subtree.reset();  // made again from what is under it
    if (n.type == NodeType::Hardlink) n.size = e.size;  // trees keep none; the section's byte count wants it
    plan.base.kept.emplace_back(e.path, std::move(n));
    if (p.type == NodeType::File) {
      ++plan.kept_files;
      plan.kept_bytes += p.size;
    }
  };
  // Files with several names, by (device, inode), in tree order once sorted.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<const RemoteEntry*>> groups;
  for (const RemoteEntry& e : listing) {
    if (e.path.empty()) {
      plan.base.listed[""] = {e.ctime_ns, e.mtime_ns, e.inode, e.size};
      continue;
    }
    if (!e.type) continue;  // sockets: recreated by their servers (tar's stream would be skipped too)
    if (e.type == NodeType::File && e.nlink > 1) {
      groups[{e.dev, e.inode}].push_back(&e);
      continue;
    }
    const Node* p = parent ? earlier.find(e.path) : nullptr;
    if (p && same_as(e, *p)) keep(e, *p);
    else fetch(e);
  }
  for (auto& [id, names] : groups) {
    std::sort(names.begin(), names.end(),
              [](const RemoteEntry* a, const RemoteEntry* b) { return tree_order_less(a->path, b->path); });
    if (parent && group_unchanged(names, earlier)) {
      for (const RemoteEntry* e : names) keep(*e, *earlier.find(e->path));
    } else {
      for (const RemoteEntry* e : names) fetch(*e);  // one changed name brings the group: tar links them
    }
  }
  plan.base.earlier = earlier.take();
  return plan;
}

}  // namespace drctl::capture
