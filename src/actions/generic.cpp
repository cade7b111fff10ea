#include "actions/generic.hpp"
#include "base/shell.hpp"

#include <algorithm>
#include <optional>
#include <fstream>
#include <iterator>
#include <cctype>

namespace drctl::actions {

using world::Duration;

std::string read_local_file(const std::string& file, const std::string& what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ActionError("cannot read " + what + " " + file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ActionError("cannot read " + what + " " + file);
  return text;
}

unsigned mode_input(Context& ctx) {
  const std::string m = ctx.inputs.at("mode").get<std::string>();
  if (m.empty() || m.find_first_not_of("01234567") != std::string::npos || m.size() > 4)
    throw ActionError("mode '" + m + "' is not an octal mode like 0644");
  return static_cast<unsigned>(std::stoul(m, nullptr, 8));
}

std::string file_content(Context& ctx, const std::string& action) {
  const int given = ctx.inputs.contains("content") + ctx.inputs.contains("template") + ctx.inputs.contains("source");
  if (given != 1) throw ActionError(action + " needs exactly one of content, template and source");
  if (ctx.inputs.contains("content")) return ctx.inputs["content"].get<std::string>();
  if (ctx.inputs.contains("source")) return read_local_file(ctx.inputs["source"].get<std::string>(), "source file");
  return render_template_file(ctx.inputs["template"].get<std::string>(), ctx.render);
}

std::string render_template_file(const std::string& file, const std::function<std::string(const std::string&)>& render) {
  const std::string text = read_local_file(file, "template");
  try {
    return render(text);
  } catch (const std::exception& e) {
    throw ActionError("template " + file + ": " + e.what());
  }
}

world::CommandResult run_or_fail(world::Host& host, const std::string& script, const std::string& what,
                                 Duration timeout, const std::string& stdin_data) {
  world::Command c;
  c.script = script;
  c.stdin_data = stdin_data;
  c.timeout = timeout;
  auto r = host.run(c);
  if (!r.ok()) {
    const std::string& text = r.err.empty() ? r.out : r.err;
    const std::string first = text.substr(0, text.find('\n'));  // the cause, e.g. tar's "Cannot write: …"
    throw ActionError(what + " on " + host.name() + " failed (exit " + std::to_string(r.exit_code) + ")" +
                          (first.empty() ? "" : ": " + first),
                      tail_lines(text, 8));
  }
  return r;
}

std::string tail_lines(const std::string& text, std::size_t lines) {
  std::size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  std::size_t pos = end;
  for (std::size_t n = 0; pos > 0; --pos)
    if (text[pos - 1] == '\n' && ++n == lines) break;
  return text.substr(pos, end - pos);
}

namespace {

/// "0.4s", "90s", "1200s": how long a timeout was, for messages.
std::string seconds_text(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, d.count() % 1000 ? "%.1fs" : "%.0fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

Duration duration_input(const json& inputs, const std::string& name) {
  const json& v = inputs.at(name);
  const auto d = duration_value(v);
  if (!d) throw ActionError("input " + name + ": bad duration " + v.dump() + " (" + std::string(kDurationExamples) + ")");
  return *d;
}

namespace {

/// shell.run: a command through /bin/sh on the step's host. `run:` steps use it.
class ShellRun : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "shell.run",
        "Run a shell command on the step's host",
        {{"command", InputType::String, true, std::nullopt, "The command, run by /bin/sh -c"},
         {"stdin", InputType::String, false, json(""), "Text fed to the command's standard input"},
         {"creates", InputType::String, false, std::nullopt, "Skip when this path already exists on the host"},
         {"unless", InputType::String, false, std::nullopt, "Skip when this command exits 0 on the host"}},
        {{"stdout", "What the command printed"}, {"stderr", "What it printed on stderr"}, {"exit_code", "Its exit status"}}};
    return s;
  }

  bool check(Context& ctx) const override {
    if (ctx.inputs.contains("creates")) {
      auto r = ctx.host.run({"test -e " + shell_quote(ctx.inputs["creates"].get<std::string>()), "", Duration(30000), {}, ""});
      if (r.ok()) return true;
    }
    if (ctx.inputs.contains("unless")) {
      auto r = ctx.host.run({ctx.inputs["unless"].get<std::string>(), "", ctx.timeout, {}, ""});
      if (r.ok()) return true;
    }
    return false;
  }

  json apply(Context& ctx) const override {
    world::Command cmd{ctx.inputs.at("command").get<std::string>(), ctx.inputs.value("stdin", ""), ctx.timeout, {}, ""};
    // stdout as it comes (drctl run -v shows it live), stderr once the command ended.
    std::string out;
    auto r = ctx.host.run_stream(cmd, [&](const char* data, std::size_t size) {
      out.append(data, size);
      ctx.log(std::string(data, size));
    });
    r.out = std::move(out);
    if (!r.err.empty()) ctx.log(r.err);
    if (r.cancelled) throw ActionError("interrupted", tail_lines(r.out + r.err, 20));
    if (r.timed_out)
      throw ActionError("timed out after " + seconds_text(ctx.timeout) + " (the command and its children were killed)",
                        tail_lines(r.out + r.err, 20));
    if (!r.transport_error.empty()) throw ActionError(r.transport_error, tail_lines(r.out + r.err, 20));
    if (!r.ok()) throw ActionError("exited with status " + std::to_string(r.exit_code), tail_lines(r.out + r.err, 20));
    return {{"stdout", r.out}, {"stderr", r.err}, {"exit_code", r.exit_code}};
  }
};

/// file.put: a file with given content and mode on the step's host, and what makes its reader
/// read it again (`then`), run only when the file changed.
class FilePut : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "file.put",
        "Write a file on the step's host: `content`, a Mustache `template` file rendered with the step's "
        "context, or a `source` file copied as it is; then, only if it changed, run `then`",
        {{"path", InputType::String, true, std::nullopt, "Absolute path on the host"},
         {"content", InputType::String, false, std::nullopt, "The file's content (give one of content, template, source)"},
         {"template", InputType::String, false, std::nullopt,
          "A template file on this machine, e.g. ./templates/x.mustache (relative to the runbook)"},
         {"source", InputType::String, false, std::nullopt, "A file on this machine, copied byte for byte"},
         {"mode", InputType::String, false, json("0644"), "Octal permission bits"},
         {"then", InputType::String, false, std::nullopt,
          "A command run by /bin/sh on the host after the file changed, so the daemon that reads it reads it again "
          "(e.g. systemctl restart tftpd-hpa, exportfs -ra); not run when the file was already so. Its failure fails "
          "the step and puts the file back as it was, so a retry writes it and runs the command again"}},
        {{"path", "The path written"}}};
    return s;
  }

  bool check(Context& ctx) const override {
    const std::string path = ctx.inputs.at("path").get<std::string>();
    auto current = ctx.host.get_file(path);
    return current && *current == content(ctx) && host_file_mode(ctx, path) == mode(ctx);
  }

  json apply(Context& ctx) const override {
    const std::string path = ctx.inputs.at("path").get<std::string>();
    write_then(ctx, path, content(ctx), mode(ctx), ctx.inputs.value("then", ""));
    return {{"path", path}};
  }

 private:
  static std::string content(Context& ctx) { return file_content(ctx, "file.put"); }

  static unsigned mode(Context& ctx) { return mode_input(ctx); }
};

}  // namespace

