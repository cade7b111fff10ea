// The drill report as one HTML page to look at: no script, no font or style from the network, so
// it opens the same from a CI artifact, a mail attachment or a laptop offline.
#pragma once
#include <string>
#include <vector>

#include "drill/report.hpp"

namespace drctl::drill {

/// One self-contained page (inline CSS and SVG), XHTML-compatible (an XML parser reads it), with,
/// in this order:
/// - "Failures" (when there are any): each scenario that could not run (its file and why), then
///   each failed run: its first failing step and reason, every failed expectation, its replay
///   command;
/// - "Scenarios": per scenario its runs, passes, the RTO min/p50/p95/max against max_rto, a
///   histogram of the RTO over its seeds, and its parallel rebuild against the serial plan (the
///   same steps one after another: the sum of their times);
/// - "Runs", failed runs first: RTO and RPO against the targets, and a Gantt timeline of the
///   rebuild in virtual minutes, the critical path marked, the faults as markers.
/// Every string from a run (step ids, errors, file names) is text, never markup.
std::string html_report(const std::vector<RunResult>& runs, const std::vector<ScenarioError>& errors = {});

}  // namespace drctl::drill
