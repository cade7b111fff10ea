// VM lifecycle actions: vm.create, vm.power, vm.upload and vm.exec.
#include "actions/vm.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "actions/generic.hpp"
#include "actions/snapshot_section.hpp"
#include "capture/section_builder.hpp"
#include "capture/section_reader.hpp"
#include "capture/vm_disks.hpp"
#include "world/vm_spec.hpp"

namespace drctl::actions {

using world::Duration;

world::Hypervisor& hypervisor(Context& ctx) {
  world::Hypervisor* hv = ctx.world.hypervisor();
  if (!hv)
    throw ActionError("the site has no hypervisor to manage VMs on (a real run needs hypervisor: {kind: vsphere or "
                      "libvirt, url, credentials} in the site)");
  return *hv;
}

std::string vm_name(Context& ctx) {
  std::string name = ctx.inputs.value("vm", "");
  if (name.empty() && ctx.target.is_object()) name = ctx.target.value("name", "");
  if (name.empty()) throw ActionError("no VM named: give `vm:` or run the step `on:` a host");
  return name;
}

std::optional<world::VmState> find_vm(Context& ctx, const std::string& name) {
  for (auto& vm : hypervisor(ctx).list())
    if (vm.spec.name == name) return vm;
  return std::nullopt;
}

namespace {

/// What vm.create is asked to define, and where that came from.
struct WantedVm {
  world::VmSpec spec;
  std::string from;  // "spec", "snapshot ID", "site"
};

/// vm.create: defines a VM from the host's `vm:` in the site, an explicit spec, or the
/// snapshot's definition — with its disks from the snapshot's images when asked.
class VmCreate : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "vm.create",
        "Define a VM on the hypervisor as the snapshot's VM definitions have it (from_snapshot; with disks: its disk "
        "images too), or from the host's `vm:` (vcpus, memory, disks, nics, boot, cdrom, firmware, guest_os). A VM "
        "that exists as asked is left alone; one that differs is refused, naming the differences",
        {{"vm", InputType::String, false, json(""), "VM name (default: the step's host)"},
         {"spec", InputType::Map, false, json::object(), "The VM's definition (default: the snapshot's, else the host's `vm:`)"},
         {"from_snapshot", InputType::Boolean, false, json(false), "Take the definition from the snapshot (repo, snapshot, section)"},
         {"disks", InputType::Boolean, false, json(false),
          "With from_snapshot: write the VM's disks from the snapshot's images (NAME.diskN.img) before it first starts "
          "— how an appliance comes back with its own system and configuration"},
         {"repo", InputType::String, false, json(""), "The repository whose snapshot holds the VM definitions"},
         {"snapshot", InputType::String, false, json("latest"), "Snapshot id, prefix, or latest"},
         {"section", InputType::String, false, json("vm"), "The snapshot's section of VM definitions (NAME.json)"}},
        {{"from", "Where the definition came from: spec, snapshot ID, or site"}}};
    return s;
  }
  bool check(Context& ctx) const override {
    const std::string name = vm_name(ctx);
    auto have = find_vm(ctx, name);
    if (!have) return false;
    const WantedVm want = wanted(ctx, name);
    const auto diffs = world::vm_spec_differences(want.spec, have->spec);
    if (diffs.empty()) return true;
    std::string list;
    for (const auto& d : diffs) list += (list.empty() ? "" : "; ") + d;
    throw ActionError("VM " + name + " exists on the hypervisor but is not the one the " + want.from +
                      " describes: " + list + " (remove it or change the definition; drctl replaces no VM)");
  }
  json apply(Context& ctx) const override {
    const std::string name = vm_name(ctx);
    const WantedVm want = wanted(ctx, name);
    const bool disks = ctx.inputs.value("disks", false);
    if (disks && !ctx.inputs.value("from_snapshot", false))
      throw ActionError("disks: the disk images come from a snapshot: set from_snapshot too");
    try {
      hypervisor(ctx).define(want.spec);
    } catch (const std::runtime_error& e) {
      throw ActionError(e.what());
    }
    if (disks) {
      try {
        write_disks(ctx, want.spec);
      } catch (const std::exception& e) {
        // A VM with half its disks would pass the next check as "exists as asked": take it away,
        // so a retry defines it and writes its disks again.
        try {
          hypervisor(ctx).destroy(name);
        } catch (const std::exception&) {
        }
        throw ActionError(std::string(e.what()) + " (the VM was removed again; a retry starts over)");
      }
    }
    ctx.log("defined VM " + name + " from the " + want.from + " (" + std::to_string(want.spec.vcpus) + " vCPU, " +
            std::to_string(want.spec.memory_mb) + " MB)\n");
    return {{"from", want.from}};
  }

 private:
  static WantedVm wanted(Context& ctx, const std::string& name) {
    json def = ctx.inputs.value("spec", json::object());
    std::string from = def.empty() ? "site" : "spec";
    if (def.empty() && ctx.inputs.value("from_snapshot", false)) {
      if (ctx.inputs.value("repo", "").empty()) throw ActionError("from_snapshot: give the repository (repo)");
      const std::string snapshot = ctx.inputs.value("snapshot", "latest"), section = ctx.inputs.value("section", "vm");
      const auto defs = snapshot_files(ctx.inputs["repo"].get<std::string>(), snapshot, section,
                                       [&](const std::string& path) { return path == name + ".json"; });
      auto it = defs.find(name + ".json");
      if (it == defs.end()) throw ActionError("snapshot " + snapshot + " has no definition of VM " + name + " in " + section);
      def = json::parse(it->second, nullptr, false);
      if (!def.is_object()) throw ActionError(section + "/" + name + ".json in snapshot " + snapshot + " is not a JSON object");
      from = "snapshot " + snapshot;
    }
    if (def.empty() && ctx.target.is_object()) def = ctx.target.value("vm", json::object());
    if (def.empty()) throw ActionError("no definition for VM " + name + ": the host has no `vm:` in the site and no `spec` was given");
    try {
      return {world::vm_spec_from_json(name, def), from};
    } catch (const std::invalid_argument& e) {
      throw ActionError("VM " + name + ": " + e.what());
    }
  }

  /// Each disk of `spec` that the snapshot holds an image of, written into the new VM.
  static void write_disks(Context& ctx, const world::VmSpec& spec) {
    OpenSection open(ctx.inputs);
    std::map<std::string, store::Node> images;
    capture::for_each_file(open.repo, *open.section,
                           [&](const std::string& path) { return path.rfind(spec.name + ".disk", 0) == 0; },
                           [&](const std::string& path, const store::Node& node) { images.emplace(path, node); });
    if (images.empty())
      throw ActionError("snapshot " + open.snap.id.short_hex() + " has no disk images of VM " + spec.name + " in " +
                        open.section->name + " (back it up with `disks:` in its vms source)");
    for (std::size_t i = 0; i < spec.disks.size(); ++i) {
      auto it = images.find(capture::vm_disk_file(spec.name, i));
      if (it == images.end()) continue;  // a disk the backup left out (a NAS's data disk) starts empty
      auto next = capture::file_reader(open.repo, it->second);
      std::string piece;
      std::size_t used = 0;
      hypervisor(ctx).write_disk(spec.name, i, [&](char* buf, std::size_t size) -> std::size_t {
        if (used == piece.size()) {
          piece = next();
          used = 0;
          if (piece.empty()) return 0;
        }
        const std::size_t n = std::min(size, piece.size() - used);
        std::memcpy(buf, piece.data() + used, n);
        used += n;
        return n;
      }, static_cast<std::int64_t>(it->second.size));
      ctx.log("wrote disk " + std::to_string(i) + " of " + spec.name + " from " + it->first + " (" +
              std::to_string(it->second.size) + " bytes)\n");
    }
  }
};

