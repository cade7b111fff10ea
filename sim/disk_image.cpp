#include "sim/disk_image.hpp"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <vector>

namespace drctl::sim {

namespace {

const std::string kMagic = "drctl-sim-disk 1\n";

std::uint64_t fnv1a(const char* data, std::size_t size) {
  std::uint64_t h = 14695981039346656037ULL;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string escape(const std::string& s) {
  if (s.empty()) return "-";
  if (s == "-") return "%2D";
  std::string out;
  for (char c : s) {
    switch (c) {
      case '%': out += "%25"; break;
      case ' ': out += "%20"; break;
      case '\n': out += "%0A"; break;
      case '\r': out += "%0D"; break;
      case '\t': out += "%09"; break;
      default: out += c;
    }
  }
  return out;
}

std::string unescape(const std::string& s) {
  if (s == "-") return "";
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
      throw std::invalid_argument("a bad escape in the field '" + s + "'");
    out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

std::int64_t number(const std::string& text, const std::string& line) {
  try {
    std::size_t used = 0;
    const std::int64_t v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("'" + text + "' is not a number in the line '" + line + "'");
}

}  // namespace

std::string encode_disk_image(const DiskImage& image) {
  if (image.content == DiskImage::Content::empty) return "";
  std::string out = kMagic;
  auto line = [&](std::initializer_list<std::string> parts) {
    std::string l;
    for (const auto& p : parts) l += (l.empty() ? "" : " ") + p;
    out += l + "\n";
  };
  if (image.content == DiskImage::Content::system) {
    line({"system", escape(image.system)});
    line({"os", image.os == SimHost::Os::freebsd ? "freebsd" : "gnu_linux"});
    line({"swap", image.swap ? "on" : "off"});
    for (const auto& p : image.packages) line({"package", escape(p)});
    for (const auto& s : image.services) line({"service", escape(s)});
  } else {
    const PoolState& p = image.pool;
    line({"pool", escape(p.pool), std::to_string(p.pool_bytes)});
    for (const auto& d : p.datasets) {
      line({"dataset", escape(d.name), std::to_string(d.bytes), d.quota ? std::to_string(*d.quota) : "none"});
      for (const auto& [name, bytes] : d.snapshots) line({"snapshot", escape(d.name), escape(name), std::to_string(bytes)});
    }
    for (const auto& s : p.shares) {
      std::string nets;
      for (const auto& n : s.networks) nets += (nets.empty() ? "" : ",") + n;
      line({"share", std::to_string(s.id), s.enabled ? "enabled" : "disabled", escape(s.path), escape(nets), escape(s.comment)});
    }
  }
  for (const auto& d : image.dirs) line({"dir", escape(d)});
  for (const auto& [path, f] : image.files) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", f.mode);
    line({"file", escape(path), mode, std::to_string(f.content.size())});
    out += f.content + "\n";
  }
  out += "checksum " + hex64(fnv1a(out.data(), out.size())) + "\n";
  return out;
}

DiskImage decode_disk_image(const std::string& bytes) {
  DiskImage image;
  if (bytes.empty()) return image;
  if (bytes.compare(0, kMagic.size(), kMagic) != 0) {
    std::string start = bytes.substr(0, 16);
    for (auto& c : start)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '.';
    throw std::invalid_argument("not a drctl simulator disk image (it begins with '" + start + "')");
  }
  // The checksum line is the last one; everything before it is what it covers.
  const auto last = bytes.rfind("checksum ", bytes.size() >= 2 ? bytes.size() - 2 : 0);
  if (last == std::string::npos || bytes.back() != '\n' || (last > 0 && bytes[last - 1] != '\n'))
    throw std::invalid_argument("damaged: it ends without its checksum line (cut short?)");
  const std::string want = bytes.substr(last + 9, bytes.size() - last - 10);
  if (want != hex64(fnv1a(bytes.data(), last)))
    throw std::invalid_argument("damaged: its checksum does not match its content");
  std::size_t at = kMagic.size();
  while (at < last) {
    const auto end = bytes.find('\n', at);
    const std::string line = bytes.substr(at, end - at);
    at = end + 1;
    const auto f = fields(line);
    if (f.empty()) throw std::invalid_argument("an empty line in the image");
    auto want_fields = [&](std::size_t n) {
      if (f.size() != n) throw std::invalid_argument("the line '" + line + "' has " + std::to_string(f.size()) + " fields, not " + std::to_string(n));
    };
    const std::string& kind = f[0];
    if (kind == "system") {
      want_fields(2);
      image.content = DiskImage::Content::system;
      image.system = unescape(f[1]);
    } else if (kind == "os") {
      want_fields(2);
      if (f[1] != "freebsd" && f[1] != "gnu_linux") throw std::invalid_argument("unknown os '" + f[1] + "'");
      image.os = f[1] == "freebsd" ? SimHost::Os::freebsd : SimHost::Os::gnu_linux;
    } else if (kind == "swap") {
      want_fields(2);
      image.swap = f[1] == "on";
    } else if (kind == "package") {
      want_fields(2);
      image.packages.insert(unescape(f[1]));
    } else if (kind == "service") {
      want_fields(2);
      image.services.insert(unescape(f[1]));
    } else if (kind == "pool") {
      want_fields(3);
      image.content = DiskImage::Content::pool;
      image.pool.pool = unescape(f[1]);
      image.pool.pool_bytes = number(f[2], line);
    } else if (kind == "dataset") {
      want_fields(4);
      PoolState::Dataset d{unescape(f[1]), number(f[2], line), std::nullopt, {}};
      if (f[3] != "none") d.quota = number(f[3], line);
      image.pool.datasets.push_back(d);
    } else if (kind == "snapshot") {
      want_fields(4);
      if (image.pool.datasets.empty() || image.pool.datasets.back().name != unescape(f[1]))
        throw std::invalid_argument("a snapshot of " + unescape(f[1]) + " that does not follow its dataset");
      image.pool.datasets.back().snapshots.emplace_back(unescape(f[2]), number(f[3], line));
    } else if (kind == "share") {
      want_fields(6);
      PoolState::Share s{static_cast<int>(number(f[1], line)), unescape(f[3]), unescape(f[5]), {}, f[2] == "enabled"};
      std::istringstream nets(unescape(f[4]));
      for (std::string n; std::getline(nets, n, ',');) s.networks.push_back(n);
      image.pool.shares.push_back(s);
    } else if (kind == "dir") {
      want_fields(2);
      image.dirs.insert(unescape(f[1]));
    } else if (kind == "file") {
      want_fields(4);
      const auto size = static_cast<std::size_t>(number(f[3], line));
      if (at + size + 1 > last || bytes[at + size] != '\n')
        throw std::invalid_argument("the file " + unescape(f[1]) + " runs past the end of the image");
      image.files[unescape(f[1])] = DiskImage::File{bytes.substr(at, size), static_cast<unsigned>(std::stoul(f[2], nullptr, 8))};
      at += size + 1;
    } else {
      throw std::invalid_argument("an unknown record '" + kind + "'");
    }
  }
  if (image.content == DiskImage::Content::empty) throw std::invalid_argument("it holds neither a system nor a pool");
  return image;
}

}  // namespace drctl::sim
