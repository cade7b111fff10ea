#include "offsite/layout.hpp"

#include <regex>

namespace drctl::offsite {

bool is_repository_file(const std::string& rel) {
  static const std::regex flat("(keys|index|snapshots)/[0-9a-f]{64}");
  static const std::regex pack("data/([0-9a-f]{2})/([0-9a-f]{64})");
  if (rel == "config") return true;
  if (std::regex_match(rel, flat)) return true;
  std::smatch m;
  return std::regex_match(rel, m, pack) && m[2].str().compare(0, 2, m[1].str()) == 0;
}

bool is_copy_temporary(const std::string& rel) {
  static const std::regex far("((keys|index|snapshots|data/[0-9a-f]{2})/)?\\.[^/]*\\.drctl-[^/]*");
  static const std::regex near("tmp/copy-[0-9a-f]+");
  return std::regex_match(rel, far) || std::regex_match(rel, near);
}

}  // namespace drctl::offsite
