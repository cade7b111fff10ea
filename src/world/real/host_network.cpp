#include "world/real/host_network.hpp"

#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <cctype>
#include <iterator>
#include <sstream>

#include "base/shell.hpp"
#include "base/text.hpp"
#include "world/url.hpp"

namespace drctl::world::real {

namespace {

/// What separates the body from curl's --write-out: a line no answer is expected to hold.
constexpr std::string_view kMarker = "\n@@drctl-curl@@ ";

bool is_ip(const std::string& s) {
  return s.find(':') != std::string::npos ||
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
}

/// Whole seconds for curl's and nc's timeouts, at least one.
long seconds(Duration d) { return std::max<long>(1, static_cast<long>((d.count() + 999) / 1000)); }

/// The leaf certificate's DNS names from curl's %{certs}: its subjectAltName DNS entries, else
/// its subject's CN. The leaf is the first certificate listed.
std::vector<std::string> leaf_names(const std::string& certs) {
  std::vector<std::string> names;
  std::string cn;
  std::istringstream lines(certs);
  int subjects = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Subject:", 0) == 0 && ++subjects > 1) break;
    if (line.rfind("Subject:", 0) == 0) {
      const auto at = line.find("CN = ");
      if (at != std::string::npos) cn = line.substr(at + 5, line.find(',', at) - at - 5);
    } else if (line.rfind("X509v3 Subject Alternative Name:", 0) == 0) {
      std::istringstream entries(line.substr(line.find(':') + 1));
      for (std::string e; std::getline(entries, e, ',');) {
        e = text::trim(e);
        if (e.rfind("DNS:", 0) == 0) names.push_back(e.substr(4));
      }
    }
  }
  if (names.empty() && !cn.empty()) names.push_back(cn);
  return names;
}

/// The last line of curl's stderr ("curl: (7) Failed to connect to …"), or the exit status.
std::string curl_error(const CommandResult& r) {
  std::string err = text::trim(r.err);
  if (const auto nl = err.rfind('\n'); nl != std::string::npos) err = err.substr(nl + 1);
  return err.empty() ? "curl exited with status " + std::to_string(r.exit_code) : err;
}

}  // namespace

bool HostNetwork::tcp_probe(const std::string& host, int port, Duration timeout) {
  // curl's telnet:// only connects (stdin is empty); it then idles until --max-time, so success
  // is "it connected" (num_connects), not its exit status.
  const std::string address = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  Command c = shell_command("curl --silent --connect-timeout " + std::to_string(seconds(timeout)) + " --max-time " +
                            std::to_string(seconds(timeout) + 1) + " --write-out '%{num_connects}' " +
                            shell_quote("telnet://" + address + ":" + std::to_string(port)) + " < /dev/null");
  c.timeout = timeout + Duration(10000);
  return text::trim(host_.run(c).out) == "1";
}

HttpResponse HostNetwork::http_get(const std::string& url, const std::string& host_header, Duration timeout) {
  HttpResponse out;
  HttpUrl u;
  if (std::string why = parse_http_url(url, u); !why.empty()) {
    out.error = url + ": " + why;
    return out;
  }
  std::string name = host_header;
  if (!name.empty() && name[0] != '[') name = name.substr(0, name.find(':'));
  std::string args = "curl --silent --show-error --insecure --user-agent drctl --max-time " + std::to_string(seconds(timeout));
  std::string target = url;
  if (!name.empty() && !is_ip(name) && name != u.host) {
    // The name is the URL's host (Host header and SNI), reaching the URL's address.
    args += " --resolve " + shell_quote(name + ":" + std::to_string(u.port) + ":" + (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host));
    target = std::string(u.https ? "https://" : "http://") + name + ":" + std::to_string(u.port) + u.target;
  } else if (!host_header.empty()) {
    args += " --header " + shell_quote("Host: " + host_header);
  }
  // curl's write-out (where "\n" is a newline) starts on a line of its own after the body.
  args += " --write-out " + shell_quote("\\n" + std::string(kMarker.substr(1)) + "%{http_code} %{ssl_verify_result}\\n%{certs}") +
          " " + shell_quote(target);
  Command c = shell_command(args);
  c.timeout = timeout + Duration(10000);
  const CommandResult r = host_.run(c);
  if (r.exit_code == 127) {
    out.error = url + ": curl is not installed on " + host_.name();
    return out;
  }
  const auto at = r.out.rfind(std::string(kMarker));
  if (!r.ok() || at == std::string::npos) {
    out.error = url + ": " + (r.transport_error.empty() ? curl_error(r) : r.transport_error);
    return out;
  }
  out.body = r.out.substr(0, at);
  std::istringstream tail(r.out.substr(at + kMarker.size()));
  long verify = 0;
  tail >> out.status >> verify;
  if (u.https) {
    std::string certs((std::istreambuf_iterator<char>(tail)), std::istreambuf_iterator<char>());
    out.tls_names = leaf_names(certs);
    out.tls_trusted = verify == 0;
    if (!out.tls_trusted) out.tls_verify_error = X509_verify_cert_error_string(verify);
  }
  return out;
}

std::vector<std::string> HostNetwork::resolve(const std::string& name) {
  if (is_ip(name)) return {name};
  const CommandResult r = host_.run(shell_command("getent ahosts " + shell_quote(name)));
  std::vector<std::string> out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const std::string addr = line.substr(0, line.find_first_of(" \t"));
    if (!addr.empty() && std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
  }
  return out;
}

DnsAnswer HostNetwork::dns_query(const std::string& server, int port, const std::string& name, Duration timeout) {
  // dig tries twice within its +time each; drill waits its own default. Both print the header
  // (";; ->>HEADER<<- opcode: QUERY, status: NOERROR" — drill: "rcode: NOERROR") and the answer
  // section as zone-file lines.
  const std::string t = std::to_string(std::max<long>(1, seconds(timeout) / 2));
  const std::string p = std::to_string(port), s = shell_quote(server), n = shell_quote(name);
  Command c = shell_command("if command -v dig >/dev/null 2>&1; then dig +time=" + t + " +tries=2 -p " + p + " @" + s + " " + n +
                            " A; elif command -v drill >/dev/null 2>&1; then drill -p " + p + " " + n + " @" + s +
                            " A; else echo 'neither dig nor drill is installed' >&2; exit 127; fi");
  c.timeout = timeout + Duration(10000);
  const CommandResult r = host_.run(c);
  DnsAnswer answer;
  bool in_answer = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(";; ->>HEADER<<-", 0) == 0) {
      for (const char* key : {"status: ", "rcode: "})
        if (const auto at = line.find(key); at != std::string::npos) {
          const auto from = at + std::strlen(key);
          answer.rcode = line.substr(from, line.find(',', from) - from);
        }
    } else if (line.rfind(";; ANSWER SECTION:", 0) == 0) {
      in_answer = true;
    } else if (in_answer && (line.empty() || line[0] == ';')) {
      in_answer = false;
    } else if (in_answer) {
      std::istringstream words(line);
      std::string owner, ttl, cls, type, data;
      if (words >> owner >> ttl >> cls >> type >> data && type == "A") answer.addresses.push_back(data);
    }
  }
  if (answer.rcode.empty()) {
    std::string said = text::trim(r.out + "\n" + r.err);
    if (const auto nl = said.rfind('\n'); nl != std::string::npos) said = said.substr(nl + 1);
    answer.error = said.empty() ? "exited with status " + std::to_string(r.exit_code) : said;
  }
  return answer;
}

}  // namespace drctl::world::real
