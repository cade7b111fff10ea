#include "runbook/step_graph.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <queue>

namespace drctl::runbook {

std::size_t position(const Runbook& rb, const std::string& id) {
  const Step* s = rb.step(id);
  return s ? static_cast<std::size_t>(s - rb.steps.data()) : std::string::npos;
}

StepGraph needs_graph(const Runbook& rb) {
  StepGraph out(rb.steps.size());
  for (std::size_t i = 0; i < rb.steps.size(); ++i)
    for (const auto& [need, pos] : rb.steps[i].needs)
      if (auto at = position(rb, need); at != std::string::npos) out[i].push_back(at);
  return out;
}

bool reaches(const StepGraph& graph, std::size_t from, std::size_t target, std::vector<std::size_t>& seen,
             std::size_t stamp) {
  std::vector<std::size_t> todo{from};
  while (!todo.empty()) {
    std::size_t at = todo.back();
    todo.pop_back();
    for (std::size_t next : graph[at]) {
      if (next == target) return true;
      if (seen[next] == stamp) continue;
      seen[next] = stamp;
      todo.push_back(next);
    }
  }
  return false;
}

std::vector<std::size_t> ordered_positions(const StepGraph& graph) {
  // Kahn's algorithm with the ready steps in a min-heap: the first of them in the file goes next.
  std::vector<std::size_t> waiting(graph.size(), 0);
  std::vector<std::vector<std::size_t>> needed_by(graph.size());
  for (std::size_t i = 0; i < graph.size(); ++i)
    for (std::size_t need : graph[i]) {
      ++waiting[i];
      needed_by[need].push_back(i);
    }
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t i = 0; i < graph.size(); ++i)
    if (waiting[i] == 0) ready.push(i);
  std::vector<std::size_t> order;
  order.reserve(graph.size());
  while (!ready.empty()) {
    std::size_t at = ready.top();
    ready.pop();
    order.push_back(at);
    for (std::size_t next : needed_by[at])
      if (--waiting[next] == 0) ready.push(next);
  }
  return order;
}

std::set<std::pair<std::size_t, std::size_t>> depending_pairs(const StepGraph& graph, const std::vector<std::size_t>& order,
                                                             const std::vector<std::pair<std::size_t, std::size_t>>& asked) {
  std::vector<std::size_t> targets;
  for (const auto& [from, target] : asked) targets.push_back(target);
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  // Per batch of 64 targets, one bit each: self[s] marks a target, reached[s] the targets s
  // depends on (those of its needs and their own).
  std::set<std::pair<std::size_t, std::size_t>> out;
  std::vector<std::uint64_t> self(graph.size()), reached(graph.size());
  for (std::size_t first = 0; first < targets.size(); first += 64) {
    std::fill(self.begin(), self.end(), 0);
    for (std::size_t k = first; k < std::min(first + 64, targets.size()); ++k) self[targets[k]] = 1ull << (k - first);
    for (std::size_t at : order) {
      std::uint64_t bits = 0;
      for (std::size_t need : graph[at]) bits |= reached[need] | self[need];
      reached[at] = bits;
    }
    for (const auto& [from, target] : asked)
      if (self[target] & reached[from]) out.insert({from, target});
  }
  return out;
}

}  // namespace drctl::runbook
