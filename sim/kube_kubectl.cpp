// kubectl's verbs against the simulated cluster: apply, get, delete, wait, create, rollout, version
// and api-resources, with their kubeconfig checks. Messages are kubectl 1.2x's.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <tuple>

#include "base/text.hpp"
#include "base/yaml_json.hpp"
#include "sim/kube.hpp"
#include "sim/kube_formats.hpp"
#include "sim/kube_kinds.hpp"
#include "sim/kube_schema.hpp"
#include "sim/kube_validation.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_formats;
using namespace kube_kinds;
using namespace kube_util;
using text::lower;
using text::sha256_hex;
using namespace std::chrono_literals;

namespace {

/// kubectl's "TYPE NAME…" or "TYPE/NAME" arguments.
std::pair<std::string, std::vector<std::string>> type_and_names(const std::vector<std::string>& positional) {
  std::string type = positional[0];
  std::vector<std::string> names(positional.begin() + 1, positional.end());
  if (auto slash = type.find('/'); slash != std::string::npos) {
    names.insert(names.begin(), type.substr(slash + 1));
    type = type.substr(0, slash);
  }
  return {type, names};
}

const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

/// kubectl's label selector: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated.
bool selected(const std::string& selector, const json& labels) {
  std::size_t pos = 0;
  while (pos <= selector.size() && !selector.empty()) {
    auto comma = selector.find(',', pos);
    std::string term = selector.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    bool ok;
    if (auto ne = term.find("!="); ne != std::string::npos) {
      std::string k = term.substr(0, ne);
      ok = !labels.contains(k) || labels[k] != term.substr(ne + 2);
    } else if (auto eq = term.find('='); eq != std::string::npos) {
      std::string k = term.substr(0, eq), v = term.substr(term.find_first_not_of('=', eq));
      ok = labels.contains(k) && labels[k] == v;
    } else if (!term.empty() && term[0] == '!') {
      ok = !labels.contains(term.substr(1));
    } else {
      ok = labels.contains(term);
    }
    if (!ok) return false;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return true;
}

std::string name_of(const json& obj) { return str(obj, "/metadata/name"_json_pointer); }
std::string ns_of(const json& obj) { return str(obj, "/metadata/namespace"_json_pointer); }

std::string ports_column(const json& spec) {
  std::string out;
  for (const auto& p : spec.value("ports", json::array())) {
    out += (out.empty() ? "" : ",") + std::to_string(p.value("port", 0));
    if (p.contains("nodePort")) out += ":" + std::to_string(p.value("nodePort", 0));
    out += "/" + p.value("protocol", std::string("TCP"));
  }
  return out.empty() ? "<none>" : out;
}

}  // namespace

std::vector<json> KubeCtl::listed(const KubeKind& kind, const std::string& ns, bool all_ns) const {
  std::vector<json> out;
  for (auto& obj : api_.objects(kind.kind))
    if (!kind.namespaced || all_ns || ns_of(obj) == ns) out.push_back(std::move(obj));
  return out;
}

// --- kubectl ---------------------------------------------------------------------------------

KubeCtl::KubeCtl(Engine& engine, const KubeSetup& setup, KubeStore& store, KubeNodes& nodes, KubeControllers& controllers,
                 const KubeCluster& api, std::function<void()> changed)
    : engine_(engine),
      setup_(setup),
      store_(store),
      nodes_(nodes),
      controllers_(controllers),
      api_(api),
      changed_(std::move(changed)) {}

std::optional<KubeKind> KubeCtl::kind_by_resource(const std::string& name) const {
  return kube_kinds::kind_by_resource(store_, name);
}

struct KubeCtl::Kubectl {
  Args args;
  std::string verb;
  std::vector<std::string> positional;  // after the verb
  std::string ns() const { return args.get("--namespace", "default"); }
  bool all_ns() const { return args.has("--all-namespaces"); }
};

std::optional<KubeResult> KubeCtl::check_kubeconfig(const std::string& path, bool from_flag, const std::string& context,
                                                        const KubeFiles& files) const {
  const KubeResult no_server{
      1, "", "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n"};
  if (path.empty()) return no_server;
  auto text = files.read(path);
  if (!text) return from_flag ? KubeResult{1, "", "error: stat " + path + ": no such file or directory\n"} : no_server;
  std::string server, ca_data;
  try {
    auto docs = kube_parse_yaml(*text);
    if (docs.empty() || !docs[0].is_object()) throw std::runtime_error("no configuration");
    const json& cfg = docs[0];
    const std::string wanted = context.empty() ? cfg.value("current-context", "") : context;
    const json contexts = cfg.value("contexts", json::array()), clusters = cfg.value("clusters", json::array());
    const json* ctx = nullptr;
    for (const auto& c : contexts)
      if (c.is_object() && c.value("name", "") == wanted) ctx = &c;
    if (!ctx) {
      if (!context.empty()) return KubeResult{1, "", "error: context was not found for specified context: " + context + "\n"};
      return no_server;
    }
    const std::string cluster_name = (*ctx).value("context", json::object()).value("cluster", "");
    const json* cluster = nullptr;
    for (const auto& c : clusters)
      if (c.is_object() && c.value("name", "") == cluster_name) cluster = &c;
    if (!cluster) return no_server;
    server = (*cluster).value("cluster", json::object()).value("server", "");
    ca_data = (*cluster).value("cluster", json::object()).value("certificate-authority-data", "");
  } catch (const std::exception& e) {
    return KubeResult{1, "", "error: error loading config file \"" + path + "\": " + e.what() + "\n"};
  }
  const std::string host = server.starts_with("https://") ? server.substr(8) : server;
  // Whether the server answers is the network's business (SimWorld dials the kubeconfig's server
  // before kubectl runs); here only whether an API server runs at all.
  if (!api_.api_up())
    return KubeResult{
        1, "", "The connection to the server " + host + " was refused - did you specify the right host or port?\n"};
  auto ca_pem = unbase64(ca_data);
  if (!ca_pem || ca_pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos ||
      unbase64(ca_pem->substr(ca_pem->find('\n') + 1, ca_pem->find("\n-----END") - ca_pem->find('\n') - 1)) !=
          "drctl-sim cluster CA " + setup_.ca)
    return KubeResult{1, "",
                      "Unable to connect to the server: x509: certificate signed by unknown authority (possibly "
                      "because of \"crypto/rsa: verification error\" while trying to verify candidate authority "
                      "certificate \"kubernetes\")\n"};
  return std::nullopt;
}

KubeResult KubeCtl::run(const std::vector<std::string>& argv, const std::string& stdin_data,
                                const std::map<std::string, std::string>& env, const KubeFiles& files) {
  Kubectl k;
  k.args = parse_args(argv, first_arg(argv, "kubectl"),
                      {"--kubeconfig", "--namespace", "--output", "--filename", "--selector", "--for", "--timeout",
                       "--cert", "--key", "--context", "--field-manager", "--from-literal", "--verbs", "--api-group",
                       "--sort-by", "--request-timeout", "--namespaced"},
                      {"--all-namespaces", "--all", "--ignore-not-found", "--server-side", "--force-conflicts",
                       "--wait", "--overwrite", "--dry-run", "--show-managed-fields", "--no-headers", "--client",
                       "--cached"},
                      {{"-n", "--namespace"},
                       {"-o", "--output"},
                       {"-f", "--filename"},
                       {"-l", "--selector"},
                       {"-A", "--all-namespaces"}});
  if (!k.args.error.empty()) return {1, "", "error: " + k.args.error + "\nSee 'kubectl --help' for usage.\n"};
  if (k.args.positional.empty())
    return {1, "", "error: you must specify a command (apply, get, delete, wait, create, rollout, version, api-resources)\n"};
  k.verb = k.args.positional[0];
  k.positional.assign(k.args.positional.begin() + 1, k.args.positional.end());
  const std::set<std::string> verbs = {"apply", "get", "delete", "wait", "create", "rollout", "version", "api-resources"};
  if (!verbs.count(k.verb)) return {1, "", "error: unknown command \"" + k.verb + "\" for \"kubectl\"\n"};
  if (k.args.has("--namespaced") && k.verb != "api-resources")
    return {1, "", "error: unknown flag: --namespaced\nSee 'kubectl " + k.verb + " --help' for usage.\n"};

  std::string kubeconfig = k.args.get("--kubeconfig");
  const bool from_flag = !kubeconfig.empty();
  if (!from_flag) {
    if (auto e = env.find("KUBECONFIG"); e != env.end())
      kubeconfig = e->second.substr(0, e->second.find(':'));
    else if (auto h = env.find("HOME"); h != env.end())
      kubeconfig = h->second + "/.kube/config";
  }
  if (k.verb == "version" && k.args.has("--client")) return version(k, std::nullopt);
  auto refused = check_kubeconfig(kubeconfig, from_flag, k.args.get("--context"), files);
  if (k.verb == "version" && (!refused || !refused->err.starts_with("error:"))) return version(k, refused);
  if (refused) return *refused;

  if (k.verb == "apply") return apply(k, files, stdin_data);
  if (k.verb == "get") return get(k, files, stdin_data);
  if (k.verb == "delete") return remove(k, files, stdin_data);
  if (k.verb == "wait") return wait(k);
  if (k.verb == "create") return create(k, files);
  if (k.verb == "api-resources") return api_resources(k);
  return rollout(k);
}

namespace {

const char* kKubectlVersion = "v1.28.2";

/// What `kubectl version` says of a build of Kubernetes (the release's own commit for v1.28.2).
nlohmann::ordered_json version_info(const std::string& git_version, const char* build_date) {
  int major = 1, minor = 0;
  std::sscanf(git_version.c_str(), "v%d.%d", &major, &minor);
  const bool known = git_version == kKubectlVersion;
  return {{"major", std::to_string(major)},
          {"minor", std::to_string(minor)},
          {"gitVersion", git_version},
          {"gitCommit", known ? "89a4ea3e1e4ddd7f7572286090359983e0387b2f" : sha256_hex("kubernetes " + git_version).substr(0, 40)},
          {"gitTreeState", "clean"},
          {"buildDate", build_date},
          {"goVersion", "go1.20.8"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

}  // namespace

KubeResult KubeCtl::version(Kubectl& k, std::optional<KubeResult> refused) const {
  const std::string output = k.args.get("--output");
  nlohmann::ordered_json doc = {{"clientVersion", version_info(kKubectlVersion, "2023-09-13T09:35:06Z")},
                                {"kustomizeVersion", "v5.0.4-0.20230601165947-6ce0bf390ce3"}};
  if (!refused && !k.args.has("--client")) doc["serverVersion"] = version_info(setup_.version, "2023-09-13T09:29:07Z");
  KubeResult r;
  if (output == "json") {
    r.out = doc.dump(2) + "\n";
  } else if (output == "yaml") {
    r.out = kube_to_yaml(json::parse(doc.dump()));
  } else if (output.empty()) {
    r.out = "Client Version: " + std::string(kKubectlVersion) + "\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n";
    if (doc.contains("serverVersion")) r.out += "Server Version: " + setup_.version + "\n";
  } else {
    return {1, "", "error: --output must be 'yaml' or 'json'\n"};
  }
  if (refused) {
    r.code = refused->code;
    r.err = refused->err;
  }
  return r;
}

KubeResult KubeCtl::api_resources(Kubectl& k) const {
  const std::string output = k.args.get("--output");
  if (!output.empty() && output != "wide" && output != "name")
    return {1, "", "error: --output wide or name is accepted\n"};
  const std::vector<std::string> want = [&] {
    std::vector<std::string> v;
    for (const auto& value : k.args.values("--verbs")) {
      std::size_t pos = 0;
      while (pos <= value.size()) {
        auto comma = value.find(',', pos);
        std::string item = value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!item.empty()) v.push_back(item);
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    }
    return v;
  }();
  std::optional<bool> namespaced;
  if (k.args.has("--namespaced")) {
    const std::string v = k.args.get("--namespaced");
    if (v != "true" && v != "false")
      return {1, "", "error: invalid argument \"" + v + "\" for \"--namespaced\" flag: strconv.ParseBool: parsing \"" + v +
                         "\": invalid syntax\n"};
    namespaced = v == "true";
  }
  // One row per resource: for a CRD the preferred of its served versions.
  std::map<std::pair<std::string, std::string>, KubeKind> rows;  // (group, plural) → kind
  for (const auto& kind : api_.served_kinds()) {
    auto key = std::pair(kind.group, kind.plural);
    auto it = rows.find(key);
    if (it == rows.end() || version_priority(kind.version) > version_priority(it->second.version)) rows[key] = kind;
  }
  std::vector<KubeKind> shown;
  for (const auto& [key, kind] : rows) {
    const auto& verbs = verbs_of(kind);
    if (!std::all_of(want.begin(), want.end(), [&](const std::string& v) {
          return std::find(verbs.begin(), verbs.end(), v) != verbs.end();
        }))
      continue;
    if (namespaced && kind.namespaced != *namespaced) continue;
    if (k.args.has("--api-group") && kind.group != k.args.get("--api-group")) continue;
    shown.push_back(kind);
  }
  if (k.args.get("--sort-by") == "kind")
    std::stable_sort(shown.begin(), shown.end(), [](const KubeKind& a, const KubeKind& b) { return a.kind < b.kind; });
  else if (k.args.get("--sort-by") == "name")
    std::stable_sort(shown.begin(), shown.end(), [](const KubeKind& a, const KubeKind& b) { return a.plural < b.plural; });
  KubeResult r;
  if (output == "name") {
    for (const auto& kind : shown) r.out += kind.resource() + "\n";
    return r;
  }
  auto join = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
    return out;
  };
  std::vector<std::vector<std::string>> table_rows;
  if (!k.args.has("--no-headers")) {
    table_rows.push_back({"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"});
    if (output == "wide") table_rows.back().insert(table_rows.back().end(), {"VERBS", "CATEGORIES"});
  }
  for (const auto& kind : shown) {
    table_rows.push_back({kind.plural, join(kind.short_names), kind.api_version(), kind.namespaced ? "true" : "false", kind.kind});
    if (output == "wide") table_rows.back().insert(table_rows.back().end(), {join(verbs_of(kind)), join(kind.categories)});
  }
  r.out = table(table_rows);
  return r;
}

namespace {

/// The documents of every -f, each with the name kubectl gives its source ("STDIN" for -).
struct Source {
  std::string file;
  json doc;
};

std::optional<std::string> read_sources(const std::vector<std::string>& paths, const std::string& stdin_data,
                                        const KubeFiles& files, std::vector<Source>& out) {
  if (paths.empty()) return "error: must specify one of -f and -k\n";
  for (const auto& path : paths) {
    auto text = path == "-" ? std::optional(stdin_data) : files.read(path);
    if (!text) return "error: the path \"" + path + "\" does not exist\n";
    const std::string file = path == "-" ? "STDIN" : path;
    try {
      for (auto& d : kube_parse_yaml(*text)) out.push_back({file, std::move(d)});
    } catch (const std::exception& e) {
      return "error: error parsing " + file + ": error converting YAML to JSON: " + e.what() + "\n";
    }
  }
  return std::nullopt;
}

/// A JSON merge patch from `from` to `to` (null for a removed field, lists replaced whole): what
/// kubectl's three-way patch holds for the fields an apply changed.
json merge_patch(const json& from, const json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  json out = json::object();
  for (auto it = from.begin(); it != from.end(); ++it)
    if (!to.contains(it.key())) out[it.key()] = nullptr;
  for (auto it = to.begin(); it != to.end(); ++it) {
    if (!from.contains(it.key())) out[it.key()] = it.value();
    else if (from[it.key()] != it.value()) out[it.key()] = merge_patch(from[it.key()], it.value());
  }
  return out;
}

/// kubectl's text for errors it returns one at a time (cmdutil.CheckErr): an Invalid status by its
/// details and causes (`The Service "blog" is invalid: spec...`, several as a "* " list), others
/// as StandardErrorMessage (`Error from server (REASON): MESSAGE`).
std::string invalid_text(const kube_validation::Refusal& r) {
  std::string out = "The " + r.kind + " \"" + r.name + "\" is invalid: ";
  if (r.causes.size() == 1) return out + r.causes[0] + "\n";
  out += "\n";
  for (const auto& c : r.causes) out += "* " + c + "\n";
  return out;
}

}  // namespace

KubeResult KubeCtl::apply(Kubectl& k, const KubeFiles& files, const std::string& stdin_data) {
  std::vector<Source> sources;
  if (auto err = read_sources(k.args.values("--filename"), stdin_data, files, sources)) return {1, "", *err};
  // kubectl maps every document to a resource before it applies any: a CRD and its custom
  // resources in one file fail for the resources.
  std::vector<std::optional<KubeKind>> kinds;
  for (const auto& s : sources) kinds.push_back(api_.find_kind(s.doc.value("apiVersion", ""), s.doc.value("kind", "")));

  KubeResult r;
  // kubectl collects the errors and prints them at the end: one alone through CheckErr (an
  // Invalid one by its causes), several each as StandardErrorMessage (apply.go, Run).
  struct Failure {
    std::string line;
    std::optional<kube_validation::Refusal> invalid;
  };
  std::vector<Failure> failures;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const std::string& file = sources[i].file;
    json doc = sources[i].doc;
    auto error = [&](const std::string& line, std::optional<kube_validation::Refusal> invalid = std::nullopt) {
      failures.push_back({line, std::move(invalid)});
      engine_.log("kube", "apply-failed", {{"file", file}, {"error", line}});
    };
    if (!doc.is_object()) {
      error("error: error validating \"" + file + "\": error validating data: invalid object");
      continue;
    }
    std::vector<std::string> missing;
    if (doc.value("apiVersion", "").empty()) missing.push_back("apiVersion not set");
    if (doc.value("kind", "").empty()) missing.push_back("kind not set");
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
      error("error: error validating \"" + file + "\": error validating data: [" + list +
            "]; if you choose to ignore these errors, turn validation off with --validate=false");
      continue;
    }
    const std::string api_version = doc["apiVersion"], kind_name = doc["kind"], name = name_of(doc);
    if (!kinds[i]) {
      error("error: resource mapping not found for name: \"" + name + "\" namespace: \"" + ns_of(doc) + "\" from \"" +
            file + "\": no matches for kind \"" + kind_name + "\" in version \"" + api_version +
            "\"\nensure CRDs are installed first");
      continue;
    }
    const KubeKind& kind = *kinds[i];
    const std::string gv = kind.group + "/" + kind.version;  // schema.GroupVersion* String(): "/v1" for core
    if (kind.kind == "Node") {
      error("sim: applying Node objects is not modelled (nodes join with kubeadm)");
      continue;
    }
    std::string ns;
    if (kind.namespaced) {
      ns = ns_of(doc).empty() ? k.ns() : ns_of(doc);
      if (k.args.has("--namespace") && ns != k.ns()) {
        error("error: the namespace from the provided object \"" + ns + "\" does not match the namespace \"" + k.ns() +
              "\". You must pass '--namespace=" + ns + "' to perform this operation.");
        continue;
      }
      doc["metadata"]["namespace"] = ns;
    } else if (doc.contains("metadata") && doc["metadata"].is_object()) {
      doc["metadata"].erase("namespace");
    }
    if (name.empty()) {
      error("error: error when retrieving current configuration of:\nResource: \"" + gv + ", Resource=" + kind.plural +
            "\", GroupVersionKind: \"" + gv + ", Kind=" + kind.kind +
            "\"\nName: \"\", Namespace: \"" + ns + "\"\nfrom server for: \"" + file +
            "\": resource name may not be empty");
      continue;
    }
    const KubeKey key{kind.kind, ns, name};
    auto existing = store_.objects().find(key);
    // kubectl's annotation (GetModifiedConfiguration): the object with its annotations (an empty
    // map when it had none) but this one, compact JSON with a newline
    json annotated = sources[i].doc;
    if (!annotated.contains("metadata") || !annotated["metadata"].is_object()) annotated["metadata"] = json::object();
    if (!annotated["metadata"].contains("annotations") || !annotated["metadata"]["annotations"].is_object())
      annotated["metadata"]["annotations"] = json::object();
    annotated["metadata"]["annotations"].erase(kLastApplied);
    const std::string applied = annotated.dump() + "\n";
    std::string action = "created";
    json last_applied = json::object();
    if (existing != store_.objects().end()) {
      const json& old = existing->second;
      const std::string before = old.contains("metadata") && old["metadata"].contains("annotations")
                                     ? old["metadata"]["annotations"].value(kLastApplied, "")
                                     : "";
      if (before == applied) {  // an empty patch: kubectl sends nothing
        r.out += kind.singular() + "/" + name + " unchanged\n";
        continue;
      }
      if (json::accept(before)) last_applied = json::parse(before);
      action = "configured";
    }
    doc["metadata"]["annotations"][kLastApplied] = applied;
    // What the API server answers: a create (POST) for a new object, a patch of the live one.
    const json* crd = nullptr;
    if (!kube_schema::known(kind.api_version(), kind.kind)) {
      auto c = store_.objects().find({"CustomResourceDefinition", "", kind.plural + "." + kind.group});
      if (c != store_.objects().end()) crd = &c->second;
    }
    json candidate = doc;
    if (existing != store_.objects().end()) {
      const json& old = existing->second;
      if (old.contains("status")) candidate["status"] = old["status"];
      for (const char* field : {"/spec/clusterIP", "/spec/volumeName", "/spec/claimRef"}) {
        json::json_pointer p(field);
        if (old.contains(p) && !candidate.contains(p)) candidate[p] = old[p];
      }
    }
    const json* old = existing == store_.objects().end() ? nullptr : &existing->second;
    auto refusal = kube_validation::admit(kind, candidate, old, crd);
    if (refusal && refusal->reason == "BadRequest" && old) {
      // a patch decodes with the patched object (apiserver patch.go): strict errors without the
      // "cannot be handled" prefix
      const std::string prefix = kind.kind + " in version \"" + kind.version + "\" cannot be handled as a " + kind.kind + ": ";
      if (refusal->message.rfind(prefix + "strict decoding error: ", 0) == 0) refusal->message = refusal->message.substr(prefix.size());
    }
    if (!refusal && kind.namespaced && !store_.objects().count({"Namespace", "", ns})) {
      error("Error from server (NotFound): error when creating \"" + file + "\": namespaces \"" + ns + "\" not found");
      continue;
    }
    if (refusal) {
      std::string where = "error when creating \"" + file + "\": ";
      if (old) {
        json modified = annotated;
        modified["metadata"]["annotations"][kLastApplied] = applied;
        where = "error when applying patch:\n" + merge_patch(last_applied, modified).dump() + "\nto:\nResource: \"" +
                gv + ", Resource=" + kind.plural + "\", GroupVersionKind: \"" + gv + ", Kind=" + kind.kind + "\"\nName: \"" + name + "\", Namespace: \"" + ns + "\"\nfor: \"" + file +
                "\": error when patching \"" + file + "\": ";
      }
      error("Error from server (" + refusal->reason + "): " + where + refusal->message,
            refusal->reason == "Invalid" ? refusal : std::nullopt);
      continue;
    }
    doc = candidate;
    const std::optional<json> previous = existing == store_.objects().end() ? std::nullopt : std::optional(existing->second);
    store_.put(doc, "kubectl-client-side-apply");
    try {
      controllers_.reconcile();
    } catch (const json::exception& e) {  // what the simulator could not read (its tables let it through)
      if (previous)
        store_.objects()[key] = *previous;
      else
        store_.objects().erase(key);
      controllers_.reconcile();
      error("Error from server (BadRequest): error when creating \"" + file + "\": " + kind.kind + " in version \"" +
            kind.version + "\" cannot be handled as a " + kind.kind + ": " + e.what());
      continue;
    }
    engine_.log("kube", "object-applied", {{"kind", kind.kind}, {"namespace", ns}, {"name", name}, {"action", action}});
    r.out += kind.singular() + "/" + name + " " + action + "\n";
  }
  if (failures.size() == 1 && failures[0].invalid) {
    r.err = invalid_text(*failures[0].invalid);
  } else {
    for (const auto& f : failures) r.err += f.line + "\n";
  }
  if (!failures.empty()) r.code = 1;
  controllers_.reconcile();
  changed_();
  return r;
}

KubeResult KubeCtl::get(Kubectl& k, const KubeFiles& files, const std::string& stdin_data) {
  if (k.args.has("--filename")) return get_files(k, files, stdin_data);
  if (k.positional.empty()) return {1, "", "error: you must specify the type of resource to get\n"};
  auto [type, names] = type_and_names(k.positional);
  if (type.find(',') != std::string::npos)
    return {1, "", "sim: kubectl get takes one resource type at a time (not \"" + type + "\")\n"};
  auto kind = kind_by_resource(type);
  if (!kind) return {1, "", "error: the server doesn't have a resource type \"" + type + "\"\n"};
  const auto& verbs = verbs_of(*kind);
  if (std::find(verbs.begin(), verbs.end(), names.empty() ? "list" : "get") == verbs.end())
    return {1, "", "Error from server (MethodNotAllowed): the server does not allow this method on the requested resource\n"};
  KubeResult r;
  if (kind->kind == "ComponentStatus") r.err = "Warning: v1 ComponentStatus is deprecated in v1.19+\n";
  std::vector<json> items;
  if (names.empty()) {
    for (auto& obj : listed(*kind, k.ns(), k.all_ns()))
      if (selected(k.args.get("--selector"), labels_of(obj))) items.push_back(std::move(obj));
  } else {
    for (const auto& n : names) {
      auto obj = api_.object(kind->kind, kind->namespaced ? k.ns() : "", n);
      if (obj)
        items.push_back(*obj);
      else if (!k.args.has("--ignore-not-found")) {
        r.code = 1;
        r.err += "Error from server (NotFound): " + kind->resource() + " \"" + n + "\" not found\n";
      }
    }
  }
  for (auto& obj : items)
    if (kind->kind == "Deployment" || kind->kind == "StatefulSet" || kind->kind == "DaemonSet")
      obj["status"] = controllers_.workload_status(kind->kind, obj);
  const std::string output = k.args.get("--output");
  if (output == "json" || output == "yaml") {  // as kubectl 1.21+ prints them: without managedFields unless asked
    if (!k.args.has("--show-managed-fields"))
      for (auto& obj : items)
        if (obj.contains("metadata") && obj["metadata"].is_object()) obj["metadata"].erase("managedFields");
  }
  if (items.empty()) {
    if (!names.empty()) return r;
    if (output == "json" || output == "yaml") {  // an empty List
      json doc = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}, {"metadata", {{"resourceVersion", ""}}}};
      r.out = output == "json" ? doc.dump(4) + "\n" : kube_to_yaml(doc);
    } else if (output.empty() || output == "wide") {
      r.err += kind->namespaced && !k.all_ns() ? "No resources found in " + k.ns() + " namespace.\n"
                                               : "No resources found\n";
    }
    return r;
  }
  json doc =
      items.size() == 1 && names.size() == 1
          ? items[0]
          : json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}, {"metadata", {{"resourceVersion", ""}}}};
  if (output == "json")
    r.out += doc.dump(4) + "\n";
  else if (output == "yaml")
    r.out += kube_to_yaml(doc);
  else if (output == "name") {
    for (const auto& obj : items) r.out += kind->singular() + "/" + name_of(obj) + "\n";
  } else if (output.starts_with("jsonpath=")) {
    r.out += jsonpath(doc, output.substr(9));
  } else if (output.empty() || output == "wide") {
    std::vector<std::vector<std::string>> rows;
    const bool with_ns = k.all_ns() && kind->namespaced;
    for (std::size_t i = 0; i <= items.size(); ++i) {
      std::vector<std::string> row;
      const bool header = i == 0;
      const json obj = header ? json::object() : items[i - 1];
      if (with_ns) row.push_back(header ? "NAMESPACE" : ns_of(obj));
      row.push_back(header ? "NAME" : name_of(obj));
      if (kind->kind == "Pod") {
        auto p = header ? controllers_.pod_states().end() : controllers_.pod_states().find({ns_of(obj), name_of(obj)});
        bool ready = !header && p->second.ready;
        std::string status = header                   ? "STATUS"
                             : p->second.node.empty() ? "Pending"
                             : ready                  ? "Running"
                                                      : "ContainerCreating";
        row.insert(row.end(),
                   {header  ? "READY"
                    : ready ? "1/1"
                            : "0/1",
                    status, header ? "RESTARTS" : "0", header ? "AGE" : age(engine_.now() - p->second.created)});
      } else if (kind->kind == "Node") {
        const KubeNodeState* n = header ? nullptr : &nodes_.states().at(name_of(obj));
        row.insert(row.end(), {header     ? "STATUS"
                               : n->ready ? "Ready"
                                          : "NotReady",
                               header             ? "ROLES"
                               : n->control_plane ? "control-plane"
                                                  : "<none>",
                               header ? "AGE" : age(engine_.now() - n->since), header ? "VERSION" : setup_.version});
      } else if (kind->kind == "Namespace") {
        row.push_back(header ? "STATUS" : "Active");
      } else if (kind->kind == "Deployment" || kind->kind == "StatefulSet") {
        std::string ready =
            header ? "READY"
                   : std::to_string(obj["status"].value("readyReplicas", 0)) + "/" + std::to_string(replicas_of(obj));
        row.push_back(ready);
      } else if (kind->kind == "Service") {
        const json spec = spec_of(obj);
        std::string external = "<none>";
        if (spec.value("type", "") == "LoadBalancer") {
          external = "<pending>";
          if (obj.contains("/status/loadBalancer/ingress/0/ip"_json_pointer))
            external = obj["status"]["loadBalancer"]["ingress"][0]["ip"];
        }
        row.insert(row.end(), {header ? "TYPE" : spec.value("type", "ClusterIP"),
                               header ? "CLUSTER-IP" : spec.value("clusterIP", "None"),
                               header ? "EXTERNAL-IP" : external, header ? "PORT(S)" : ports_column(spec)});
      }
      rows.push_back(row);
    }
    r.out += table(rows);
  } else {
    return {1, "",
            "error: unable to match a printer suitable for the output format \"" + output +
                "\", allowed formats are: json,jsonpath,name,wide,yaml\n"};
  }
  return r;
}

