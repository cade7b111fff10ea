// The simulated API server accepts what Kubernetes 1.28's accepts and refuses the rest with its
// words, as kubectl 1.28 prints them. Each rule has a broken object and a valid one; the expected
// text comes from the upstream source named beside it (kubernetes v1.28: pkg/apis/*/validation,
// staging/src/k8s.io/apimachinery/pkg/util/validation, apiserver's handlers, kubectl's
// cmdutil.CheckErr), or from real output quoted in public issues where named.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/kube.hpp"
#include "support/kube_machine.hpp"

using namespace drctl::sim;
using namespace std::chrono_literals;

namespace {

using Machine = support::KubeMachine;

std::string init_config(const std::string& version) {
  return "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.20.10\n"
         "---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: " +
         version + "\ncontrolPlaneEndpoint: 10.0.20.10:6443\nnetworking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n";
}

/// A control plane with the namespace `web`, at a Kubernetes version.
struct Lab {
  Engine engine{7};
  KubeCluster kube{engine};
  Machine cp{{"k8s-master", "10.0.20.10", true, true, false}, {}};

  explicit Lab(const std::string& version = "v1.28.2") {
    cp.files["/root/kubeadm.yaml"] = init_config(version);
    auto init = kube.kubeadm(cp.node, {"kubeadm", "init", "--config", "/root/kubeadm.yaml"}, cp.io());
    REQUIRE_MESSAGE(init.code == 0, init.err);
    engine.run_for(20s);
    auto ns = kubectl({"create", "namespace", "web"});
    REQUIRE_MESSAGE(ns.code == 0, ns.err);
  }
  KubeResult kubectl(const std::vector<std::string>& args, const std::string& stdin_data = "") {
    std::vector<std::string> argv = {"kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"};
    argv.insert(argv.end(), args.begin(), args.end());
    return kube.kubectl(argv, stdin_data, {}, cp.io());
  }
  KubeResult apply(const std::string& manifest) { return kubectl({"apply", "-f", "-"}, manifest); }
};

/// Applies `bad` (expecting exactly `err` on stderr and exit 1) and then `good` (expecting success).
void refused_then_taken(Lab& lab, const std::string& bad, const std::string& err, const std::string& good) {
  auto r = lab.apply(bad);
  CHECK(r.code == 1);
  CHECK(r.err == err);
  r = lab.apply(good);
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.err.empty());
}

std::string service(const std::string& spec, const std::string& name = "blog") {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: web}\nspec:\n" + spec;
}
std::string ingress(const std::string& spec, const std::string& meta_extra = "") {
  return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: blog, namespace: web" + meta_extra + "}\nspec:\n" + spec;
}
std::string deployment(const std::string& spec, const std::string& name = "blog") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + ", namespace: web}\nspec:\n" + spec;
}
const char* kPodSpec = R"(  template:
    metadata: {labels: {app: blog}}
    spec:
      containers: [{name: blog, image: nginx:1.25, ports: [{containerPort: 80}]}]
)";

// The texts of apimachinery's name validators (pkg/util/validation/validation.go, RegexError).
const std::string kDns1035 =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, "
    "and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
    "'[a-z]([-a-z0-9]*[a-z0-9])?')";
const std::string kDns1123Label =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const std::string kDns1123Subdomain =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

}  // namespace

// --- served group versions -------------------------------------------------------------------

TEST_CASE("sim kube validation: a group version the pinned minor no longer serves has no mapping") {
  Lab lab;
  // kubectl 1.28, cli-runtime's builder (resource mapping) and meta.NoKindMatchError; Ingress
  // networking.k8s.io/v1beta1 was removed in 1.22 (deprecation guide).
  const std::string old_ingress = "apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata: {name: blog}\n"
                                  "spec:\n  rules:\n  - http:\n      paths:\n      - backend: {serviceName: blog, servicePort: 80}\n";
  auto r = lab.apply(old_ingress);
  CHECK(r.code == 1);
  CHECK(r.err ==
        "error: resource mapping not found for name: \"blog\" namespace: \"\" from \"STDIN\": no matches for kind "
        "\"Ingress\" in version \"networking.k8s.io/v1beta1\"\nensure CRDs are installed first\n");
  // batch/v1beta1 CronJob and policy/v1beta1 PodSecurityPolicy: removed in 1.25
  r = lab.apply("apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: backup, namespace: web}\n");
  CHECK(r.err ==
        "error: resource mapping not found for name: \"backup\" namespace: \"web\" from \"STDIN\": no matches for kind "
        "\"CronJob\" in version \"batch/v1beta1\"\nensure CRDs are installed first\n");
  r = lab.apply("apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: p}\n");
  CHECK(r.err.find("no matches for kind \"PodSecurityPolicy\" in version \"policy/v1beta1\"") != std::string::npos);
  // the versions 1.28 serves
  r = lab.apply(ingress("  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: blog, port: {number: 80}}}}\n"));
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == "ingress.networking.k8s.io/blog created\n");
  r = lab.apply("apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: blog, namespace: web}\n"
                "spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: blog}, maxReplicas: 3}\n");
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == "horizontalpodautoscaler.autoscaling/blog created\n");
}