std::optional<unsigned> host_file_mode(Context& ctx, const std::string& path) {
  auto r = ctx.host.run({ctx.host.system().file_mode(path), "", Duration(30000), {}, ""});
  if (!r.ok()) return std::nullopt;
  return static_cast<unsigned>(std::stoul(r.out.empty() ? "0" : r.out, nullptr, 8));
}

namespace {

void put(Context& ctx, const std::string& path, const std::string& text, unsigned mode) {
  try {
    ctx.host.put_file(path, text, mode);
  } catch (const std::exception& e) {
    throw ActionError(std::string("cannot write ") + path + ": " + e.what());
  }
}

}  // namespace

void write_then(Context& ctx, const std::string& path, const std::string& text, unsigned mode, const std::string& then) {
  std::optional<std::string> before;
  unsigned before_mode = 0;
  if (!then.empty()) {
    before = ctx.host.get_file(path);
    if (before) before_mode = host_file_mode(ctx, path).value_or(0644);
  }
  put(ctx, path, text, mode);
  ctx.log("wrote " + path + "\n");
  if (then.empty()) return;
  ctx.log("then: " + then + "\n");
  auto r = ctx.host.run({then, "", ctx.timeout, {}, ""});
  if (!r.out.empty()) ctx.log(r.out);
  if (!r.err.empty()) ctx.log(r.err);
  if (r.ok()) return;
  if (before) put(ctx, path, *before, before_mode);
  else ctx.host.run({"rm -f " + shell_quote(path), "", Duration(30000), {}, ""});
  const std::string why = r.cancelled                  ? "interrupted"
                          : r.timed_out                ? "timed out after " + seconds_text(ctx.timeout)
                          : !r.transport_error.empty() ? r.transport_error
                                                       : "exited with status " + std::to_string(r.exit_code);
  throw ActionError("then: `" + then + "` " + why + " (" + path + " is put back as it was)", tail_lines(r.out + r.err, 20));
}