/// `kubectl get -f FILE`: the objects a manifest names, each found or NotFound (only -o name is modelled).
KubeResult KubeCtl::get_files(Kubectl& k, const KubeFiles& files, const std::string& stdin_data) {
  std::vector<Source> sources;
  if (auto err = read_sources(k.args.values("--filename"), stdin_data, files, sources)) return {1, "", *err};
  KubeResult r;
  for (const auto& s : sources) {
    auto kind = api_.find_kind(s.doc.value("apiVersion", ""), s.doc.value("kind", ""));
    const std::string ns = kind && kind->namespaced ? (ns_of(s.doc).empty() ? k.ns() : ns_of(s.doc)) : "";
    if (kind && api_.object(kind->kind, ns, name_of(s.doc))) {
      r.out += kind->singular() + "/" + name_of(s.doc) + "\n";
      continue;
    }
    r.code = 1;
    r.err += "Error from server (NotFound): " + (kind ? kind->resource() : s.doc.value("kind", "")) + " \"" +
             name_of(s.doc) + "\" not found\n";
  }
  return r;
}

KubeResult KubeCtl::remove(Kubectl& k, const KubeFiles& files, const std::string& stdin_data) {
  std::vector<std::pair<KubeKind, std::pair<std::string, std::string>>> targets;  // kind, (ns, name)
  KubeResult r;
  if (k.args.has("--filename")) {
    std::vector<Source> sources;
    if (auto err = read_sources(k.args.values("--filename"), stdin_data, files, sources)) return {1, "", *err};
    for (const auto& s : sources) {
      auto kind = api_.find_kind(s.doc.value("apiVersion", ""), s.doc.value("kind", ""));
      if (!kind) {
        r.code = 1;
        r.err += "error: resource mapping not found for name: \"" + name_of(s.doc) + "\" namespace: \"" + ns_of(s.doc) +
                 "\" from \"" + s.file + "\": no matches for kind \"" + s.doc.value("kind", "") + "\" in version \"" +
                 s.doc.value("apiVersion", "") + "\"\nensure CRDs are installed first\n";
        continue;
      }
      std::string ns = kind->namespaced ? (ns_of(s.doc).empty() ? k.ns() : ns_of(s.doc)) : "";
      targets.push_back({*kind, {ns, name_of(s.doc)}});
    }
  } else {
    if (k.positional.empty())
      return {1, "", "error: You must provide one or more resources by argument or filename.\n"};
    auto [type, names] = type_and_names(k.positional);
    auto kind = kind_by_resource(type);
    if (!kind) return {1, "", "error: the server doesn't have a resource type \"" + type + "\"\n"};
    if (names.empty()) return {1, "", "error: resource(s) were provided, but no name was specified\n"};
    for (const auto& n : names) targets.push_back({*kind, {kind->namespaced ? k.ns() : "", n}});
  }
  for (const auto& [kind, where] : targets) {
    const auto& [ns, name] = where;
    bool found = false;
    if (kind.kind == "Pod") {
      found = controllers_.pod_states().erase({ns, name}) > 0;
      store_.erase({"Pod", ns, name});
    } else if (kind.kind == "Node") {
      found = nodes_.states().erase(name) > 0;
    } else {
      found = store_.objects().count({kind.kind, ns, name}) > 0;
      if (found && kind.kind == "CustomResourceDefinition")
        for (const auto& ck : crd_kinds(store_.objects().at({kind.kind, ns, name})))
          for (auto it = store_.objects().begin(); it != store_.objects().end();)
            it = std::get<0>(it->first) == ck.kind ? store_.objects().erase(it) : std::next(it);
      store_.erase({kind.kind, ns, name});
    }
    if (!found) {
      if (k.args.has("--ignore-not-found")) continue;
      r.code = 1;
      r.err += "Error from server (NotFound): " + kind.resource() + " \"" + name + "\" not found\n";
      continue;
    }
    engine_.log("kube", "object-deleted", {{"kind", kind.kind}, {"namespace", ns}, {"name", name}});
    r.out += kind.singular() + " \"" + name + "\" deleted\n";
  }
  controllers_.reconcile();
  changed_();
  return r;
}

