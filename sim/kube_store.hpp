// The simulated API server's object store (etcd's keys): objects by kind, namespace and name,
// and the revision every write advances. What the API server adds on a write lives here (uid,
// resourceVersion, generation, managedFields, a Service's ClusterIP, a Namespace's defaults, a
// CRD's status); what controllers do with the objects does not.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "sim/engine.hpp"
#include "sim/kube_setup.hpp"

namespace drctl::sim {

class KubeStore {
 public:
  /// `setup` gives the CA (seed of uids) and the service subnet (ClusterIPs); both outlive the store.
  KubeStore(Engine& engine, const KubeSetup& setup);

  /// Stores an object as the API server does: uid, creationTimestamp and generation kept from the
  /// object it replaces (generation bumped when the spec changed), a new resourceVersion, and
  /// `manager`'s managedFields entry (none when empty).
  void put(nlohmann::json obj, const std::string& manager = "");
  /// Deletes an object (a revision when it was there); a Namespace takes its objects with it.
  void erase(const KubeKey& key);
  /// Loads etcd's objects as they were (uids, resourceVersions, creation times); the revision
  /// continues after the highest resourceVersion among them.
  void load(const nlohmann::json& objects);
  /// Empties the store (the revision goes on).
  void clear() { objects_.clear(); }

  /// Every stored object by key. Controllers edit statuses in place and take a revision for it.
  const std::map<KubeKey, nlohmann::json>& objects() const { return objects_; }
  std::map<KubeKey, nlohmann::json>& objects() { return objects_; }
  /// metadata.uid of a stored object, "" if there is none.
  std::string uid_of(const std::string& kind, const std::string& ns, const std::string& name) const;
  /// etcd's revision now.
  std::uint64_t revision() const { return revision_; }
  /// Advances the revision for a write done in place and returns the new one.
  std::uint64_t next_revision() { return ++revision_; }

 private:
  std::string allocate_cluster_ip() const;

  Engine& engine_;
  const KubeSetup& setup_;
  std::map<KubeKey, nlohmann::json> objects_;
  std::uint64_t revision_ = 0;
};

}  // namespace drctl::sim
