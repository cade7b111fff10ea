#include <algorithm>

#include "actions/action.hpp"
#include "actions/appliance.hpp"
#include "actions/backup.hpp"
#include "actions/dhcp.hpp"
#include "actions/etcd.hpp"
#include "actions/generic.hpp"
#include "actions/kube.hpp"
#include "actions/nas.hpp"
#include "actions/pxe.hpp"
#include "actions/verify.hpp"
#include "actions/vm.hpp"

namespace drctl::actions {

const char* type_name(InputType t) {
  switch (t) {
    case InputType::String: return "string";
    case InputType::Integer: return "integer";
    case InputType::Boolean: return "boolean";
    case InputType::Duration: return "duration";
    case InputType::List: return "list";
    case InputType::Map: return "map";
    case InputType::Any: return "any";
  }
  return "?";
}

const InputSpec* ActionSpec::input(const std::string& n) const {
  for (const auto& i : inputs)
    if (i.name == n) return &i;
  return nullptr;
}

void Registry::add(std::unique_ptr<Action> action) { actions_.push_back(std::move(action)); }

const Action* Registry::find(const std::string& name) const {
  for (const auto& a : actions_)
    if (a->spec().name == name) return a.get();
  return nullptr;
}

std::vector<const Action*> Registry::all() const {
  std::vector<const Action*> out;
  for (const auto& a : actions_) out.push_back(a.get());
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->spec().name < b->spec().name; });
  return out;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto* a : all()) out.push_back(a->spec().name);
  return out;
}

const Registry& Registry::builtin() {
  static const Registry registry = [] {
    Registry r;
    add_generic_actions(r);
    add_vm_actions(r);
    add_pxe_actions(r);
    add_dhcp_actions(r);
    add_kube_actions(r);
    add_verify_actions(r);
    add_backup_actions(r);
    add_nas_actions(r);
    add_etcd_actions(r);
    add_appliance_actions(r);
    return r;
  }();
  return registry;
}

}  // namespace drctl::actions
