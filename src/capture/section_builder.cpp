#include "capture/section_builder.hpp"

#include <algorithm>
#include <memory>

#include "base/error.hpp"
#include "store/restorer.hpp"

namespace drctl::capture {

using namespace drctl::store;

FileWriter::FileWriter(Repository& repo, Progress& progress)
    : repo_(repo), progress_(progress), chunker_(repo.config().chunker) {}

void FileWriter::write(const char* data, std::size_t size) {
  if (finished_) throw Failure("internal error: FileWriter::write after finish");
  if (size == 0) return;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data);
  pending_.insert(pending_.end(), bytes, bytes + size);
  hash_.update({bytes, size});
  size_ += size;
  progress_.bytes_read += size;
  progress_.bytes_seen += size;
  cut(false);
}

BlobPool::BlobPool(Repository& repo, Progress& progress, unsigned threads, std::size_t limit)
    : repo_(repo), progress_(progress), limit_(limit) {
  for (unsigned t = 0; t < std::max(1u, threads); ++t) threads_.emplace_back([this] { work(); });
}

BlobPool::~BlobPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

void BlobPool::rethrow() {
  if (failure_) std::rethrow_exception(failure_);
}

void BlobPool::add(const Id& id, Bytes raw) {
  std::unique_lock lock(mutex_);
  // One blob larger than the limit still goes: it waits for an empty queue instead.
  done_.wait(lock, [&] { return failure_ || queue_.empty() || queued_bytes_ + raw.size() <= limit_; });
  rethrow();
  queued_bytes_ += raw.size();
  queue_.push_back({id, std::move(raw)});
  lock.unlock();
  work_.notify_one();
}

void BlobPool::drain() {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return failure_ || (queue_.empty() && busy_ == 0); });
  rethrow();
}

void BlobPool::work() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    std::exception_ptr failed;
    try {
      progress_.bytes_added += repo_.add_blob(BlobType::Data, job.id, job.raw);
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    --busy_;
    queued_bytes_ -= job.raw.size();
    if (failed && !failure_) failure_ = failed;
    done_.notify_all();
  }
}

void store_chunks(Repository& repo, Chunker& chunker, Bytes& pending, std::vector<Part>& parts, Progress& progress,
                  bool end, BlobPool* pool) {
  const std::size_t keep = end ? 0 : chunker.params().max - 1;
  std::size_t start = 0;
  while (pending.size() - start > keep) {
    std::span<const std::uint8_t> rest(pending.data() + start, pending.size() - start);
    auto chunk = rest.first(chunker.cut(rest));
    Id id = repo.blob_id(chunk);
    if (!pool) progress.bytes_added += repo.add_blob(BlobType::Data, id, chunk);
    else if (!repo.has_blob(id)) pool->add(id, Bytes(chunk.begin(), chunk.end()));
    parts.push_back({id, chunk.size()});
    start += chunk.size();
  }
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(start));
}

void FileWriter::cut(bool end) { store_chunks(repo_, chunker_, pending_, parts_, progress_, end); }

Node FileWriter::finish(const std::string& name, std::uint32_t mode, std::int64_t mtime_ns, std::string* sha256_hex) {
  if (finished_) throw Failure("internal error: FileWriter::finish called twice");
  cut(true);
  finished_ = true;
  Id digest = hash_.finish();
  if (sha256_hex) *sha256_hex = digest.hex();
  progress_.files++;
  Node n;
  n.name = name;
  n.type = NodeType::File;
  n.mode = mode;
  n.mtime_ns = mtime_ns;
  n.size = size_;
  n.content = std::move(parts_);
  return n;
}

Node file_node(Repository& repo, Progress& progress, const std::string& name, const std::string& content,
               std::uint32_t mode, std::int64_t mtime_ns) {
  FileWriter writer(repo, progress);
  writer.write(content.data(), content.size());
  return writer.finish(name, mode, mtime_ns);
}

namespace {

void sort_nodes(std::vector<Node>& nodes) {
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) { return a.name < b.name; });
}

