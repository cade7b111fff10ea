// Test support: hostile snapshots written by hand from src/store/FORMAT.md — CBOR trees encoded
// here (not by drctl's encoder), SHA-256 ids from OpenSSL, exports as tar+zstd via libarchive —
// so the tests of drctl's readers do not share the code under test. A snapshot can be written as
// an export file or planted straight into a repository (bypassing import).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace support::hostile {

namespace fs = std::filesystem;

// SHA-256 of `data`: 32 raw bytes, and as 64 lowercase hex digits.
std::string sha256_raw(std::string_view data);
std::string hex(std::string_view raw);

// A CBOR writer (RFC 8949, definite lengths) for the subset trees use.
class Cbor {
 public:
  Cbor& map(std::uint64_t pairs) { return head(5, pairs); }
  Cbor& array(std::uint64_t items) { return head(4, items); }
  Cbor& text(std::string_view s) { return head(3, s.size()).raw(s); }
  Cbor& bytes(std::string_view s) { return head(2, s.size()).raw(s); }
  Cbor& uint(std::uint64_t v) { return head(0, v); }
  Cbor& raw(std::string_view encoded) {
    out_.append(encoded);
    return *this;
  }
  Cbor& head(int major, std::uint64_t value);
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// One directory entry as FORMAT.md describes it; written in the order given, never sorted.
struct Node {
  std::string name;
  std::string type = "file";  // file, dir, symlink, hardlink, fifo, chardev, blockdev
  std::uint32_t mode = 0644;
  std::string target;  // symlink target, or a hard link's first name
  std::string sub;     // a directory's tree: 32 raw bytes
  std::vector<std::pair<std::string, std::uint64_t>> parts;  // content: raw chunk id ("" = hole), size
  std::uint64_t size = 0;
  std::string extra_key;    // one more key, whose value is extra_value (raw CBOR)
  std::string extra_value;
};

Node file(std::string name, std::string content_id = "", std::uint64_t size = 0);
Node dir(std::string name, std::string sub, std::uint32_t mode = 0755);
Node symlink(std::string name, std::string target);
Node hardlink(std::string name, std::string target);
Node fifo(std::string name);

// {"v": 1, "nodes": [...]}.
std::string encode_tree(const std::vector<Node>& nodes);

struct Section {
  std::string name;
  std::string tree;  // raw id of the top tree
  std::string root;  // raw id of the root tree ("" = none)
  std::uint64_t files = 0, dirs = 0;
};

// A snapshot written by hand: its blobs and its manifest.
struct Snapshot {
  std::map<std::string, std::string> trees;  // raw id → CBOR bytes
  std::map<std::string, std::string> data;   // raw id → bytes
  std::string manifest;

  // Adds a tree (CBOR as given) or a chunk; returns its raw id.
  std::string add_tree_bytes(const std::string& cbor);
  std::string add_tree(const std::vector<Node>& nodes) { return add_tree_bytes(encode_tree(nodes)); }
  std::string add_chunk(const std::string& content);
  // The root tree of a section: one directory "." holding `top`.
  std::string add_root(const std::string& top);
  // A manifest (JSON) with these sections; `skipped` adds one skipped entry per (section, path).
  void set_manifest(const std::vector<Section>& sections,
                    const std::vector<std::pair<std::string, std::string>>& skipped = {});
  // The snapshot's id (hex): the manifest's SHA-256.
  std::string id() const;
};

// A snapshot of one section `name` whose top tree holds `nodes` (with a root tree), counted as
// `files` + `dirs` in the manifest.
Snapshot one_section(const std::vector<Node>& nodes, const std::string& name = "nas/h", std::uint64_t files = 1,
                     std::uint64_t dirs = 0);

// drctl-export/snapshot.json, tree/<hex>, data/<hex> as a pax tar, zstd-compressed (libarchive).
void write_export(const fs::path& file, const Snapshot& snapshot);

// A .tar.zst holding one tar header for `name` that declares `declared` bytes, followed by
// `data` only (the tar is written by hand: GNU base-256 size field).
void write_export_declaring(const fs::path& file, const std::string& name, std::uint64_t declared,
                            const std::string& data);

// Writes the snapshot's blobs into the repository at `repo` through the Repository API (as a
// compromised writer could) and its manifest as a file, bypassing import and every check.
void plant(const fs::path& repo, const Snapshot& snapshot);

}  // namespace support::hostile
