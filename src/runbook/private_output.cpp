#include "runbook/private_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "store/files.hpp"

namespace drctl::runbook {

namespace fs = std::filesystem;

int open_private_file(const fs::path& path, int flags) {
  store::Fd fd = store::open_or_throw(path, flags | O_CREAT, 0600);
  // The mode given to open() only applies to a new file, and the umask can only take bits
  // away: fchmod makes an existing file private too.
  if (::fchmod(fd.get(), 0600) != 0) store::throw_errno("cannot make private", path, errno);
  return fd.release();
}

void write_private_file(const fs::path& path, std::string_view text) {
  store::Fd fd(open_private_file(path, O_WRONLY | O_TRUNC));
  store::write_all(fd.get(), std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), path);
  if (::close(fd.release()) != 0) store::throw_errno("cannot write", path, errno);
}

void make_private_dirs(const fs::path& dir) {
  if (dir.empty() || fs::is_directory(dir)) return;
  if (dir.has_parent_path() && dir.parent_path() != dir) make_private_dirs(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST && fs::is_directory(dir)) return;  // made by someone else meanwhile
    store::throw_errno("cannot create directory", dir, errno);
  }
  // A umask holding owner bits would leave less than 0700, and drctl could not use it.
  if (::chmod(dir.c_str(), 0700) != 0) store::throw_errno("cannot make private", dir, errno);
}

}  // namespace drctl::runbook