bool KubeCtl::condition_met(const KubeKind& kind, const json& obj, const std::string& condition) const {
  const std::string c = lower(condition);
  if (kind.kind == "Pod") {
    auto p = controllers_.pod_states().find({ns_of(obj), name_of(obj)});
    return c == "ready" && p != controllers_.pod_states().end() && p->second.ready;
  }
  if (kind.kind == "Node") {
    auto n = nodes_.states().find(name_of(obj));
    return c == "ready" && n != nodes_.states().end() && n->second.ready;
  }
  if (kind.kind == "Deployment") {
    auto current = api_.object("Deployment", ns_of(obj), name_of(obj));
    if (!current) return false;
    const int replicas = replicas_of(*current);
    const int ready = controllers_.workload_status("Deployment", *current).value("readyReplicas", 0);
    if (c == "available") return ready >= replicas - replicas / 4;  // maxUnavailable 25%, rounded down
    return c == "progressing";
  }
  auto current = api_.object(kind.kind, ns_of(obj), name_of(obj));
  if (!current || !current->contains("/status/conditions"_json_pointer)) return false;
  for (const auto& cond : (*current)["status"]["conditions"])
    if (lower(cond.value("type", "")) == c && cond.value("status", "") == "True") return true;
  return false;
}

bool KubeCtl::await(Duration timeout, const std::function<bool()>& check) {
  if (check()) return true;
  if (!engine_.in_actor()) return false;
  for (Duration waited(0); waited < timeout; waited += 1s) {
    engine_.sleep(1s);
    if (check()) return true;
  }
  return false;
}