/// vm.power: on, off, or reset (off then on).
class VmPower : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{"vm.power",
                              "Power a VM on, off, or reset it",
                              {{"vm", InputType::String, false, json(""), "VM name (default: the step's host)"},
                               {"state", InputType::String, false, json("on"), "on, off or reset"}},
                              {}};
    return s;
  }
  bool check(Context& ctx) const override {
    const std::string state = wanted(ctx);
    auto vm = find_vm(ctx, vm_name(ctx));
    return vm && state != "reset" && vm->running == (state == "on");
  }
  json apply(Context& ctx) const override {
    const std::string name = vm_name(ctx), state = wanted(ctx);
    auto vm = find_vm(ctx, name);
    if (!vm) throw ActionError("no VM named " + name + " on the hypervisor (create it first: vm.create)");
    try {
      if (state != "on" && vm->running) hypervisor(ctx).stop(name);
      if (state != "off") hypervisor(ctx).start(name);
    } catch (const std::runtime_error& e) {
      throw ActionError(e.what());
    }
    return json::object();
  }

 private:
  static std::string wanted(Context& ctx) {
    const std::string state = ctx.inputs.at("state").get<std::string>();
    if (state != "on" && state != "off" && state != "reset") throw ActionError("state '" + state + "' is not on, off or reset");
    return state;
  }
};