TEST_CASE("sim kube validation: flowcontrol v1beta2 is served up to 1.28 and gone in 1.29") {
  const std::string fs = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta2\nkind: FlowSchema\nmetadata: {name: backups}\n"
                         "spec: {priorityLevelConfiguration: {name: workload-low}}\n";
  Lab v128;
  auto r = v128.apply(fs);
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == "flowschema.flowcontrol.apiserver.k8s.io/backups created\n");
  Lab v129("v1.29.0");
  r = v129.apply(fs);
  CHECK(r.code == 1);
  CHECK(r.err ==
        "error: resource mapping not found for name: \"backups\" namespace: \"\" from \"STDIN\": no matches for kind "
        "\"FlowSchema\" in version \"flowcontrol.apiserver.k8s.io/v1beta2\"\nensure CRDs are installed first\n");
  // 1.29 serves flowcontrol v1 instead
  std::string v1 = fs;
  v1.replace(v1.find("v1beta2"), 7, "v1");
  r = v129.apply(v1);
  CHECK_MESSAGE(r.code == 0, r.err);
}

// --- strict decoding (fieldValidation=Strict, kubectl >= 1.27's default) -----------------------

TEST_CASE("sim kube validation: unknown fields are refused with the strict decoding error") {
  Lab lab;
  // apiserver handlers/create.go transformDecodeError: `%s in version %q cannot be handled as a %s: %v`;
  // runtime.NewStrictDecodingError: "strict decoding error: " + the fields joined by ", "; the
  // fields in the order of the JSON kubectl sends (keys sorted).
  refused_then_taken(
      lab,
      ingress("  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
              "        backend: {serviceName: blog, servicePort: 80}\n"),
      "Error from server (BadRequest): error when creating \"STDIN\": Ingress in version \"v1\" cannot be handled as a "
      "Ingress: strict decoding error: unknown field \"spec.rules[0].http.paths[0].backend.serviceName\", unknown "
      "field \"spec.rules[0].http.paths[0].backend.servicePort\"\n",
      ingress("  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
              "        backend: {service: {name: blog, port: {number: 80}}}\n"));
  // in metadata and at the top too
  auto r = lab.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: web, label: {a: b}}\ndata: {a: b}\nspec: {}\n");
  CHECK(r.err ==
        "Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be handled "
        "as a ConfigMap: strict decoding error: unknown field \"metadata.label\", unknown field \"spec\"\n");
}

TEST_CASE("sim kube validation: a value of the wrong JSON type is refused as Go's decoder words it") {
  Lab lab;
  // encoding/json UnmarshalTypeError: "json: cannot unmarshal " + value + " into Go struct field " +
  // Struct + "." + Field + " of type " + Type (Struct the innermost struct, Field the JSON path).
  refused_then_taken(lab, service("  ports: [{port: \"80\"}]\n"),
                     "Error from server (BadRequest): error when creating \"STDIN\": Service in version \"v1\" cannot "
                     "be handled as a Service: json: cannot unmarshal string into Go struct field "
                     "ServicePort.spec.ports.port of type int32\n",
                     service("  ports: [{port: 80}]\n"));
  auto r = lab.apply(deployment("  replicas: 1.5\n  selector: {matchLabels: {app: blog}}\n" + std::string(kPodSpec), "b2"));
  CHECK(r.err ==
        "Error from server (BadRequest): error when creating \"STDIN\": Deployment in version \"v1\" cannot be handled "
        "as a Deployment: json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type "
        "int32\n");
  r = lab.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: web, labels: [a]}\n");
  CHECK(r.err ==
        "Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be handled "
        "as a ConfigMap: json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type "
        "map[string]string\n");
  // resource.Quantity's UnmarshalJSON (ParseQuantity's ErrFormatWrong)
  r = lab.apply("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: web}\n"
                "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 10GB}}}\n");
  CHECK(r.err ==
        "Error from server (BadRequest): error when creating \"STDIN\": PersistentVolumeClaim in version \"v1\" cannot "
        "be handled as a PersistentVolumeClaim: quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'\n");
  // []byte fields are base64 (encoding/base64 CorruptInputError)
  r = lab.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: web}\ndata: {password: not base64!}\n");
  CHECK(r.err ==
        "Error from server (BadRequest): error when creating \"STDIN\": Secret in version \"v1\" cannot be handled as "
        "a Secret: illegal base64 data at input byte 3\n");
  r = lab.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: web}\ndata: {password: aHVudGVyMg==}\n");
  CHECK_MESSAGE(r.code == 0, r.err);
}

// --- Service (pkg/apis/core/validation ValidateService, validateServicePort) -------------------

