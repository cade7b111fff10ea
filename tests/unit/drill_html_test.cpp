// The drill's HTML page read back with an XML parser: its sections in order, a Gantt chart per
// run with the critical path and faults marked, a histogram and the serial comparison per
// scenario, nothing fetched from the network, and strings from runs kept as text.
#include <doctest/doctest.h>

#include <pugixml.hpp>

#include <string>
#include <vector>

#include "drill/html_report.hpp"

using namespace drctl::drill;

namespace {

RunResult run(std::uint64_t seed, double rto) {
  RunResult r;
  r.scenario = "total-loss";
  r.file = "drills/total-loss.yaml";
  r.seed = seed;
  r.passed = true;
  r.rto_min = rto;
  r.rpo_min = 60;
  r.expect.max_rto_min = 45;
  // Two steps at once, then one after both: the serial plan is their sum.
  r.timeline = {{"create-nas", "truenas", "done", 0.0, 10.0, 1, "", "20.2 GB in 2.7 min"},
                {"install-nodes[k8s-node1]", "k8s-node1", "done", 0.0, 20.0, 2, "", ""},
                {"verify-ingress", "local", "done", 20.0, rto, 1, "", ""}};
  r.critical_path = {"install-nodes[k8s-node1]", "verify-ingress"};
  r.faults = {{5.0, "power_off", "k8s-node1", "step install-nodes[k8s-node1] started", false}};
  return r;
}

/// A failed run whose step id and error are markup, as a hostile or careless runbook could make.
RunResult hostile() {
  RunResult r = run(9, 25);
  r.passed = false;
  StepTiming bad{"<script>alert(1)</script>", "pfsense", "failed", 3.0, 4.0, 3, "</pre><img src=x onerror=alert(2)> & more", ""};
  r.timeline.push_back(bad);
  r.first_failure = bad;
  r.failures = {"the rebuild failed: <script>alert(1)</script>: </pre><img src=x onerror=alert(2)>"};
  r.replay = "drctl drill drills/total-loss.yaml --seeds 9";
  return r;
}

pugi::xml_document parse(const std::string& html) {
  pugi::xml_document doc;
  const pugi::xml_parse_result ok = doc.load_string(html.c_str(), pugi::parse_default | pugi::parse_doctype);
  REQUIRE_MESSAGE(ok, ok.description() << " at " << ok.offset << ": " << html.substr(ok.offset > 80 ? ok.offset - 80 : 0, 160));
  return doc;
}

std::size_t count(const pugi::xml_document& doc, const std::string& xpath) { return doc.select_nodes(xpath.c_str()).size(); }

std::string all_text(pugi::xml_node n) {
  std::string out;
  for (pugi::xml_node c : n.children()) out += c.type() == pugi::node_pcdata ? std::string(c.value()) : all_text(c);
  return out;
}

}  // namespace

