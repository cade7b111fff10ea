#include "sim/pxe.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "base/text.hpp"

namespace drctl::sim {

namespace {

// One boot in progress: the TFTP server, pxelinux's path prefix, and the outcome so far.
struct Follower {
  const Fetch& fetch;
  std::string server;
  std::string prefix;  // the directory of the boot file, "" or ending in '/'
  PxeOutcome out;

  // Reads `loc`, noting it (and why it failed) in the trail.
  Fetched read(const Location& loc) {
    Fetched f = fetch(loc);
    out.trail.push_back(f.ok ? loc.str() : loc.str() + " (" + f.error + ")");
    return f;
  }
  // A file as pxelinux names it: relative to the prefix, or from the TFTP root with '/' or '::'.
  Location tftp(const std::string& name) const {
    if (name.starts_with("::")) {
      std::string path = name.substr(2);
      path.erase(0, path.find_first_not_of('/'));
      return {"tftp", server, 0, path};
    }
    if (name.starts_with("/")) return {"tftp", server, 0, name.substr(1)};
    return {"tftp", server, 0, prefix + name};
  }
  // "" when `name` was read, else why not.
  std::string need(const std::string& name, const std::string& what) {
    Location loc = tftp(name);
    Fetched f = read(loc);
    return f.ok ? "" : what + ": " + loc.str() + ": " + f.error;
  }
  PxeOutcome fail(const std::string& why) {
    out.ok = false;
    out.error = why;
    return out;
  }
};

// The label pxelinux boots (src/boot's plan_boot), with the menu module read when one shows
// the labels; nullptr with f.out.error set.
const BootEntry* choose_label(Follower& f, const PxeMenu& menu) {
  const std::string& config = f.out.config_path;
  const boot::BootPlan plan = boot::plan_boot(menu);
  if (!plan.module.empty())
    if (std::string err = f.need(plan.module, "Failed to load COM32 file " + plan.module); !err.empty()) {
      f.fail(err);
      return nullptr;
    }
  if (!plan.stop.empty()) {
    f.fail(config + " " + plan.stop);
    return nullptr;
  }
  if (!plan.entry) {
    f.fail(config + ": " + plan.image_directive + " names '" + plan.image + "', which is no label there");
    return nullptr;
  }
  return plan.entry;
}

// The value of the first "key=value" word, or "".
std::string option(const std::vector<std::string>& args, const std::string& key) {
  for (const auto& a : args)
    if (a.starts_with(key + "=")) return a.substr(key.size() + 1);
  return "";
}

std::optional<InstallPlan> kickstart(Follower& f, const std::string& where, const std::string& value) {
  Location loc;
  try {
    loc = parse_location(value);
  } catch (const std::invalid_argument& e) {
    f.fail(where + ": ks=: " + e.what());
    return std::nullopt;
  }
  Fetched ks = f.read(loc);
  if (!ks.ok) {
    f.fail(where + ": cannot read kickstart " + loc.str() + ": " + ks.error);
    return std::nullopt;
  }
  try {
    return parse_kickstart(ks.content);
  } catch (const AnswerError& e) {
    f.fail(where + ": kickstart " + loc.str() + " line " + std::to_string(e.line) + ": " + e.message);
    return std::nullopt;
  }
}

// cloud-init's NoCloud seed: "nocloud-net;s=URL/" (or "nocloud", "seedfrom=", ";" escaped as "\;").
std::optional<InstallPlan> autoinstall(Follower& f, const std::string& where, const std::string& ds) {
  std::string text;
  for (std::size_t i = 0; i < ds.size(); ++i)
    if (!(ds[i] == '\\' && i + 1 < ds.size() && ds[i + 1] == ';')) text += ds[i];
  auto parts = text::split_nonempty(text, ';');
  std::string seed;
  for (std::size_t i = 1; i < parts.size(); ++i)
    if (parts[i].starts_with("s=") || parts[i].starts_with("seedfrom=")) seed = parts[i].substr(parts[i].find('=') + 1);
  auto fail = [&](const std::string& why) {
    f.fail(where + ": ds=" + ds + ": " + why);
    return std::nullopt;
  };
  if (parts.empty() || (parts[0] != "nocloud" && parts[0] != "nocloud-net"))
    return fail("only the nocloud / nocloud-net datasource is modelled");
  if (seed.empty()) return fail("no s=URL/ to read user-data from");
  Location meta, user;
  try {
    meta = parse_location(seed + "meta-data");
    user = parse_location(seed + "user-data");
  } catch (const std::invalid_argument& e) {
    return fail(e.what());
  }
  if (user.scheme != "http") return fail("cloud-init reads a NoCloud seed over http, not " + user.scheme);
  Fetched m = f.read(meta);
  if (!m.ok) return fail("cannot read " + meta.str() + ": " + m.error);
  Fetched u = f.read(user);
  if (!u.ok) return fail("cannot read " + user.str() + ": " + u.error);
  try {
    return parse_autoinstall(u.content, m.content);
  } catch (const AnswerError& e) {
    const Location& file = e.file == "meta-data" ? meta : user;
    f.fail(where + ": autoinstall " + file.str() + " line " + std::to_string(e.line) + ": " + e.message);
    return std::nullopt;
  }
}

}  // namespace

PxeOutcome follow_pxe(const std::string& mac, const std::string& ip, const std::string& next_server,
                      const std::string& filename, const Fetch& fetch, const Version* ubuntu) {
  Follower f{fetch, next_server, "", {}};
  if (filename.empty()) return f.fail("PXE-E53: no boot filename received (DHCP gave no filename option)");
  if (next_server.empty()) return f.fail("PXE-E32: no TFTP server for " + filename + " (DHCP gave no next-server)");
  const std::string boot = filename.starts_with("/") ? filename.substr(1) : filename;
  if (std::string err = f.need(boot, "PXE-E32: TFTP open failed for boot file " + boot); !err.empty()) return f.fail(err);
  f.prefix = boot.substr(0, boot.rfind('/') + 1);
  if (!boot.ends_with("pxelinux.0"))
    return f.fail("boot file " + boot + " is not pxelinux: only pxelinux.0 and lpxelinux.0 are modelled");
  if (std::string err = f.need("ldlinux.c32", "Failed to load ldlinux.c32"); !err.empty()) return f.fail(err);

  std::vector<std::string> paths;
  try {
    paths = pxelinux_config_paths(mac, ip);
  } catch (const std::invalid_argument& e) {
    return f.fail(e.what());
  }
  std::optional<std::string> config;
  for (const auto& p : paths) {
    Fetched c = f.read(f.tftp(p));
    if (!c.ok) continue;
    f.out.config_path = f.tftp(p).path;
    config = c.content;
    break;
  }
  if (!config)
    return f.fail("Unable to locate configuration file: none of the " + std::to_string(paths.size()) +
                  " pxelinux.cfg files for " + mac + " / " + ip + " is on " + next_server + ", not even " +
                  f.tftp(paths.back()).path);
  // Included files are read where they stand; a missing one is skipped, as pxelinux does.
  const PxeMenu menu = parse_pxelinux(*config, f.out.config_path, [&](const std::string& name) -> std::optional<std::string> {
    Fetched i = f.read(f.tftp(name));
    return i.ok ? std::optional(i.content) : std::nullopt;
  });

  const BootEntry* chosen = choose_label(f, menu);
  if (!chosen) return f.out;
  const BootEntry& entry = *chosen;
  f.out.label = entry.label;
  const std::string where = "label '" + entry.label + "' (" + entry.file + " line " + std::to_string(entry.line) + ")";
  if (entry.localboot) {
    f.out.ok = true;
    f.out.localboot = true;
    return f.out;
  }
  if (std::string err = f.need(entry.kernel, where + ": cannot load kernel " + entry.kernel); !err.empty())
    return f.fail(err);
  for (const auto& initrd : entry.initrds)
    if (std::string err = f.need(initrd, where + ": cannot load initrd " + initrd); !err.empty()) return f.fail(err);

  const auto args = text::words(entry.append);
  const std::string ks = option(args, "ks"), ds = option(args, "ds");
  const bool auto_flag = std::find(args.begin(), args.end(), "autoinstall") != args.end();
  if (ks.empty() && ds.empty())
    return f.fail(where + ": no automated installer answers (no ks= or autoinstall ds=)" +
                  (auto_flag ? ": 'autoinstall' needs ds=nocloud-net;s=URL/" : ""));
  if (ks.empty() && !auto_flag)
    return f.fail(where + ": ds= without 'autoinstall' on the kernel command line: " +
                  "the installer asks before it wipes the disk");
  // Ubuntu 22.04 ships only subiquity (the live server installer): debian-installer and its
  // kickseed udeb are gone ("mini.iso dropped out of the archive as part of an explicit decision to
  // discontinue support for d-i/udebs", Steve Langasek, ubuntu-devel 2023-02; 20.04 was the last
  // release with d-i netboot images). Subiquity reads autoinstall only and ignores ks=.
  if (!ks.empty() && !auto_flag && ubuntu && ubuntu->at_least(22, 4))
    return f.fail(where + ": ks=" + ks + ": Ubuntu " + ubuntu->text +
                  " has no debian-installer to read a kickstart (its installer, subiquity, reads only autoinstall): "
                  "the installer ignores ks= and waits at its first screen");
  f.out.plan = ks.empty() ? autoinstall(f, where, ds) : kickstart(f, where, ks);
  if (!f.out.plan) return f.out;
  if (f.out.plan->hostname.empty()) f.out.plan->hostname = option(args, "hostname");
  f.out.ok = true;
  return f.out;
}

}  // namespace drctl::sim