TEST_CASE("sim kube validation: Service ports, protocol, type and names") {
  Lab lab;
  // kubectl CheckErr: an Invalid status alone prints "The KIND "NAME" is invalid: " and its cause
  refused_then_taken(lab, service("  ports: [{port: 0}]\n"),
                     "The Service \"blog\" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and "
                     "65535, inclusive\n",
                     service("  ports: [{port: 80}]\n"));
  auto r = lab.apply(service("  ports: [{port: 80, protocol: tcp}]\n", "b2"));
  CHECK(r.err ==
        "The Service \"b2\" is invalid: spec.ports[0].protocol: Unsupported value: \"tcp\": supported values: \"SCTP\", "
        "\"TCP\", \"UDP\"\n");
  r = lab.apply(service("  ports: [{port: 80}]\n", "b2") + "  type: Loadbalancer\n");
  CHECK(r.err ==
        "The Service \"b2\" is invalid: spec.type: Unsupported value: \"Loadbalancer\": supported values: "
        "\"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"\n");
  r = lab.apply(service("  ports: []\n", "b2"));
  CHECK(r.err == "The Service \"b2\" is invalid: spec.ports: Required value\n");
  // several causes: kubectl's MultilineError lists them under the prefix (real output quoted in
  // kubernetes/kubernetes issues: "is invalid: \n* ...")
  r = lab.apply(service("  ports: [{port: 80}, {port: 443}]\n", "b2"));
  CHECK(r.err ==
        "The Service \"b2\" is invalid: \n* spec.ports[0].name: Required value\n* spec.ports[1].name: Required value\n");
  r = lab.apply(service("  ports: [{name: http, port: 80}, {name: https, port: 443, targetPort: HTTPS}]\n", "b2"));
  // IsValidPortName gives every message that applies: no lowercase letter is two
  CHECK(r.err ==
        "The Service \"b2\" is invalid: \n* spec.ports[1].targetPort: Invalid value: \"HTTPS\": must contain only "
        "alpha-numeric characters (a-z, 0-9), and hyphens (-)\n* spec.ports[1].targetPort: Invalid value: \"HTTPS\": "
        "must contain at least one letter (a-z)\n");
  r = lab.apply(service("  ports: [{name: http, port: 80}, {name: https, port: 443, targetPort: https}]\n", "b2"));
  CHECK_MESSAGE(r.code == 0, r.err);
  // metadata.name: ValidateServiceName is a DNS-1035 label
  r = lab.apply(service("  ports: [{port: 80}]\n", "1blog"));
  CHECK(r.err == "The Service \"1blog\" is invalid: metadata.name: Invalid value: \"1blog\": " + kDns1035 + "\n");
}

TEST_CASE("sim kube validation: externalTrafficPolicy only on externally-accessible Services, loadBalancerIP unchecked") {
  Lab lab;
  // validateServiceExternalTrafficPolicy (real output quoted in public issues)
  refused_then_taken(lab, service("  ports: [{port: 80}]\n  externalTrafficPolicy: Local\n"),
                     "The Service \"blog\" is invalid: spec.externalTrafficPolicy: Invalid value: \"Local\": may only be "
                     "set for externally-accessible services\n",
                     service("  type: LoadBalancer\n  ports: [{port: 80}]\n  externalTrafficPolicy: Local\n"));
  auto r = lab.apply(service("  type: NodePort\n  ports: [{port: 80}]\n  externalTrafficPolicy: local\n", "b2"));
  CHECK(r.err ==
        "The Service \"b2\" is invalid: spec.externalTrafficPolicy: Unsupported value: \"local\": supported values: "
        "\"Cluster\", \"Local\"\n");
  // 1.28's ValidateService does not check loadBalancerIP (only a warning for non-canonical IPs):
  // a malformed one is stored, and MetalLB is what refuses it.
  r = lab.apply(service("  type: LoadBalancer\n  loadBalancerIP: 10.0.20.300\n  ports: [{port: 80}]\n", "b3"));
  CHECK_MESSAGE(r.code == 0, r.err);
  // the nodePort allocator's range (30000-32767 by default)
  r = lab.apply(service("  type: NodePort\n  ports: [{port: 80, nodePort: 8080}]\n", "b4"));
  CHECK(r.err ==
        "The Service \"b4\" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid "
        "range. The range of valid ports is 30000-32767\n");
  r = lab.apply(service("  ports: [{port: 80, nodePort: 30080}]\n", "b4"));
  CHECK(r.err == "The Service \"b4\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'\n");
}

// --- Ingress (pkg/apis/networking/validation) ---------------------------------------------------

TEST_CASE("sim kube validation: Ingress pathType, paths, backends, hosts and class") {
  Lab lab;
  const std::string backend = "backend: {service: {name: blog, port: {number: 80}}}";
  // validateHTTPIngressPath (real output quoted in public issues)
  refused_then_taken(lab, ingress("  rules:\n  - http:\n      paths:\n      - {path: /, " + backend + "}\n"),
                     "The Ingress \"blog\" is invalid: spec.rules[0].http.paths[0].pathType: Required value: pathType "
                     "must be specified\n",
                     ingress("  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, " + backend + "}\n"));
  auto r = lab.apply(ingress("  rules:\n  - http:\n      paths:\n      - {path: /, pathType: prefix, " + backend + "}\n"));
  CHECK(r.err ==
        "The Ingress \"blog\" is invalid: spec.rules[0].http.paths[0].pathType: Unsupported value: \"prefix\": "
        "supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"\n");
  r = lab.apply(ingress("  rules:\n  - http:\n      paths:\n      - {path: blog, pathType: Exact, " + backend + "}\n"));
  CHECK(r.err == "The Ingress \"blog\" is invalid: spec.rules[0].http.paths[0].path: Invalid value: \"blog\": must be an absolute path\n");
  r = lab.apply(ingress("  rules:\n  - http:\n      paths:\n      - {path: blog, pathType: ImplementationSpecific, " + backend + "}\n"));
  CHECK(r.err == "The Ingress \"blog\" is invalid: spec.rules[0].http.paths[0].path: Invalid value: \"blog\": must be an absolute path\n");
  // validateIngressBackend
  r = lab.apply(ingress("  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: blog}}}\n"));
  CHECK(r.err ==
        "The Ingress \"blog\" is invalid: spec.rules[0].http.paths[0].backend: Required value: port name or number is "
        "required\n");
  r = lab.apply(ingress("  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {}}\n"));
  CHECK(r.err ==
        "The Ingress \"blog\" is invalid: spec.rules[0].http.paths[0].backend: Invalid value: \"\": resource or service "
        "backend is required\n");
  // hosts: DNS names, not IPs (validateIngressRules, validateIngressTLS)
  r = lab.apply(ingress("  rules:\n  - host: 10.0.20.200\n    http:\n      paths:\n      - {path: /, pathType: Prefix, " +
                        backend + "}\n"));
  CHECK(r.err == "The Ingress \"blog\" is invalid: spec.rules[0].host: Invalid value: \"10.0.20.200\": must be a DNS name, not an IP address\n");
  r = lab.apply(ingress("  tls: [{hosts: [Blog.example.com], secretName: tls}]\n  rules:\n  - http:\n      paths:\n"
                        "      - {path: /, pathType: Prefix, " + backend + "}\n"));
  CHECK(r.err == "The Ingress \"blog\" is invalid: spec.tls[0].hosts[0]: Invalid value: \"Blog.example.com\": " + kDns1123Subdomain + "\n");
  // ValidateIngressCreate: the class annotation beside ingressClassName (real output quoted in public issues)
  r = lab.apply(ingress("  ingressClassName: nginx\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, " +
                            backend + "}\n",
                        ", annotations: {kubernetes.io/ingress.class: public}"));
  CHECK(r.err ==
        "The Ingress \"blog\" is invalid: annotations.kubernetes.io/ingress.class: Invalid value: \"public\": can not be "
        "set when the class field is also set\n");
}

// --- workloads (pkg/apis/apps/validation, core ValidatePodTemplateSpec) ------------------------

TEST_CASE("sim kube validation: Deployment selector, template labels, containers and replicas") {
  Lab lab;
  // a missing selector selects nothing, so the template does not match either (real output
  // quoted in public issues)
  refused_then_taken(lab, deployment(kPodSpec),
                     "The Deployment \"blog\" is invalid: \n* spec.selector: Required value\n"
                     "* spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"blog\"}: `selector` "
                     "does not match template `labels`\n",
                     deployment("  selector: {matchLabels: {app: blog}}\n" + std::string(kPodSpec)));
  const std::string sel = "  selector: {matchLabels: {app: b2}}\n  template:\n    metadata: {labels: {app: b2}}\n    spec:\n";
  auto r = lab.apply(deployment(sel + "      containers: []\n", "b2"));
  CHECK(r.err == "The Deployment \"b2\" is invalid: spec.template.spec.containers: Required value\n");
  r = lab.apply(deployment(sel + "      containers: [{name: Web_1, image: nginx}]\n", "b2"));
  CHECK(r.err == "The Deployment \"b2\" is invalid: spec.template.spec.containers[0].name: Invalid value: \"Web_1\": " +
                     kDns1123Label + "\n");
  r = lab.apply(deployment(sel + "      containers: [{name: web}]\n", "b2"));
  CHECK(r.err == "The Deployment \"b2\" is invalid: spec.template.spec.containers[0].image: Required value\n");
  r = lab.apply(deployment(sel + "      containers: [{name: web, image: nginx, ports: [{containerPort: 70000}]}]\n", "b2"));
  CHECK(r.err ==
        "The Deployment \"b2\" is invalid: spec.template.spec.containers[0].ports[0].containerPort: Invalid value: "
        "70000: must be between 1 and 65535, inclusive\n");
  r = lab.apply(deployment("  replicas: -1\n" + sel + "      containers: [{name: web, image: nginx}]\n", "b2"));
  CHECK(r.err == "The Deployment \"b2\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n");
  r = lab.apply(deployment(sel + "      restartPolicy: Never\n      containers: [{name: web, image: nginx}]\n", "b2"));
  CHECK(r.err ==
        "The Deployment \"b2\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported "
        "values: \"Always\"\n");
  r = lab.apply(deployment(sel + "      containers: [{name: web, image: nginx}]\n", "Blog"));
  CHECK(r.err == "The Deployment \"Blog\" is invalid: metadata.name: Invalid value: \"Blog\": " + kDns1123Subdomain + "\n");
  // an update may not change the selector (ValidateDeploymentUpdate)
  r = lab.apply(deployment("  selector: {matchLabels: {app: blog, tier: web}}\n  template:\n    metadata: {labels: {app: blog, tier: web}}\n"
                           "    spec:\n      containers: [{name: blog, image: nginx:1.25}]\n"));
  CHECK(r.err ==
        "The Deployment \"blog\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string"
        "{\"app\":\"blog\", \"tier\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable\n");
}

TEST_CASE("sim kube validation: DaemonSet and StatefulSet templates must match their selectors") {
  Lab lab;
  const std::string ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: speaker, namespace: web}\nspec:\n";
  const std::string tmpl = "  template:\n    metadata: {labels: {app: speaker}}\n    spec:\n      containers: [{name: speaker, image: speaker}]\n";
  // ValidateDaemonSetSpec has no Required for the selector: a nil one just matches nothing
  refused_then_taken(lab, ds + tmpl,
                     "The DaemonSet \"speaker\" is invalid: spec.template.metadata.labels: Invalid value: "
                     "map[string]string{\"app\":\"speaker\"}: `selector` does not match template `labels`\n",
                     ds + "  selector: {matchLabels: {app: speaker}}\n" + tmpl);
  const std::string sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: web}\nspec:\n  serviceName: db\n";
  const std::string stmpl = "  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers: [{name: db, image: postgres}]\n";
  refused_then_taken(lab, sts + "  selector: {matchLabels: {app: other}}\n" + stmpl,
                     "The StatefulSet \"db\" is invalid: spec.template.metadata.labels: Invalid value: "
                     "map[string]string{\"app\":\"db\"}: `selector` does not match template `labels`\n",
                     sts + "  selector: {matchLabels: {app: db}}\n" + stmpl);
}

