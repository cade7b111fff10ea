// Secrets out of everything drctl writes: the site's secrets file and values actions learn during
// a run (a join token) are replaced by «secret:NAME» in step output, errors, journals and reports.
#pragma once
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace drctl::actions {

/// The secrets of a run. Thread-safe: parallel steps add and apply at once.
class Redactor {
 public:
  /// Adds a secret; values shorter than 4 characters are refused (std::invalid_argument):
  /// replacing them would garble everything and protect nothing.
  void add(const std::string& name, const std::string& value);

  /// `text` with every secret (and every line of a multi-line secret) replaced.
  std::string apply(std::string text) const;

  /// Every string in `value` (keys and values), redacted.
  nlohmann::json apply_json(const nlohmann::json& value) const;

  bool empty() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> values_;  // value → name
};

}  // namespace drctl::actions
