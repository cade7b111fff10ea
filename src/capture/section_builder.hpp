// Sections drctl writes itself rather than reads from a directory or a tar stream: a file whose
// bytes arrive piece by piece (an etcd snapshot streamed from a host), small generated files
// (metadata JSON), and adding such files to a section captured otherwise (the etcd snapshot
// beside the Kubernetes objects in `kube`). And the way back: a file's content read from the
// repository piece by piece.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "capture/nas.hpp"
#include "store/bytes.hpp"
#include "store/chunker.hpp"
#include "store/repository.hpp"

namespace drctl::capture {

/// A regular file stored as its bytes arrive: cut by the repository's chunker and added as
/// blobs as soon as a cut is certain, so at most one chunker window (ChunkerParams::max, 4 MiB
/// by default) plus the piece being written is held in memory, whatever the file's size.
/// The caller holds the repository's lock.
/// Data blobs compressed and written by worker threads while the caller reads on: a capture
/// that reads one stream (a tar stream over SSH) would otherwise compress on the thread that
/// also receives and parses. The caller computes each blob's id (it goes into the tree at once);
/// the pool stores the bytes. At most `limit` bytes wait, so memory stays bounded: add() blocks
/// while they do. The caller holds the repository's lock until drain() returned.
class BlobPool {
 public:
  BlobPool(store::Repository& repo, Progress& progress, unsigned threads, std::size_t limit = 64u << 20);
  /// Drops what still waits (after a failure) and joins the workers.
  ~BlobPool();
  BlobPool(const BlobPool&) = delete;
  BlobPool& operator=(const BlobPool&) = delete;
  /// Queues a data blob; rethrows a worker's failure.
  void add(const store::Id& id, store::Bytes raw);
  /// Waits until every queued blob is stored; rethrows the first failure.
  void drain();

 private:
  struct Job {
    store::Id id;
    store::Bytes raw;
  };
  void work();
  void rethrow();

  store::Repository& repo_;
  Progress& progress_;
  const std::size_t limit_;
  std::mutex mutex_;
  // Two conditions, so that a blob queued wakes one worker and a blob stored wakes only the
  // caller: one capture queues tens of thousands of small files' blobs.
  std::condition_variable work_;  // a job is queued, or the pool stops (workers wait)
  std::condition_variable done_;  // a job finished or failed (add and drain wait)
  std::deque<Job> queue_;
  std::size_t queued_bytes_ = 0, busy_ = 0;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> threads_;
};

/// Stores the chunks of `pending` as data blobs, appending them to `parts` and taking them off
/// `pending`: all of it at the `end` of a run of data, else only while a full window is left
/// (the chunker needs `max` bytes to choose a cut). Counts the bytes added in `progress`.
/// With a `pool`, the blobs are stored by its workers.
void store_chunks(store::Repository& repo, store::Chunker& chunker, store::Bytes& pending,
                  std::vector<store::Part>& parts, Progress& progress, bool end, BlobPool* pool = nullptr);

class FileWriter {
 public:
  /// A writer storing into `repo`; `progress` counts the bytes read and added.
  FileWriter(store::Repository& repo, Progress& progress);

  /// Appends `size` bytes to the file.
  void write(const char* data, std::size_t size);

  /// Bytes written so far.
  std::uint64_t size() const { return size_; }

  /// Stores the rest and returns the file's node (uid/gid 0); SHA-256 of the content in
  /// `sha256_hex` when given. Call once; nothing may be written after.
  store::Node finish(const std::string& name, std::uint32_t mode, std::int64_t mtime_ns,
                     std::string* sha256_hex = nullptr);

 private:
  void cut(bool end);

  store::Repository& repo_;
  Progress& progress_;
  store::Chunker chunker_;
  store::Bytes pending_;
  std::vector<store::Part> parts_;
  store::Sha256 hash_;
  std::uint64_t size_ = 0;
  bool finished_ = false;
};

/// A regular file from bytes in memory (small generated files such as metadata JSON).
store::Node file_node(store::Repository& repo, Progress& progress, const std::string& name, const std::string& content,
                      std::uint32_t mode, std::int64_t mtime_ns);

/// A new section `name` (from `source`) whose top directory holds `files`; the root directory
/// gets mode 0700 and `mtime_ns`.
store::Section make_section(store::Repository& repo, const std::string& name, const std::string& source,
                            std::vector<store::Node> files, std::int64_t mtime_ns);

/// Adds regular files to the top directory of `section`, replacing files of the same name, and
/// saves the changed trees; the section's counts follow. Flushes the repository first (the
/// section's trees must be readable). Throws Failure when a name is taken by something that is
/// not a regular file.
void add_to_section(store::Repository& repo, store::Section& section, std::vector<store::Node> files);

/// A regular file's content, piece by piece (one chunk per call, holes as zeros), "" at the
/// end: what Host::run_stream pulls stdin from. Reads flushed blobs only; throws Failure when a
/// blob is missing or damaged.
std::function<std::string()> file_reader(const store::Repository& repo, const store::Node& file);

/// A regular file at `path` in a section read whole (small files); nullopt when there is none.
std::optional<std::string> read_section_file(const store::Repository& repo, const store::Section& section,
                                             const std::string& path);

}  // namespace drctl::capture
