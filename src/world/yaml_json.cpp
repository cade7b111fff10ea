#include "world/yaml_json.hpp"

namespace drctl {

using json = nlohmann::json;

namespace {
bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}
}  // namespace

json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (auto it = node.begin(); it != node.end(); ++it) out[it->first.Scalar()] = yaml_to_json(it->second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() != "?") return s;
      if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      std::string digits = !s.empty() && s[0] == '-' ? s.substr(1) : s;
      bool integer = all_digits(digits) && digits.size() <= 18 &&
                     (digits == "0" || digits[0] != '0');
      if (integer) return std::stoll(s);
      return s;
    }
    default: return nullptr;
  }
}

}  // namespace drctl
