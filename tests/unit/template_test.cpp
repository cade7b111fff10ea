#include <doctest/doctest.h>

#include "runbook/template.hpp"

using namespace drctl::runbook;

namespace {

const json kContext = {
    {"name", "k8s-node1"},
    {"count", 3},
    {"ratio", 1.5},
    {"flag", true},
    {"nothing", nullptr},
    {"empty", json::array()},
    {"html", "<a & b>"},
    {"workers", {"node1", "node2"}},
    {"hosts", {{{"name", "a"}, {"ip", "10.0.0.1"}}, {{"name", "b"}, {"ip", "10.0.0.2"}}}},
    {"host", {{"name", "node1"}, {"address", "10.0.0.11"}}},
    {"steps", {{"kubeadm-init", {{"outputs", {{"join_command", "kubeadm join 10.0.0.10:6443"}, {"token", "abc"}}}}}}},
};

const Pos kPos{"rb.yaml", 7, 10};

std::string render_error(const std::string& text, const json& context = kContext) {
  try {
    render(text, context, kPos);
  } catch (const LoadError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("template: plain text passes through") {
  CHECK(render("echo hello", kContext, kPos) == "echo hello");
  CHECK(render("", kContext, kPos) == "");
}

TEST_CASE("template: variables numbers booleans and no html escaping") {
  CHECK(render("{{name}} {{count}} {{ratio}} {{flag}}", kContext, kPos) == "k8s-node1 3 1.5 true");
  CHECK(render("{{html}} {{{html}}} {{&html}}", kContext, kPos) == "<a & b> <a & b> <a & b>");
  CHECK(render("[{{nothing}}]", kContext, kPos) == "[]");
}

TEST_CASE("template: dotted names reach step outputs") {
  CHECK(render("{{steps.kubeadm-init.outputs.join_command}} --token {{steps.kubeadm-init.outputs.token}}", kContext,
               kPos) == "kubeadm join 10.0.0.10:6443 --token abc");
  CHECK(render("{{host.address}}", kContext, kPos) == "10.0.0.11");
}

TEST_CASE("template: sections repeat over lists with dot and item fields") {
  CHECK(render("{{#workers}}ping {{.}};{{/workers}}", kContext, kPos) == "ping node1;ping node2;");
  CHECK(render("{{#hosts}}{{name}}={{ip}} {{/hosts}}", kContext, kPos) == "a=10.0.0.1 b=10.0.0.2 ");
  CHECK(render("{{#hosts}}{{name}}@{{count}} {{/hosts}}", kContext, kPos) == "a@3 b@3 ");
  CHECK(render("{{#host}}{{address}}{{/host}}", kContext, kPos) == "10.0.0.11");
  CHECK(render("{{#empty}}x{{/empty}}{{^empty}}none{{/empty}}", kContext, kPos) == "none");
  CHECK(render("{{^nothing}}unset{{/nothing}}", kContext, kPos) == "unset");
  CHECK(render("a\n{{#workers}}\n- {{.}}\n{{/workers}}\nb\n", kContext, kPos) == "a\n- node1\n- node2\nb\n");
  // A name inside a section: the item's field first, else the context's (only the names a
  // template uses are handed to the renderer: these must be among them).
  CHECK(render("{{#hosts}}{{flag}}:{{name}} {{/hosts}}{{name}}", kContext, kPos) == "true:a true:b k8s-node1");
  CHECK(render("{{#host}}{{#workers}}{{address}}/{{.}} {{/workers}}{{/host}}", kContext, kPos) ==
        "10.0.0.11/node1 10.0.0.11/node2 ");
}

TEST_CASE("template: a section may test an absent field of an existing object") {
  CHECK(render("{{#host.vlan}}vlan {{host.vlan}}{{/host.vlan}}{{^host.vlan}}untagged{{/host.vlan}}", kContext, kPos) ==
        "untagged");
  CHECK(render_error("{{#hots.vlan}}x{{/hots.vlan}}") ==
        "rb.yaml:7:10: undefined template variable 'hots.vlan' (did you mean 'host'?)");
}

TEST_CASE("template: custom delimiters keep other braces literal") {
  CHECK(render("{{=<% %>=}}kubectl get -o go-template='{{.metadata.name}}' <%name%>", kContext, kPos) ==
        "kubectl get -o go-template='{{.metadata.name}}' k8s-node1");
}

TEST_CASE("template error: missing variables") {
  CHECK(render_error("echo {{nmae}}") == "rb.yaml:7:10: undefined template variable 'nmae' (did you mean 'name'?)");
  CHECK(render_error("{{zzz}}") == "rb.yaml:7:10: undefined template variable 'zzz'");
  CHECK(render_error("{{steps.kubeadm-init.outputs.tokn}}") ==
        "rb.yaml:7:10: undefined template variable 'steps.kubeadm-init.outputs.tokn' (kubeadm-init declares: "
        "join_command, token)");
  CHECK(render_error("{{steps.other.outputs.x}}") ==
        "rb.yaml:7:10: undefined template variable 'steps.other.outputs.x' ('steps' has: kubeadm-init)");
  CHECK(render_error("{{item}}") ==
        "rb.yaml:7:10: undefined template variable 'item' ('item' is only defined in steps with for_each)");
  CHECK(render_error("{{host.name}}", json{{"x", 1}}) ==
        "rb.yaml:7:10: undefined template variable 'host.name' ('host' is only defined in steps with 'on')");
  CHECK(render_error("{{host.name.first}}") ==
        "rb.yaml:7:10: undefined template variable 'host.name.first' ('host.name' is a string, not a map)");
  CHECK(render_error("{{#hosts}}{{nam}}{{/hosts}}") == "rb.yaml:7:10: undefined template variable 'nam' (did you mean 'name'?)");
  CHECK(render_error("{{#missing}}x{{/missing}}") == "rb.yaml:7:10: undefined template variable 'missing'");
}

TEST_CASE("template error: syntax and misuse") {
  CHECK(render_error("{{name") == "rb.yaml:7:10: template: unclosed tag '{{'");
  CHECK(render_error("{{#workers}}x") == "rb.yaml:7:10: template: unclosed section '{{#workers}}'");
  CHECK(render_error("{{#workers}}x{{/hosts}}") == "rb.yaml:7:10: template: section 'workers' is closed by '{{/hosts}}'");
  CHECK(render_error("x{{/hosts}}") == "rb.yaml:7:10: template: '{{/hosts}}' closes no open section");
  CHECK(render_error("{{>partial}}") == "rb.yaml:7:10: template: partials ('{{>partial}}') are not supported");
  CHECK(render_error("{{host}}") == "rb.yaml:7:10: template variable 'host' is a map; name one of its fields ('host.NAME')");
  CHECK(render_error("{{#flag}}x{{/flag}}").find("section over boolean 'flag'") != std::string::npos);
}

TEST_CASE("template: problems carry the tag and its offset") {
  auto p = check_template("echo {{a}} and {{ b.c }}", json{{"a", 1}, {"b", json::object()}});
  REQUIRE(p);
  CHECK(p->name == "b.c");
  CHECK(p->raw == "{{ b.c }}");
  CHECK(p->offset == 15);
  CHECK(p->undefined);
  CHECK_FALSE(check_template("{{a}}", json{{"a", kUnknown}}));
  CHECK_FALSE(check_template("{{a.b.c}} {{#a}}{{x}}{{/a}}", json{{"a", kUnknown}}));
}

TEST_CASE("template: variables lists top-level names") {
  CHECK(variables("{{a}} {{b.c}} {{#d}}{{.}}{{e}}{{/d}} {{a}} {{! note}} {{{f}}}") ==
        std::vector<std::string>{"a", "b", "d", "e", "f"});
  CHECK(variables("no tags").empty());
  CHECK(single_tag(" {{ workers }} ") == std::optional<std::string>("workers"));
  CHECK_FALSE(single_tag("{{a}} {{b}}"));
  CHECK_FALSE(single_tag("{{#a}}"));
  CHECK(is_template("x {{y}}"));
  CHECK_FALSE(is_template("x { y }"));
}

TEST_CASE("template: render_value keeps whole values and renders strings") {
  json value = {{"list", "{{workers}}"}, {"text", "n={{count}}"}, {"n", "{{count}}"}, {"nested", {"{{name}}", 5}}};
  json out = render_value(value, kContext, kPos);
  CHECK(out["list"] == json::array({"node1", "node2"}));
  CHECK(out["text"] == "n=3");
  CHECK(out["n"] == 3);
  CHECK(out["nested"] == json::array({"k8s-node1", 5}));
}