// --- Secret, ConfigMap, PVC, Namespace (pkg/apis/core/validation) ------------------------------

TEST_CASE("sim kube validation: a TLS Secret needs tls.crt and tls.key, and keys must be config keys") {
  Lab lab;
  const std::string head = "apiVersion: v1\nkind: Secret\nmetadata: {name: tls, namespace: web}\ntype: kubernetes.io/tls\n";
  // ValidateSecret, case SecretTypeTLS
  refused_then_taken(lab, head + "data: {tls.crt: Y2VydA==}\n",
                     "The Secret \"tls\" is invalid: data[tls.key]: Required value\n",
                     head + "data: {tls.crt: Y2VydA==, tls.key: a2V5}\n");
  // stringData counts as data (the v1 conversion merges it)
  auto r = lab.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: s2, namespace: web}\nstringData: {\"my key\": x}\n");
  CHECK(r.err ==
        "The Secret \"s2\" is invalid: data[my key]: Invalid value: \"my key\": a valid config key must consist of "
        "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
        "validation is '[-._a-zA-Z0-9]+')\n");
  // the type cannot change (ValidateSecretUpdate)
  r = lab.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: tls, namespace: web}\ntype: Opaque\n"
                "data: {tls.crt: Y2VydA==, tls.key: a2V5}\n");
  CHECK(r.err == "The Secret \"tls\" is invalid: type: Invalid value: \"Opaque\": field is immutable\n");
}

