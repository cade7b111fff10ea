#include "store/stats.hpp"

#include <unordered_set>

#include "store/prune.hpp"

namespace drctl::store {

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
  std::unordered_set<Id> referenced;
  try {
    referenced = referenced_blobs(repo, snapshots);
  } catch (const SnapshotDamage& d) {
    throw Failure(std::string(d.what()) + " (run `drctl snapshot verify`)");
  }
  for (const Id& id : referenced) {
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