KubeResult KubeCtl::wait(Kubectl& k) {
  const std::string for_flag = k.args.get("--for");
  if (!for_flag.starts_with("condition="))
    return {1, "", "sim: kubectl wait supports --for=condition=NAME (got \"" + for_flag + "\")\n"};
  const std::string condition = for_flag.substr(10);
  auto timeout = go_duration(k.args.get("--timeout", "30s"));
  if (!timeout) return {1, "", "error: invalid argument \"" + k.args.get("--timeout") + "\" for \"--timeout\" flag\n"};
  if (k.positional.empty()) return {1, "", "error: resource(s) were provided, but no name was specified\n"};
  auto [type, names] = type_and_names(k.positional);
  auto kind = kind_by_resource(type);
  if (!kind) return {1, "", "error: the server doesn't have a resource type \"" + type + "\"\n"};
  std::vector<json> targets;
  if (names.empty()) {
    if (!k.args.has("--all") && !k.args.has("--selector"))
      return {1, "", "error: resource(s) were provided, but no name was specified\n"};
    for (auto& obj : listed(*kind, k.ns(), k.all_ns()))
      if (selected(k.args.get("--selector"), labels_of(obj))) targets.push_back(std::move(obj));
  } else {
    for (const auto& n : names) {
      auto obj = api_.object(kind->kind, kind->namespaced ? k.ns() : "", n);
      if (!obj) return {1, "", "Error from server (NotFound): " + kind->resource() + " \"" + n + "\" not found\n"};
      targets.push_back(*obj);
    }
  }
  if (targets.empty()) return {1, "", "error: no matching resources found\n"};
  KubeResult r;
  const Duration deadline = engine_.now() + *timeout;
  for (const auto& obj : targets) {
    const Duration left = std::max(Duration(0), deadline - engine_.now());
    if (!await(left, [&] { return condition_met(*kind, obj, condition); })) {
      r.code = 1;
      r.err = "error: timed out waiting for the condition on " + kind->plural + "/" + name_of(obj) + "\n";
      return r;
    }
    r.out += kind->singular() + "/" + name_of(obj) + " condition met\n";
  }
  return r;
}