TEST_CASE("sim kube validation: ConfigMap keys and size") {
  Lab lab;
  const std::string head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: web}\n";
  refused_then_taken(lab, head + "data: {app conf: a}\n",
                     "The ConfigMap \"cfg\" is invalid: data[app conf]: Invalid value: \"app conf\": a valid config key must "
                     "consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                     "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')\n",
                     head + "data: {app.conf: a}\n");
  // ValidateConfigMap: field.TooLong(field.NewPath(""), ...) prints its path as "[]" (as in real
  // output quoted in public issues: "[]: Too long: must have at most 1048576 bytes"). kubectl
  // apply copies the object into its last-applied annotation, so ValidateObjectMeta's 256 KiB
  // annotation limit (ValidateAnnotations) fails first.
  auto r = lab.apply(head + "data: {big: " + std::string(1024 * 1024 + 1, 'x') + "}\n");
  CHECK(r.err ==
        "The ConfigMap \"cfg\" is invalid: \n* metadata.annotations: Too long: must have at most 262144 bytes\n"
        "* []: Too long: must have at most 1048576 bytes\n");
  r = lab.apply(head + "data: {big: " + std::string(200 * 1024, 'x') + "}\n");
  CHECK_MESSAGE(r.code == 0, r.err);
  r = lab.apply(head + "data: {big: " + std::string(300 * 1024, 'x') + "}\n");
  CHECK(r.err == "The ConfigMap \"cfg\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes\n");
}