/// vm.upload: a file into the VM through the hypervisor's guest tools (no network needed).
class VmUpload : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "vm.upload",
        "Write a file inside a VM through the hypervisor's guest tools: how an appliance gets its configuration",
        {{"vm", InputType::String, false, json(""), "VM name (default: the step's host)"},
         {"path", InputType::String, true, std::nullopt, "Absolute path inside the VM"},
         {"content", InputType::String, false, std::nullopt, "The file's content (give one of content, template, source)"},
         {"template", InputType::String, false, std::nullopt, "A Mustache template file on this machine"},
         {"source", InputType::String, false, std::nullopt, "A file on this machine, copied byte for byte"},
         {"mode", InputType::String, false, json("0644"), "Octal permission bits"}},
        {}};
    return s;
  }
  bool check(Context&) const override { return false; }  // guest tools cannot read back cheaply: always write
  json apply(Context& ctx) const override {
    const std::string name = vm_name(ctx), path = ctx.inputs.at("path").get<std::string>();
    const std::string content = file_content(ctx, "vm.upload");
    const unsigned mode = mode_input(ctx);
    try {
      hypervisor(ctx).guest_put(name, path, content, mode);
    } catch (const std::runtime_error& e) {
      throw ActionError("cannot write " + path + " in " + name + ": " + e.what());
    }
    ctx.log("wrote " + path + " in " + name + "\n");
    return json::object();
  }
};

/// vm.exec: a command inside a VM through the hypervisor's guest tools.
class VmExec : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{"vm.exec",
                              "Run a command inside a VM through the hypervisor's guest tools",
                              {{"vm", InputType::String, false, json(""), "VM name (default: the step's host)"},
                               {"command", InputType::String, true, std::nullopt, "The command (sh syntax)"}},
                              {{"stdout", "What the command printed"}}};
    return s;
  }
  bool check(Context&) const override { return false; }
  json apply(Context& ctx) const override {
    const std::string name = vm_name(ctx);
    world::Command c;
    c.script = ctx.inputs.at("command").get<std::string>();
    c.timeout = ctx.timeout;
    world::CommandResult r;
    try {
      r = hypervisor(ctx).guest_run(name, c);
    } catch (const std::runtime_error& e) {
      throw ActionError(e.what());
    }
    ctx.log(r.out + r.err);
    if (!r.ok())
      throw ActionError("in " + name + ": `" + c.script + "` exited " + std::to_string(r.exit_code),
                        tail_lines(r.err.empty() ? r.out : r.err, 5));
    return {{"stdout", r.out}};
  }
};

}  // namespace

void add_vm_actions(Registry& registry) {
  registry.add(std::make_unique<VmUpload>());
  registry.add(std::make_unique<VmExec>());
  registry.add(std::make_unique<VmCreate>());
  registry.add(std::make_unique<VmPower>());
}

}  // namespace drctl::actions
