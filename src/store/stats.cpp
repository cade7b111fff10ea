#include "store/stats.hpp"

#include <unordered_set>

#include "store/walk.hpp"

namespace drctl::store {

namespace {

/// Every blob the snapshots reference: their trees, their root trees and the data the trees list.
std::unordered_set<Id> referenced_blobs(const Repository& repo, const std::vector<Snapshot>& snapshots) {
  std::unordered_set<Id> blobs;
  TreeGraph graph([&](const Id& id) {
    blobs.insert(id);
    Tree tree = repo.load_tree(id);
    for (const Node& n : tree.nodes)
      for (const Part& p : n.content)
        if (p.blob) blobs.insert(*p.blob);
    return shape_of(tree);
  });
  for (const Snapshot& s : snapshots)
    for (const auto& sec : s.sections) {
      if (sec.root) blobs.insert(*sec.root);
      try {
        graph.explore(sec.tree);
      } catch (const TreeDamage& d) {
        throw Failure("snapshot " + s.id.short_hex() + ": " + d.in_section(sec.name) + " (run `drctl snapshot verify`)");
      }
    }
  return blobs;
}

}  // namespace

SnapshotStats snapshot_stats(const Repository& repo, const std::vector<Snapshot>& snapshots, bool raw_data) {
  SnapshotStats st;
  st.snapshots = snapshots.size();
  for (const Snapshot& s : snapshots)
    for (const auto& sec : s.sections) {
      st.files += sec.files;
      st.logical_bytes += sec.bytes;
    }
  for (const Id& pack : repo.list_packs()) {
    st.packs++;
    st.pack_bytes += repo.pack_size(pack).value_or(0);  // through the backend: here or over SFTP
  }
  if (!raw_data) return st;
  st.raw_data = true;
  for (const Id& id : referenced_blobs(repo, snapshots)) {
    const Index::Location* at = repo.index().find(id);
    if (!at) {
      st.missing++;
      continue;
    }
    st.blobs++;
    st.stored_bytes += at->entry.length;
    st.raw_bytes += at->entry.raw_length;
    if (at->entry.type == BlobType::Data) st.data_raw_bytes += at->entry.raw_length;
  }
  return st;
}

}  // namespace drctl::store