TEST_CASE("sim kube validation: a PersistentVolumeClaim needs access modes and a storage request") {
  Lab lab;
  const std::string head = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: web}\n";
  // ValidatePersistentVolumeClaimSpec
  refused_then_taken(lab, head + "spec: {resources: {requests: {}}}\n",
                     "The PersistentVolumeClaim \"data\" is invalid: \n* spec.accessModes: Required value: at least 1 "
                     "access mode is required\n* spec.resources[storage]: Required value\n",
                     head + "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n");
  auto r = lab.apply("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: d2, namespace: web}\n"
                     "spec: {accessModes: [ReadWrite], resources: {requests: {storage: 1Gi}}}\n");
  CHECK(r.err ==
        "The PersistentVolumeClaim \"d2\" is invalid: spec.accessModes: Unsupported value: \"ReadWrite\": supported "
        "values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"\n");
}

TEST_CASE("sim kube validation: a Namespace's name is a DNS-1123 label") {
  Lab lab;
  // ValidateNamespaceName = NameIsDNSLabel; `kubectl create namespace` prints the same CheckErr text
  auto r = lab.kubectl({"create", "namespace", "web.example"});
  CHECK(r.code == 1);
  CHECK(r.err == "The Namespace \"web.example\" is invalid: metadata.name: Invalid value: \"web.example\": " + kDns1123Label + "\n");
  r = lab.kubectl({"create", "namespace", "web-example"});
  CHECK_MESSAGE(r.code == 0, r.err);
}

// --- RBAC (pkg/apis/rbac/validation) -----------------------------------------------------------

TEST_CASE("sim kube validation: bindings' roleRef and subjects, and roleRef cannot change") {
  Lab lab;
  const std::string crb = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ops}\n";
  const std::string subjects = "subjects: [{kind: ServiceAccount, name: backup, namespace: web}]\n";
  refused_then_taken(lab, crb + "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: view}\n" + subjects,
                     "The ClusterRoleBinding \"ops\" is invalid: roleRef.kind: Unsupported value: \"Role\": supported "
                     "values: \"ClusterRole\"\n",
                     crb + "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n" + subjects);
  auto r = lab.apply(crb + "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}\n" + subjects);
  CHECK(r.err ==
        "The ClusterRoleBinding \"ops\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", "
        "Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef\n");
  r = lab.apply("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: ops, namespace: web}\n"
                "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n"
                "subjects: [{kind: user, name: alice}]\n");
  CHECK(r.err ==
        "The RoleBinding \"ops\" is invalid: subjects[0].kind: Unsupported value: \"user\": supported values: "
        "\"ServiceAccount\", \"User\", \"Group\"\n");
  r = lab.apply("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ops2}\n"
                "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n"
                "subjects: [{kind: ServiceAccount, name: backup}]\n");
  CHECK(r.err == "The ClusterRoleBinding \"ops2\" is invalid: subjects[0].namespace: Required value\n");
  r = lab.apply("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader, namespace: web}\n"
                "rules: [{apiGroups: [\"\"], resources: [pods]}]\n");
  CHECK(r.err == "The Role \"reader\" is invalid: rules[0].verbs: Required value: verbs must contain at least one value\n");
}

// --- admission webhooks (pkg/apis/admissionregistration/validation) ----------------------------

TEST_CASE("sim kube validation: a v1 webhook needs sideEffects and admissionReviewVersions") {
  Lab lab;
  const std::string head = "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\n"
                           "metadata: {name: sidecar-injector-webhook-cfg}\nwebhooks:\n"
                           "- name: sidecar-injector.example.com\n  clientConfig: {service: {name: injector, namespace: web}}\n";
  // the same two causes as real kubectl output quoted in a public issue
  refused_then_taken(lab, head,
                     "The MutatingWebhookConfiguration \"sidecar-injector-webhook-cfg\" is invalid: \n"
                     "* webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun\n"
                     "* webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1\n",
                     head + "  sideEffects: None\n  admissionReviewVersions: [v1]\n");
  auto r = lab.apply("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n"
                     "metadata: {name: policy}\nwebhooks:\n- name: policy\n  sideEffects: Unknown\n"
                     "  admissionReviewVersions: [v1]\n  clientConfig: {url: \"https://policy.example.com\"}\n");
  CHECK(r.err ==
        "The ValidatingWebhookConfiguration \"policy\" is invalid: \n* webhooks[0].name: Invalid value: \"policy\": "
        "should be a domain with at least three segments separated by dots\n* webhooks[0].sideEffects: Unsupported "
        "value: \"Unknown\": supported values: \"None\", \"NoneOnDryRun\"\n");
}

// --- custom resources (apiextensions-apiserver) ------------------------------------------------

namespace {

std::string metallb_crds() {
  // the schema of MetalLB v0.13.12's config/crd/bases/metallb.io_ipaddresspools.yaml (spec part)
  return R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ipaddresspools.metallb.io}
spec:
  group: metallb.io
  names: {kind: IPAddressPool, listKind: IPAddressPoolList, plural: ipaddresspools, singular: ipaddresspool}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [addresses]
            properties:
              addresses: {type: array, items: {type: string}}
              autoAssign: {type: boolean, default: true}
              avoidBuggyIPs: {type: boolean, default: false}
          status: {type: object}
)";
}

}  // namespace

