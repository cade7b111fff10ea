#include "base/yaml_json.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace drctl {

using json = nlohmann::json;

namespace {

std::string where(const std::string& file, int line, int col) {
  std::string out = file.empty() ? "YAML" : file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(col);
  return out;
}

[[noreturn]] void fail_at(const std::string& file, const YAML::Mark& mark, const std::string& message) {
  if (mark.is_null()) throw YamlError(file, 0, 0, message);
  throw YamlError(file, mark.line + 1, mark.column + 1, message);
}

[[noreturn]] void fail_syntax(const std::string& file, const YAML::Mark& mark, const std::string& message) {
  if (mark.is_null()) throw YamlSyntaxError(file, 0, 0, message);
  throw YamlSyntaxError(file, mark.line + 1, mark.column + 1, message);
}

std::string past_limit(std::size_t max_nodes) {
  return " expands the document past " + std::to_string(max_nodes) +
         " nodes, the limit (each use of an alias counts every node it repeats)";
}

std::string too_deep() {
  return " nests the document more than " + std::to_string(kMaxYamlDepth) + " levels deep, the limit";
}

// Counts the nodes of a document as its events arrive, each alias as the size (and depth) of
// the node it names, and throws at the first node or alias past the limits: where a document
// is refused, before anything is built or expanded.
class ExpansionCounter : public YAML::EventHandler {
 public:
  ExpansionCounter(const std::string& text, const std::string& file, std::size_t max_nodes)
      : text_(text), file_(file), max_(max_nodes) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string&) override {
    leaf(mark, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapEnd() override { close(); }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (anchor >= named_.size() || !named_[anchor].done)
      fail_at(file_, mark, "alias " + alias_name(mark) + " refers to a node it is inside (a cycle)");
    const Named& n = named_[anchor];
    if (n.size > max_ - total_) fail_at(file_, mark, "alias " + alias_name(mark) + past_limit(max_));
    int deepest = level() + n.depth - 1;
    if (deepest > kMaxYamlDepth) fail_at(file_, mark, "alias " + alias_name(mark) + too_deep());
    total_ += n.size;
    reach(deepest);
  }

 private:
  struct Named {  // what an anchor names, once its node is complete
    std::size_t size = 0;
    int depth = 0;
    bool done = false;
  };
  struct Open {  // a map or list whose end has not come yet
    YAML::anchor_t anchor;
    std::size_t total_before;
    int level, deepest;
  };

  int level() const { return static_cast<int>(open_.size()) + 1; }  // of the next node: 1 for the root
  void reach(int deepest) {
    if (!open_.empty()) open_.back().deepest = std::max(open_.back().deepest, deepest);
  }
  void count(const YAML::Mark& mark) {
    if (total_ >= max_) fail_at(file_, mark, "the document has more than " + std::to_string(max_) + " nodes, the limit");
    ++total_;
  }
  void name(YAML::anchor_t anchor, const Named& n) {
    if (anchor == YAML::NullAnchor) return;
    if (named_.size() <= anchor) named_.resize(anchor + 1);
    named_[anchor] = n;
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    count(mark);
    name(anchor, {1, 1, true});
    reach(level());
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    count(mark);
    name(anchor, {});
    open_.push_back({anchor, total_ - 1, level(), level()});
  }
  void close() {
    Open o = open_.back();
    open_.pop_back();
    name(o.anchor, {total_ - o.total_before, o.deepest - o.level + 1, true});
    reach(o.deepest);
  }
  // "'*name'" as written at the alias; the mark is where its '*' is.
  std::string alias_name(const YAML::Mark& mark) const {
    auto at = static_cast<std::size_t>(mark.pos);
    if (mark.pos < 0 || at >= text_.size() || text_[at] != '*') return "here";
    std::size_t end = text_.find_first_of(" \t\r\n,[]{}", at + 1);
    return "'" + text_.substr(at, (end == std::string::npos ? text_.size() : end) - at) + "'";
  }

  const std::string& text_;
  const std::string& file_;
  std::size_t max_;
  std::size_t total_ = 0;
  std::vector<Named> named_;  // by anchor
  std::vector<Open> open_;
};

// Reads the first document of `text` as events, counting: throws where it crosses a limit.
void count_expansion(const std::string& text, const std::string& file, std::size_t max_nodes) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  ExpansionCounter counter(text, file, max_nodes);
  parser.HandleNextDocument(counter);
}

// Whether `text` might hold more than `max_nodes` nodes as written. Every node but the root comes
// after an indicator (- : ? , [ ] { }) or a line break, and each brings at most two (a block map
// and its first key, a key and its empty value): counting them bounds the nodes from above.
bool may_hold_more_than(const std::string& text, std::size_t max_nodes) {
  std::size_t marks = 0;
  for (char c : text)
    switch (c) {
      case '-': case ':': case '?': case ',': case '[': case ']': case '{': case '}': case '\n': ++marks; break;
      default: break;
    }
  return 3 * marks + 2 > max_nodes;
}

// Whether a node graph yaml-cpp built stays within the limits with its aliases expanded (and has
// no cycle). Each distinct node is visited once: aliases share the node they name, told apart by
// the address of its data.
class GraphLimits {
 public:
  explicit GraphLimits(std::size_t max_nodes) : max_(max_nodes) {}