KubeResult KubeCtl::create(Kubectl& k, const KubeFiles& files) {
  const auto& p = k.positional;
  json obj;
  KubeKind kind;
  if (p.size() == 2 && (p[0] == "namespace" || p[0] == "ns")) {
    obj = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", p[1]}}}};
    kind = builtin_kinds()[0];
  } else if (p.size() == 3 && p[0] == "secret" && p[1] == "tls") {
    const std::string cert_path = k.args.get("--cert"), key_path = k.args.get("--key");
    if (cert_path.empty() || key_path.empty()) return {1, "", "error: key and cert must be specified\n"};
    auto cert = files.read(cert_path);
    if (!cert) return {1, "", "error: open " + cert_path + ": no such file or directory\n"};
    auto key = files.read(key_path);
    if (!key) return {1, "", "error: open " + key_path + ": no such file or directory\n"};
    if (cert->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      return {1, "", "error: tls: failed to find any PEM data in certificate input\n"};
    if (key->find("PRIVATE KEY-----") == std::string::npos)
      return {1, "", "error: tls: failed to find any PEM data in key input\n"};
    if (!store_.objects().count({"Namespace", "", k.ns()}))
      return {1, "", "error: failed to create secret namespaces \"" + k.ns() + "\" not found\n"};
    obj = {{"apiVersion", "v1"},
           {"kind", "Secret"},
           {"type", "kubernetes.io/tls"},
           {"metadata", {{"name", p[2]}, {"namespace", k.ns()}}},
           {"data", {{"tls.crt", base64(*cert)}, {"tls.key", base64(*key)}}}};
    kind = *kind_by_resource("secrets");
  } else {
    return {1, "", "sim: kubectl create supports `namespace NAME` and `secret tls NAME --cert F --key F`\n"};
  }
  const std::string ns = kind.namespaced ? k.ns() : "", name = name_of(obj);
  if (store_.objects().count({kind.kind, ns, name}))
    return {1, "", "Error from server (AlreadyExists): " + kind.resource() + " \"" + name + "\" already exists\n"};
  if (auto refusal = kube_validation::admit(kind, obj, nullptr, nullptr)) {
    if (refusal->reason == "Invalid") return {1, "", invalid_text(*refusal)};
    return {1, "", "Error from server (" + refusal->reason + "): " + refusal->message + "\n"};
  }
  store_.put(obj, "kubectl-create");
  engine_.log("kube", "object-applied",
              {{"kind", kind.kind}, {"namespace", ns}, {"name", name}, {"action", "created"}});
  controllers_.reconcile();
  changed_();
  return {0, kind.singular() + "/" + name + " created\n", ""};
}

KubeResult KubeCtl::rollout(Kubectl& k) {
  if (k.positional.size() < 2 || k.positional[0] != "status")
    return {1, "", "sim: kubectl rollout supports `status TYPE/NAME`\n"};
  std::string type = k.positional[1], name = k.positional.size() > 2 ? k.positional[2] : "";
  if (auto slash = type.find('/'); slash != std::string::npos) {
    name = type.substr(slash + 1);
    type = type.substr(0, slash);
  }
  auto kind = kind_by_resource(type);
  if (!kind || (kind->kind != "Deployment" && kind->kind != "StatefulSet" && kind->kind != "DaemonSet"))
    return {1, "", "error: no status viewer has been implemented for " + type + "\n"};
  if (!api_.object(kind->kind, k.ns(), name))
    return {1, "", "Error from server (NotFound): " + kind->resource() + " \"" + name + "\" not found\n"};
  // kubectl waits without limit by default; the simulator stops after ten minutes of virtual time.
  auto timeout = go_duration(k.args.get("--timeout", "10m"));
  if (!timeout) return {1, "", "error: invalid argument \"" + k.args.get("--timeout") + "\" for \"--timeout\" flag\n"};
  auto status = [&] {
    auto obj = api_.object(kind->kind, k.ns(), name);
    return obj ? controllers_.workload_status(kind->kind, *obj) : json::object();
  };
  auto desired = [&] {
    auto obj = api_.object(kind->kind, k.ns(), name);
    if (!obj) return 0;
    if (kind->kind == "DaemonSet") return status().value("desiredNumberScheduled", 0);
    return replicas_of(*obj);
  };
  auto ready = [&] { return status().value(kind->kind == "DaemonSet" ? "numberReady" : "readyReplicas", 0); };
  if (!await(*timeout, [&] { return ready() >= desired(); })) {
    return {1,
            "Waiting for " + lower(kind->kind) + " \"" + name + "\" rollout to finish: " + std::to_string(ready()) +
                " of " + std::to_string(desired()) + " updated replicas are available...\n",
            "error: timed out waiting for the condition\n"};
  }
  if (kind->kind == "StatefulSet")
    return {0, "partitioned roll out complete: " + std::to_string(desired()) + " new pods have been updated...\n", ""};
  if (kind->kind == "DaemonSet") return {0, "daemon set \"" + name + "\" successfully rolled out\n", ""};
  return {0, "deployment \"" + name + "\" successfully rolled out\n", ""};
}

}  // namespace drctl::sim