bool poll_until(Context& ctx, Duration timeout, Duration interval, const std::function<bool()>& ready) {
  auto& clock = ctx.world.clock();
  const auto deadline = clock.now() + timeout;
  while (true) {
    if (ready()) return true;
    if (clock.now() + interval > deadline) return false;
    if (!clock.sleep(interval)) throw ActionError("interrupted");
  }
}

namespace {

/// wait.tcp: until a TCP port accepts connections.
class WaitTcp : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{"wait.tcp",
                              "Wait until a TCP port accepts connections",
                              {{"host", InputType::String, true, std::nullopt, "Address or name"},
                               {"port", InputType::Integer, true, std::nullopt, "TCP port"},
                               {"timeout", InputType::Duration, false, json("60s"), "Give up after this long"},
                               {"interval", InputType::Duration, false, json("1s"), "Time between attempts"}},
                              {}};
    return s;
  }
  bool check(Context& ctx) const override { return probe(ctx, Duration(1000)); }
  json apply(Context& ctx) const override {
    Duration timeout = duration_input(ctx.inputs, "timeout");
    if (!poll_until(ctx, timeout, duration_input(ctx.inputs, "interval"), [&] { return probe(ctx, Duration(2000)); }))
      throw ActionError(ctx.inputs["host"].get<std::string>() + ":" + std::to_string(ctx.inputs["port"].get<int>()) +
                        " did not accept a connection within " + ctx.inputs["timeout"].get<std::string>());
    return json::object();
  }

 private:
  static bool probe(Context& ctx, Duration t) {
    return ctx.world.network().tcp_probe(ctx.inputs.at("host").get<std::string>(), ctx.inputs.at("port").get<int>(), t);
  }
};

/// wait.http: until an HTTP GET answers with the expected status (and body text).
class WaitHttp : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{"wait.http",
                              "Wait until an HTTP GET answers with a status (and optionally a body match)",
                              {{"url", InputType::String, true, std::nullopt, "http://host[:port]/path"},
                               {"host_header", InputType::String, false, json(""), "Host header to send (virtual hosts, ingresses)"},
                               {"status", InputType::Integer, false, json(200), "Expected status"},
                               {"body_contains", InputType::String, false, json(""), "Text the body must contain"},
                               {"timeout", InputType::Duration, false, json("60s"), "Give up after this long"},
                               {"interval", InputType::Duration, false, json("1s"), "Time between attempts"}},
                              {{"status", "The status received"}, {"body", "The body received"}}};
    return s;
  }
  bool check(Context& ctx) const override { return matches(ctx, get(ctx, Duration(2000))); }
  json apply(Context& ctx) const override {
    world::HttpResponse last;
    bool ok = poll_until(ctx, duration_input(ctx.inputs, "timeout"), duration_input(ctx.inputs, "interval"), [&] {
      last = get(ctx, Duration(5000));
      return matches(ctx, last);
    });
    if (!ok) {
      std::string got = last.status ? "status " + std::to_string(last.status) : last.error;
      throw ActionError(ctx.inputs["url"].get<std::string>() + " did not answer as expected within " +
                            ctx.inputs["timeout"].get<std::string>() + " (last: " + got + ")",
                        tail_lines(last.body, 10));
    }
    return {{"status", last.status}, {"body", last.body}};
  }

 private:
  // Actions are shared by parallel steps: everything comes from ctx, nothing is kept.
  static world::HttpResponse get(Context& ctx, Duration t) {
    return ctx.world.network().http_get(ctx.inputs.at("url").get<std::string>(),
                                        ctx.inputs.at("host_header").get<std::string>(), t);
  }
  static bool matches(Context& ctx, const world::HttpResponse& r) {
    const std::string body = ctx.inputs.at("body_contains").get<std::string>();
    return r.status == ctx.inputs.at("status").get<int>() && (body.empty() || r.body.find(body) != std::string::npos);
  }
};

}  // namespace

void add_generic_actions(Registry& registry) {
  registry.add(std::make_unique<ShellRun>());
  registry.add(std::make_unique<FilePut>());
  registry.add(std::make_unique<WaitTcp>());
  registry.add(std::make_unique<WaitHttp>());
}


}  // namespace drctl::actions