  bool within(const YAML::Node& root) { return measure(root, 1).size <= max_; }

 private:
  struct Measure {
    std::size_t size = 0;  // max_ + 1: over a limit, or a cycle
    int depth = 0;
  };

  Measure measure(const YAML::Node& node, int level) {
    const Measure over{max_ + 1, 0};
    if (level > kMaxYamlDepth) return over;
    if (!node.IsMap() && !node.IsSequence()) return {1, 1};
    const void* id = &node.Scalar();
    if (auto it = seen_.find(id); it != seen_.end()) {
      if (it->second.size == 0 || level + it->second.depth - 1 > kMaxYamlDepth) return over;  // 0: still inside it
      return it->second;
    }
    seen_[id] = Measure{};
    Measure m{1, 1};
    auto add = [&](const YAML::Node& child) {
      Measure c = measure(child, level + 1);
      m.size = std::min(m.size + c.size, max_ + 1);
      m.depth = std::max(m.depth, c.depth + 1);
    };
    if (node.IsMap())
      for (auto it = node.begin(); it != node.end() && m.size <= max_; ++it) {
        add(it->first);
        add(it->second);
      }
    else
      for (auto it = node.begin(); it != node.end() && m.size <= max_; ++it) add(*it);
    if (m.size > max_) return over;
    return seen_[id] = m;
  }

  std::size_t max_;
  std::unordered_map<const void*, Measure> seen_;
};

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() != "?") return s;
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::string digits = !s.empty() && s[0] == '-' ? s.substr(1) : s;
  bool integer = all_digits(digits) && digits.size() <= 18 && (digits == "0" || digits[0] != '0');
  if (integer) return std::stoll(s);
  return s;
}

// yaml_to_json with what is left of the node budget, shared by the whole walk.
json convert(const YAML::Node& node, std::size_t& budget, int depth) {
  if (budget == 0) fail_at("", node.Mark(), "more than the limit of nodes to convert (aliases expanded)");
  if (depth > kMaxYamlDepth) fail_at("", node.Mark(), "nested more than " + std::to_string(kMaxYamlDepth) + " levels deep");
  --budget;
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (auto it = node.begin(); it != node.end(); ++it) out[it->first.Scalar()] = convert(it->second, budget, depth + 1);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(convert(item, budget, depth + 1));
      return out;
    }
    case YAML::NodeType::Scalar: return scalar_to_json(node);
    default: return nullptr;
  }
}

}  // namespace

YamlError::YamlError(const std::string& file, int line, int col, const std::string& message)
    : InputError(where(file, line, col) + ": " + message), file(file), line(line), col(col), message(message) {}

YAML::Node parse_yaml(const std::string& text, const std::string& file, std::size_t max_nodes) {
  try {
    // A text that may hold too many nodes is counted before yaml-cpp builds it; any other is
    // built (aliases share what they name, so building is linear) and its graph measured, and
    // counted only to find the alias to blame.
    if (may_hold_more_than(text, max_nodes)) count_expansion(text, file, max_nodes);
    YAML::Node root = YAML::Load(text);
    if (!GraphLimits(max_nodes).within(root)) {
      count_expansion(text, file, max_nodes);
      throw YamlError(file, 0, 0, "the document" + past_limit(max_nodes));  // where the count did not say
    }
    return root;
  } catch (const YAML::DeepRecursion& e) {  // its own message is "bad file"
    fail_syntax(file, e.mark, "maps and lists nested too deeply to parse");
  } catch (const YAML::ParserException& e) {
    fail_syntax(file, e.mark, e.msg);
  }
}

std::string read_yaml_file(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) throw YamlError(file, 0, 0, std::string("cannot read: ") + std::strerror(errno));
  if (S_ISREG(st.st_mode) && static_cast<std::uintmax_t>(st.st_size) > kMaxYamlFileBytes)
    throw YamlError(file, 0, 0, "is " + std::to_string(st.st_size) + " bytes, more than the " +
                                    std::to_string(kMaxYamlFileBytes >> 20) + " MiB drctl reads from a YAML file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw YamlError(file, 0, 0, std::string("cannot read: ") + std::strerror(errno));
  // A pipe or device has no size to check first: read a little past the limit at most.
  std::string text;
  char buffer[1 << 16];
  while (text.size() <= kMaxYamlFileBytes && in.read(buffer, sizeof buffer).gcount() > 0)
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
  if (in.bad()) throw YamlError(file, 0, 0, std::string("cannot read: ") + std::strerror(errno));
  if (text.size() > kMaxYamlFileBytes)
    throw YamlError(file, 0, 0, "is more than the " + std::to_string(kMaxYamlFileBytes >> 20) +
                                    " MiB drctl reads from a YAML file");
  return text;
}

YAML::Node load_yaml_file(const std::string& file, std::size_t max_nodes) {
  return parse_yaml(read_yaml_file(file), file, max_nodes);
}

json yaml_to_json(const YAML::Node& node, std::size_t max_nodes) {
  std::size_t budget = max_nodes;
  return convert(node, budget, 0);
}

}  // namespace drctl
