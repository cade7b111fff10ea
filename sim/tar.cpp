// `tar` on a simulated host: real tar bytes (pax, gzip optional) made and read with libarchive
// in the simulated file system. GNU tar on GNU/Linux; bsdtar on FreeBSD, which refuses the
// options it does not have (--sparse: it finds holes by itself) with its own words, as
// tests/fixtures/freebsd/ keeps them from the real bsdtar 3.6.2.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "sim/host.hpp"
#include "sim/host_paths.hpp"

namespace drctl::sim {

namespace {

std::string join_path(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel == ".") return dir;
  if (rel[0] == '/') return rel;
  std::string r = rel.rfind("./", 0) == 0 ? rel.substr(2) : rel;
  return dir == "/" ? "/" + r : dir + "/" + r;
}

la_ssize_t append_to_string(struct archive*, void* out, const void* buf, std::size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

/// The long options bsdtar 3.6 takes that drctl may send (bsdtar.1; its cmdline.c has the rest).
bool bsdtar_takes(const std::string& option) {
  static const char* const known[] = {"--format=pax", "--format=ustar", "--xattrs", "--no-xattrs", "--numeric-owner",
                                      "--acls", "--no-acls", "--same-owner", "--no-same-owner", "--version",
                                      "--null", "--no-recursion", "--norecurse"};
  for (const char* k : known)
    if (option == k) return true;
  return false;
}

}  // namespace

SimHost::Result SimHost::bsdtar_refusal(const std::string& option) const {
  return {1, "",
          "tar: Option " + option + " is not supported\n"
          "Usage:\n"
          "  List:    tar -tf <archive-filename>\n"
          "  Extract: tar -xf <archive-filename>\n"
          "  Create:  tar -cf <archive-filename> [filenames...]\n"
          "  Help:    tar --help\n"};
}

/// tar -c|-x|-t [-z] [-v] -f FILE [-C DIR] [-T LIST [--null] [--no-recursion|-n]] [PATH…]: real
/// tar bytes (pax, via libarchive) in the simulated file system, so an archive made here reads
/// anywhere. Created archives hold directories and files as GNU tar and bsdtar write them (a
/// directory before what is in it, "./sub/"), with each file's mode and mtime to the nanosecond
/// (in the pax header, as GNU tar's --format=pax and bsdtar write a fractional mtime).
SimHost::Result SimHost::tar(const std::vector<std::string>& argv, const std::string& stdin_data) {
  char mode = 0;
  bool gzip = false, nul = false, recurse = true;
  std::string file, dir = cwd_, list_file;  // without -C, names are relative to the working directory
  std::vector<std::string> paths;
  const bool bsd = os_ == Os::freebsd;
  for (std::size_t i = 1; i < argv.size(); ++i)  // bsdtar refuses before it does anything
    if (bsd && argv[i].rfind("--", 0) == 0 && argv[i] != "--" && !bsdtar_takes(argv[i])) return bsdtar_refusal(argv[i]);
  if (argv.size() == 2 && argv[1] == "--version")
    return {0,
            bsd ? "bsdtar 3.6.2 - libarchive 3.6.2 zlib/1.2.13 liblzma/5.4.1 bz2lib/1.0.8 liblz4/1.9.4 libzstd/1.5.4 \n"
                : "tar (GNU tar) 1.34\nCopyright (C) 2021 Free Software Foundation, Inc.\n",
            ""};
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-C" && i + 1 < argv.size()) {
      dir = absolute(argv[++i]);
    } else if (a == "-T" && i + 1 < argv.size()) {
      list_file = argv[++i];
    } else if (a == "--null") {
      nul = true;  // the -T list's names end in NUL, taken as they are
    } else if (a == "--no-recursion" || (bsd && (a == "-n" || a == "--norecurse"))) {
      recurse = false;  // GNU's --no-recursion; bsdtar's -n (on GNU tar, -n is --seek)
    } else if (a == "--no-unquote" && !bsd) {
      continue;  // GNU: names in the list are not unquoted (the simulated tar never unquotes)
    } else if (a == "-f" && i + 1 < argv.size()) {
      file = argv[++i];
    } else if ((i == 1 || a[0] == '-') && a.find_first_not_of("-cxtzvfp") == std::string::npos) {
      for (char c : a) {
        if (c == 'c' || c == 'x' || c == 't') mode = c;
        if (c == 'z') gzip = true;
        if (c == 'f' && i + 1 < argv.size()) file = argv[++i];
      }
    } else if (a == "--format=pax" || a == "--xattrs" || a == "--sparse" || a == "--numeric-owner" || a == "-p" ||
               (bsd && bsdtar_takes(a))) {
      continue;  // what drctl asks for; the simulated files have no more to keep
    } else if (a[0] == '-') {
      return {2, "", "tar: sim: unsupported option '" + a + "'\n"};
    } else {
      paths.push_back(a);
    }
  }
  if (!mode || file.empty()) return {2, "", "tar: sim: give one of -c -x -t and -f FILE\n"};
  if (!is_dir(dir)) return {2, "", "tar: " + dir + ": Cannot open: No such file or directory\n"};
  if (!list_file.empty()) {  // -T: the names to archive, a line (or with --null a NUL-terminated name) each
    std::string list = list_file == "-" ? stdin_data : get_file(absolute(list_file)).value_or("");
    if (list_file != "-" && !files_.contains(absolute(list_file)))
      return {2, "", "tar: " + list_file + ": Cannot open: No such file or directory\n"};
    const char end = nul ? '\0' : '\n';
    std::size_t at = 0;
    for (std::size_t stop; at < list.size(); at = stop + 1) {
      stop = std::min(list.find(end, at), list.size());
      if (stop > at) paths.push_back(list.substr(at, stop - at));
    }
  }
  std::string out;
  if (mode == 'c') {
    std::string bytes;
    struct archive* a = archive_write_new();
    archive_write_set_format_pax(a);
    if (gzip) archive_write_add_filter_gzip(a);
    archive_write_open(a, &bytes, nullptr, append_to_string, nullptr);
    int missing = 0;
    std::string err;
    auto entry = [&](const std::string& path, std::string name) {
      if (name[0] == '/') name.erase(0, 1);  // as GNU tar: "Removing leading `/' from member names"
      const auto st = stat_of(path);
      struct archive_entry* e = archive_entry_new();
      archive_entry_set_pathname(e, (st->dir && !name.ends_with("/") ? name + "/" : name).c_str());
      archive_entry_set_filetype(e, st->dir ? AE_IFDIR : AE_IFREG);
      archive_entry_set_perm(e, st->mode);
      archive_entry_set_uid(e, st->meta.uid);
      archive_entry_set_gid(e, st->meta.gid);
      archive_entry_set_mtime(e, st->meta.mtime_ns / 1000000000, st->meta.mtime_ns % 1000000000);
      archive_entry_set_size(e, st->dir ? 0 : static_cast<la_int64_t>(st->size));
      archive_write_header(a, e);
      archive_entry_free(e);
      if (st->dir) return;
      const File& f = files_.at(path);
      archive_write_data(a, f.content.data(), f.content.size());
      charge_io(path, f.content.size(), true, file == "-");
    };
    for (const auto& p : paths) {
      const std::string base = join_path(dir, p);
      if (!exists(base)) {
        ++missing;
        err += "tar: " + p + ": Cannot stat: No such file or directory\n";
        continue;
      }
      // The name as given, then what is under it (unless told not to recurse).
      walk(base, recurse ? -1 : 0, [&](const std::string& path, int) {
        const std::string below = path.substr(base == "/" ? 0 : base.size());
        std::string name = p == "/" ? below : (p.ends_with("/") && !below.empty() ? p + below.substr(1) : p + below);
        if (name.empty()) name = "/";
        entry(path, name);
      });
    }
    archive_write_close(a);
    archive_write_free(a);
    if (file == "-")
      out = bytes;
    else
      put_file(file[0] == '/' ? file : "/" + file, bytes, 0644);
    return {missing ? 2 : 0, out, err};
  }
  std::string bytes = file == "-" ? stdin_data : "";
  if (file != "-") {
    auto it = files_.find(file[0] == '/' ? file : "/" + file);
    if (it == files_.end()) return {2, "", "tar: " + file + ": Cannot open: No such file or directory\n"};
    bytes = it->second.content;
  }
  struct archive* a = archive_read_new();
  archive_read_support_format_all(a);
  archive_read_support_filter_all(a);
  Result r;
  if (archive_read_open_memory(a, bytes.data(), bytes.size()) != ARCHIVE_OK) {
    r = {2, "", "tar: " + file + ": This does not look like a tar archive\n"};
  } else {
    struct archive_entry* e;
    int rc;
    // A directory's time is set once what is in it has been written (GNU tar's delayed_set_stat,
    // bsdtar's fixup list): writing its entries would move it again.
    std::vector<std::pair<std::string, std::int64_t>> dir_times;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
      const std::string name = archive_entry_pathname(e);
      if (mode == 't') {
        r.out += name + "\n";
        continue;
      }
      const std::string path = join_path(dir, name);
      if (archive_entry_filetype(e) == AE_IFDIR) {
        const std::string d = path.size() > 1 && path.back() == '/' ? path.substr(0, path.size() - 1) : path;
        make_dir(d);
        if (archive_entry_mtime_is_set(e))  // tar -x sets the times it read (GNU tar, bsdtar)
          dir_times.emplace_back(d, archive_entry_mtime(e) * 1000000000 + archive_entry_mtime_nsec(e));
        change_owner(d, static_cast<unsigned>(archive_entry_uid(e)), static_cast<unsigned>(archive_entry_gid(e)));
        continue;
      }
      std::string content;
      char buf[65536];
      for (la_ssize_t n; (n = archive_read_data(a, buf, sizeof buf)) > 0;) content.append(buf, static_cast<std::size_t>(n));
      std::string why;
      if (!store(path, content, archive_entry_perm(e), &why)) {  // GNU tar goes on, and exits 2 at the end
        r.code = 2;
        r.err += "tar: " + name + ": Cannot write: " + why + "\n";
      } else {
        // As root (drctl's restores run with sudo or as root): the owners it read, and the mtime.
        change_owner(path, static_cast<unsigned>(archive_entry_uid(e)), static_cast<unsigned>(archive_entry_gid(e)));
        if (archive_entry_mtime_is_set(e)) files_.at(path).meta.mtime_ns = archive_entry_mtime(e) * 1000000000 + archive_entry_mtime_nsec(e);
        if (file == "-") charge_io(path, content.size(), false, true);  // the data it stands for came down the stream
      }
    }
    for (const auto& [d, t] : dir_times)
      if (is_dir(d)) dir_meta(d).mtime_ns = t;
    if (rc != ARCHIVE_EOF) r = {2, r.out, std::string("tar: ") + archive_error_string(a) + "\n"};
  }
  archive_read_free(a);
  return r;
}

}  // namespace drctl::sim