TEST_CASE("drill html: failures first, then the scenarios, then the runs, each run a Gantt chart") {
  const std::vector<RunResult> runs = {run(1, 30), run(2, 32), hostile(), run(3, 31)};
  const std::string html = html_report(runs, {{"drills/typo.yaml", "drills/typo.yaml: disaster: no VM 'k8s-nod1'"}});
  REQUIRE(html.rfind("<!DOCTYPE html>", 0) == 0);
  pugi::xml_document doc = parse(html);
  pugi::xml_node body = doc.child("html").child("body");
  REQUIRE(body);
  std::vector<std::string> sections;
  for (pugi::xml_node s : body.children("section")) sections.push_back(s.attribute("id").value());
  CHECK(sections == std::vector<std::string>{"failures", "scenarios", "runs"});

  // Failures: the scenario that could not run, then the failed run with its step, reason and replay.
  pugi::xml_node failures = body.find_child_by_attribute("section", "id", "failures");
  const std::string failure_text = all_text(failures);
  CHECK(failure_text.find("drills/typo.yaml: disaster: no VM 'k8s-nod1'") != std::string::npos);
  CHECK(failure_text.find("FAIL total-loss seed 9") != std::string::npos);
  CHECK(failure_text.find("Failed at step <script>alert(1)</script> on pfsense") != std::string::npos);
  CHECK(std::string(failures.select_node(".//pre[@class='replay']").node().text().get()) == "drctl drill drills/total-loss.yaml --seeds 9");

  // Runs: the failed one first and open; one Gantt chart each, a bar per step.
  pugi::xml_node runs_section = body.find_child_by_attribute("section", "id", "runs");
  pugi::xml_node first = runs_section.child("details");
  CHECK(std::string(first.attribute("class").value()) == "run fail");
  CHECK(first.attribute("open"));
  CHECK(count(doc, "//details[contains(@class,'run')]") == 4);
  CHECK(count(doc, "//*[local-name()='svg' and @class='gantt']") == 4);
  CHECK(count(doc, "//*[local-name()='svg' and @class='gantt']//*[local-name()='rect' and contains(@class,'bar')]") == 3 * 4 + 1);
  // The critical path: two steps per run, outlined; each run's fault a marker; the RTO and target lines.
  CHECK(count(doc, "//*[local-name()='rect' and contains(@class,'critical')]") == 2 * 4);
  CHECK(count(doc, "//*[local-name()='g' and @class='fault-marker']") == 4);
  CHECK(count(doc, "//*[local-name()='line' and @class='rto']") == 3);  // the failed run has no RTO
  CHECK(count(doc, "//*[local-name()='line' and @class='target']") >= 4);
  CHECK(all_text(first).find("RTO: not reached (failed at <script>alert(1)</script>)") != std::string::npos);

  // Per scenario: the histogram over the three RTOs, and the serial plan (10 + 20 + the last step).
  pugi::xml_node scenario = body.find_child_by_attribute("section", "id", "scenarios").child("div");
  CHECK(scenario.select_node(".//*[local-name()='svg' and @class='histogram']"));
  CHECK(count(doc, "//*[local-name()='svg' and @class='histogram']//*[local-name()='rect' and @class='hist']") >= 1);
  pugi::xml_node serial = scenario.select_node(".//*[local-name()='svg' and @class='parallel-serial']").node();
  REQUIRE(serial);
  CHECK(all_text(serial).find("31.0 min") != std::string::npos);         // the median RTO of 30, 31, 32
  CHECK(all_text(serial).find("41.0 min") != std::string::npos);         // median of 10 + 20 + (RTO - 20)
}

TEST_CASE("drill html: strings from a run are text, and nothing is fetched from the network") {
  const std::string html = html_report({hostile()});
  pugi::xml_document doc = parse(html);
  CHECK(count(doc, "//script") == 0);
  CHECK(count(doc, "//img") == 0);
  CHECK(count(doc, "//*[local-name()='script']") == 0);
  CHECK(count(doc, "//link") == 0);
  CHECK(count(doc, "//@src") == 0);
  CHECK(count(doc, "//@href") == 0);
  CHECK(count(doc, "//@onerror") == 0);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  // The step's label in the chart and its tooltip carry the id as it is.
  CHECK(doc.select_node("//*[local-name()='title' and text()='<script>alert(1)</script>']"));
  // Only the namespaces name a URL.
  std::size_t urls = 0;
  for (std::size_t at = html.find("http"); at != std::string::npos; at = html.find("http", at + 1)) ++urls;
  std::size_t namespaces = 0;  // XPath leaves xmlns out of the attributes: walk the tree
  struct Walker : pugi::xml_tree_walker {
    std::size_t* n;
    bool for_each(pugi::xml_node& node) override {
      if (node.attribute("xmlns")) ++*n;
      return true;
    }
  } walker;
  walker.n = &namespaces;
  doc.traverse(walker);
  CHECK(namespaces >= 2);  // the page's and the chart's
  CHECK(urls == namespaces);
}