TEST_CASE("sim kube validation: custom resources are checked against their CRD's schema") {
  Lab lab;
  REQUIRE(lab.apply(metallb_crds()).code == 0);
  const std::string head = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: default, namespace: web}\n";
  // ValidateCustomResource: RequiredFailCode -> field.Required
  refused_then_taken(lab, head + "spec: {autoAssign: false}\n",
                     "The IPAddressPool \"default\" is invalid: spec.addresses: Required value\n",
                     head + "spec: {addresses: [10.0.20.200-10.0.20.220]}\n");
  // InvalidTypeCode -> field.TypeInvalid with kube-openapi's "in body must be of type" text
  const std::string other = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: other, namespace: web}\n";
  auto r = lab.apply(other + "spec: {addresses: [10.0.20.200/29], autoAssign: \"no\"}\n");
  CHECK(r.err ==
        "The IPAddressPool \"other\" is invalid: spec.autoAssign: Invalid value: \"string\": spec.autoAssign in body "
        "must be of type boolean: \"string\"\n");
  // fields the schema does not have are pruned, and fieldValidation=Strict refuses them
  r = lab.apply(other + "spec: {addresses: [10.0.20.200/29], autoassign: false}\n");
  CHECK(r.err ==
        "Error from server (BadRequest): error when creating \"STDIN\": IPAddressPool in version \"v1beta1\" cannot be "
        "handled as a IPAddressPool: strict decoding error: unknown field \"spec.autoassign\"\n");
}

TEST_CASE("sim kube validation: an apiextensions v1 CRD needs a schema for each version") {
  Lab lab;
  // apiextensions-apiserver validation.go, ValidateCustomResourceDefinitionSpec: v1 requires
  // structural schemas ("schemas are required"), as MetalLB's trimmed CRDs once lacked.
  const std::string head =
      "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"
      "spec:\n  group: example.com\n  scope: Namespaced\n"
      "  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}\n";
  refused_then_taken(lab, head + "  versions: [{name: v1, served: true, storage: true}]\n",
                     "The CustomResourceDefinition \"widgets.example.com\" is invalid: "
                     "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required\n",
                     head + "  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: "
                            "{type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n");
}

TEST_CASE("sim kube validation: very long values are refused by the rules, not by the validator running out of stack") {
  Lab lab;
  const std::string long_name(50000, 'a');
  auto r = lab.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + long_name + "}\n");
  CHECK(r.code == 1);
  CHECK(r.err.find("metadata.name: Invalid value: \"" + long_name + "\": must be no more than 63 characters") !=
        std::string::npos);
  r = lab.apply("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: web}\n"
                "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: " + std::string(50000, '1') + "Gx}}}\n");
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.err.find("quantities must match the regular expression") != std::string::npos, r.err.substr(0, 300));
}

// --- kubectl's printing of several errors ------------------------------------------------------

TEST_CASE("sim kube validation: several refused objects print each as the server's Status message") {
  Lab lab;
  // apply.go returns an aggregate; CheckErr prints each with StandardErrorMessage, whose Invalid
  // message is errors.NewInvalid's: `KIND[.GROUP] "NAME" is invalid: [e1, e2]`
  auto r = lab.apply(service("  ports: [{port: 0}]\n") + "---\n" +
                     deployment("  selector: {matchLabels: {app: x}}\n" + std::string(kPodSpec)) + "---\n" +
                     service("  ports: [{port: 80}]\n", "fine"));
  CHECK(r.code == 1);
  CHECK(r.out == "service/fine created\n");
  CHECK(r.err ==
        "Error from server (Invalid): error when creating \"STDIN\": Service \"blog\" is invalid: spec.ports[0].port: "
        "Invalid value: 0: must be between 1 and 65535, inclusive\n"
        "Error from server (Invalid): error when creating \"STDIN\": Deployment.apps \"blog\" is invalid: "
        "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"blog\"}: `selector` does not match "
        "template `labels`\n");
}

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures/kube/validation" / name);
  REQUIRE_MESSAGE(in, name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("sim kube validation: kubectl prints refusals as the real kubectl does") {
  // tests/fixtures/kube/validation: the real kubectl's stderr for these manifests, the API server's
  // Statuses served by make_validation_fixtures.py (the same manifests, the same file name).
  const std::string blog = "apiVersion: v1\nkind: Service\nmetadata: {name: blog, namespace: web}\nspec:\n";
  const std::string deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: blog, namespace: web}\nspec:\n"
                             "  template:\n    metadata: {labels: {app: blog}}\n    spec:\n"
                             "      containers: [{name: blog, image: nginx:1.25}]\n";
  const std::vector<std::pair<std::string, std::string>> creates = {
      {"create-invalid-one-cause", blog + "  ports: [{port: 0}]\n"},
      {"create-invalid-two-causes", blog + "  ports: [{port: 80}, {port: 443}]\n"},
      {"create-strict", blog + "  foo: bar\n  ports: [{port: 80}]\n"},
      {"create-two-objects", blog + "  ports: [{port: 0}]\n---\n" + deploy},
  };
  for (const auto& [name, manifest] : creates) {
    CAPTURE(name);
    Lab lab;
    lab.cp.files["blog.yaml"] = manifest;
    auto r = lab.kubectl({"apply", "-f", "blog.yaml"});
    CHECK(std::to_string(r.code) + "\n" == fixture(name + ".code"));
    CHECK(r.err == fixture(name + ".err"));
  }
  // an object that exists: kubectl patches it (here the JSON merge patch the simulator writes is the
  // strategic one kubectl sent, as no list changed)
  const std::vector<std::pair<std::string, std::string>> updates = {
      {"update-strict", blog + "  ports: [{port: 80}]\n  foo: bar\n"},
      {"update-invalid", blog + "  ports: [{port: 80}, {name: https, port: 443}]\n"},
  };
  for (const auto& [name, manifest] : updates) {
    CAPTURE(name);
    Lab lab;
    lab.cp.files["blog.yaml"] = blog + "  ports: [{port: 80}]\n";
    REQUIRE(lab.kubectl({"apply", "-f", "blog.yaml"}).code == 0);
    lab.cp.files["blog.yaml"] = manifest;
    auto r = lab.kubectl({"apply", "-f", "blog.yaml"});
    CHECK(std::to_string(r.code) + "\n" == fixture(name + ".code"));
    CHECK(r.err == fixture(name + ".err"));
  }
}

