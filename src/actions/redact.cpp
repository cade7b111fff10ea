#include "actions/redact.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace drctl::actions {

void Redactor::add(const std::string& name, const std::string& value) {
  if (value.size() < 4) throw std::invalid_argument("secret " + name + " is shorter than 4 characters");
  std::lock_guard lock(mutex_);
  values_[value] = name;
  // A multi-line secret (a key file) may be printed one line at a time.
  std::size_t start = 0;
  while (start < value.size()) {
    std::size_t end = value.find('\n', start);
    if (end == std::string::npos) end = value.size();
    const std::string line = value.substr(start, end - start);
    if (line.size() >= 16 && line != value) values_.emplace(line, name);
    start = end + 1;
  }
}

std::string Redactor::apply(std::string text) const {
  std::lock_guard lock(mutex_);
  if (values_.empty()) return text;
  // Longer values first, so a secret holding another is replaced whole.
  std::vector<std::pair<std::string, std::string>> order(values_.begin(), values_.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [value, name] : order) {
    const std::string mark = "«secret:" + name + "»";
    for (std::size_t at = text.find(value); at != std::string::npos; at = text.find(value, at + mark.size()))
      text.replace(at, value.size(), mark);
  }
  return text;
}

nlohmann::json Redactor::apply_json(const nlohmann::json& value) const {
  if (value.is_string()) return apply(value.get<std::string>());
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : value) out.push_back(apply_json(v));
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : value.items()) out[apply(k)] = apply_json(v);
    return out;
  }
  return value;
}

bool Redactor::empty() const {
  std::lock_guard lock(mutex_);
  return values_.empty();
}

}  // namespace drctl::actions
