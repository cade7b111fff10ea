// The line drctl hands a host's SSH server. sshd runs it as `$SHELL -c LINE` with the user's
// login shell, which on a FreeBSD appliance may be csh or tcsh: they end a single-quoted word at
// a newline ("Unmatched '''."), expand `!word` even inside single quotes ("Event not found."),
// and read `2>&1`, `$?` and the rest of sh's syntax otherwise. So the line is one that every
// shell family reads alike, and it runs the script with /bin/sh.
#pragma once
#include <string>

namespace drctl::world {

/// `exec PREFIX /bin/sh -c DECODER drctl ENCODED`: sh, bash, zsh, csh and tcsh all run `script`
/// with /bin/sh (as `sh -c SCRIPT drctl SCRIPT`: the script sees its own text as $1). ENCODED is
/// the script in single quotes with newline, `!` and `\` written as printf %b escapes, which the
/// decoder undoes; the line holds no newline and no `!`. `prefix` goes before /bin/sh (e.g.
/// "sudo -n --"); it must be plain words.
std::string any_login_shell_line(const std::string& script, const std::string& prefix = "");

/// The script in the form the decoder undoes (printf %b escapes for newline, `!` and `\`).
std::string percent_b_escaped(const std::string& script);

}  // namespace drctl::world
