// The steps of a runbook as a graph of positions in rb.steps, for the checks and the plan to
// walk in time proportional to its size: whatever the runbook's length, nothing here scans all
// steps per step or recurses once per step.
#pragma once
#include <cstddef>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runbook/model.hpp"

namespace drctl::runbook {

/// For each step (by position), the positions of the steps it needs.
using StepGraph = std::vector<std::vector<std::size_t>>;

/// Where the step `id` is in rb.steps (the first of that id); npos when no step has it.
std::size_t position(const Runbook& rb, const std::string& id);

/// The runbook's steps and needs; needs that name no step are left out (validate reports them).
StepGraph needs_graph(const Runbook& rb);

/// Positions in an order that respects the needs; among steps ready together, file order. The
/// graph must have no cycle.
std::vector<std::size_t> ordered_positions(const StepGraph& graph);

/// Whether `from` depends on `target`, directly or through other steps: a search that stops
/// when it finds it, for a single question. `seen` holds one stamp per step, `stamp` fresh.
bool reaches(const StepGraph& graph, std::size_t from, std::size_t target, std::vector<std::size_t>& seen,
             std::size_t stamp);

/// Of the (step, target) pairs asked, those where the step depends on the target, answered
/// together: costs (steps + needs) × distinct targets / 64, however long the chains of needs.
std::set<std::pair<std::size_t, std::size_t>> depending_pairs(const StepGraph& graph, const std::vector<std::size_t>& order,
                                                             const std::vector<std::pair<std::size_t, std::size_t>>& asked);

}  // namespace drctl::runbook
