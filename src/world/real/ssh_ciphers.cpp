#include "world/real/ssh_ciphers.hpp"

#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <algorithm>

#include "world/real/ssh_config.hpp"
#include "world/real/ssh_pattern.hpp"

namespace drctl::world::real {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = std::min(s.find(',', start), s.size());
    out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

void add_once(std::vector<std::string>& list, const std::string& name) {
  if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
}

bool is_gcm(const std::string& name) { return name.find("-gcm@") != std::string::npos; }

}  // namespace

const std::vector<std::string>& openssh_cipher_names() {
  static const std::vector<std::string> names = {
      "3des-cbc",   "aes128-cbc", "aes192-cbc", "aes256-cbc",
      "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com",
      "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"};
  return names;
}

const std::vector<std::string>& openssh_default_ciphers() {
  static const std::vector<std::string> names = {"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr",
                                                 "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"};
  return names;
}

std::vector<std::string> resolve_ciphers(const std::string& value, const std::string& where) {
  const std::vector<std::string>& defaults = openssh_default_ciphers();
  const char op = value.empty() ? 0 : value[0];
  if (op == '-') {
    // Patterns, not names: what they match leaves the default list; nothing is checked.
    std::vector<std::string> out;
    for (const auto& name : defaults)
      if (ssh_pattern_list_match(name, value.substr(1), false) != SshListMatch::positive) out.push_back(name);
    return out;
  }
  const std::string list = op == '+' || op == '^' ? value.substr(1) : value;
  const std::vector<std::string> names = split_commas(list);
  const auto& known = openssh_cipher_names();
  for (const auto& name : names)
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw SshConfigError(where + ": Bad SSH2 cipher spec '" + value + "' ('" + name +
                           "' is not a cipher OpenSSH knows; `ssh -Q cipher` lists them)");
  std::vector<std::string> out;
  if (op == '+') out = defaults;
  for (const auto& name : names) add_once(out, name);
  if (op == '^')
    for (const auto& name : defaults) add_once(out, name);
  return out;
}

bool cpu_has_fast_aes_gcm() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__)
  const unsigned long hw = ::getauxval(AT_HWCAP);
  return (hw & HWCAP_AES) && (hw & HWCAP_PMULL);
#else
  return false;
#endif
}

std::vector<std::string> drctl_default_ciphers(bool fast_aes_gcm) {
  std::vector<std::string> out = openssh_default_ciphers();
  if (fast_aes_gcm) std::stable_partition(out.begin(), out.end(), is_gcm);
  return out;
}

}  // namespace drctl::world::real