TEST_CASE("sim kube validation: a refused update leaves the object as it was") {
  Lab lab;
  REQUIRE(lab.apply(service("  ports: [{port: 80}]\n")).code == 0);
  auto r = lab.apply(service("  ports: [{port: 80}]\n  foo: bar\n"));
  CHECK(r.code == 1);
  CHECK(r.err.find("strict decoding error: unknown field \"spec.foo\"") != std::string::npos);
  auto svc = lab.kubectl({"get", "service", "blog", "-n", "web", "-o", "jsonpath={.spec.ports[*].port}"});
  CHECK(svc.out == "80");
  r = lab.apply(service("  ports: [{name: http, port: 80}, {name: https, port: 443}]\n"));
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == "service/blog configured\n");
}

TEST_CASE("sim kube validation: a YAML key given twice reaches the server once, the last one") {
  // The real kubectl's POST body for this manifest (tests/fixtures/kube/validation/duplicate-key.post):
  // its YAML-to-JSON keeps the last value, so neither a duplicate nor the first value reaches
  // the API server, and the last-applied annotation is that JSON.
  Lab lab;
  lab.cp.files["blog.yaml"] = "apiVersion: v1\nkind: Service\nmetadata: {name: blog, namespace: web}\n"
                              "spec:\n  ports: [{port: 80}]\n  ports: [{port: 81}]\n";
  auto r = lab.kubectl({"apply", "-f", "blog.yaml"});
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.err == fixture("duplicate-key.err"));
  const auto sent = nlohmann::json::parse(fixture("duplicate-key.post"));
  const char* last = "kubectl.kubernetes.io/last-applied-configuration";
  for (const auto& svc : lab.kube.objects("Service")) {
    if (svc["metadata"]["name"] != "blog") continue;
    CHECK(svc["metadata"]["annotations"][last] == sent["metadata"]["annotations"][last]);
    CHECK(svc["spec"]["ports"][0]["port"] == sent["spec"]["ports"][0]["port"]);
  }
}

TEST_CASE("sim kube validation: a Job's pods restart OnFailure or Never, and a CronJob's name leaves room") {
  Lab lab;
  const std::string job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: backup, namespace: web}\nspec:\n  template:\n"
                          "    spec:\n      containers: [{name: backup, image: restic}]\n";
  // batch validateJobSpec: the template's restartPolicy is defaulted to Always, which a Job refuses
  refused_then_taken(lab, job,
                     "The Job \"backup\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Always\": "
                     "supported values: \"OnFailure\", \"Never\"\n",
                     job + "      restartPolicy: Never\n");
  // ValidateCronJobCreate: at most 52 characters (its Jobs' names add 11)
  const std::string long_name(53, 'a');
  const std::string cron = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: NAME, namespace: web}\nspec:\n  schedule: \"0 3 * * *\"\n"
                           "  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n"
                           "          containers: [{name: backup, image: restic}]\n";
  auto with_name = [&](const std::string& n) {
    std::string c = cron;
    return c.replace(c.find("NAME"), 4, n);
  };
  refused_then_taken(lab, with_name(long_name),
                     "The CronJob \"" + long_name + "\" is invalid: metadata.name: Invalid value: \"" + long_name +
                         "\": must be no more than 52 characters\n",
                     with_name(std::string(52, 'a')));
}