void check_file(const Node& n) {
  if (n.type != NodeType::File || n.name.empty() || n.name == "." || n.name == ".." ||
      n.name.find('/') != std::string::npos)
    throw Failure("internal error: \"" + n.name + "\" is not a regular file's name to add to a section");
}

}  // namespace

Section make_section(Repository& repo, const std::string& name, const std::string& source, std::vector<Node> files,
                     std::int64_t mtime_ns) {
  require_section_name(name);
  Section section;
  section.name = name;
  section.source = source;
  for (const Node& n : files) {
    check_file(n);
    ++section.files;
    section.bytes += n.size;
  }
  sort_nodes(files);
  for (std::size_t i = 1; i < files.size(); ++i)
    if (files[i].name == files[i - 1].name) throw Failure("internal error: two files named " + files[i].name);
  section.tree = repo.save_tree(Tree{std::move(files)});
  Node root;
  root.name = ".";
  root.type = NodeType::Dir;
  root.mode = 0700;
  root.mtime_ns = mtime_ns;
  root.subtree = section.tree;
  section.root = repo.save_tree(Tree{{root}});
  return section;
}

void add_to_section(Repository& repo, Section& section, std::vector<Node> files) {
  repo.flush();  // a section just captured may have its trees in an open pack, unreadable until written
  Tree tree = repo.load_tree(section.tree);
  for (Node& n : files) {
    check_file(n);
    auto same = std::find_if(tree.nodes.begin(), tree.nodes.end(), [&](const Node& o) { return o.name == n.name; });
    if (same != tree.nodes.end()) {
      if (same->type != NodeType::File)
        throw Failure("section " + section.name + " already has " + n.name + ", and it is not a regular file");
      section.bytes -= std::min(section.bytes, same->size);
      section.bytes += n.size;
      *same = std::move(n);
      continue;
    }
    ++section.files;
    section.bytes += n.size;
    tree.nodes.push_back(std::move(n));
  }
  sort_nodes(tree.nodes);
  section.tree = repo.save_tree(tree);
  if (section.root) {
    Tree root = repo.load_tree(*section.root);
    if (root.nodes.size() != 1 || root.nodes[0].type != NodeType::Dir)
      throw Failure("section root " + section.root->short_hex() + " of " + section.name + " is malformed");
    root.nodes[0].subtree = section.tree;
    section.root = repo.save_tree(root);
  }
}

std::function<std::string()> file_reader(const Repository& repo, const Node& file) {
  struct State {
    std::vector<Part> parts;
    std::size_t next = 0;
    std::uint64_t hole_left = 0;
    std::string name;
  };
  auto state = std::make_shared<State>();
  state->parts = file.content;
  state->name = file.name;
  return [&repo, state]() -> std::string {
    constexpr std::uint64_t kZeros = 1 << 20;
    if (state->hole_left > 0) {
      auto n = static_cast<std::size_t>(std::min(state->hole_left, kZeros));
      state->hole_left -= n;
      return std::string(n, '\0');
    }
    while (state->next < state->parts.size()) {
      const Part& p = state->parts[state->next++];
      if (p.size == 0) continue;
      if (!p.blob) {
        state->hole_left = p.size;
        auto n = static_cast<std::size_t>(std::min(state->hole_left, kZeros));
        state->hole_left -= n;
        return std::string(n, '\0');
      }
      Bytes data = repo.read_blob(*p.blob);
      if (data.size() != p.size)
        throw Failure("chunk " + p.blob->short_hex() + " of " + state->name + " has the wrong size");
      return std::string(data.begin(), data.end());
    }
    return "";
  };
}

std::optional<std::string> read_section_file(const Repository& repo, const Section& section, const std::string& path) {
  std::optional<Node> n = find_node(repo, section.tree, path);
  if (!n || n->type != NodeType::File) return std::nullopt;
  std::string out;
  auto read = file_reader(repo, *n);
  for (std::string piece = read(); !piece.empty(); piece = read()) out += piece;
  return out;
}

}  // namespace drctl::capture
