// `drctl snapshot …`: argument wiring for the repository commands. The commands themselves are in
// snapshot_*_cmd.cpp (declared, with what they share, in cli/snapshot_common.hpp).
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "cli/snapshot_common.hpp"
#include "offsite/sftp_repo.hpp"
#include "store/backend.hpp"
#include "store/key_source.hpp"

namespace drctl::cli {

using namespace drctl::store;
using namespace snapshot_detail;

namespace {

/// A count option (--keep-last N): digits only, at most 9 of them (an int). CLI11 puts the
/// option's name before the message; the value is shown as given.
CLI::Validator count_option() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos)
          return "takes a count from 0 to 999999999, not '" + printable(value) + "'";
        return "";
      },
      "COUNT");
}

/// True when the chosen subcommand only reads the repository (what an sftp:// one allows).
bool reads_only(const CLI::App& snap) {
  static const std::set<std::string> readers = {"list", "show", "ls", "diff", "restore", "verify", "export", "stats", "find"};
  for (const CLI::App* sub : snap.get_subcommands()) {
    if (sub->get_name() == "key") {
      for (const CLI::App* k : sub->get_subcommands())
        if (k->get_name() != "list") return false;
    } else if (!readers.contains(sub->get_name())) {
      return false;
    }
  }
  return true;
}

}  // namespace

void add_snapshot_commands(CLI::App& app, Action& run) {
  auto common = std::make_shared<Common>();
  CLI::App* snap = app.add_subcommand("snapshot", "Back up to, inspect and restore from a snapshot repository");
  snap->require_subcommand(1);
  snap->fallthrough();
  snap->add_option("--repo", common->repo,
                   "Repository path, or sftp://[USER@]HOST[:PORT]/PATH to read a far copy where it lies (read-only) "
                   "(default: $DRCTL_REPO, else ./snapshots)");
  snap->add_option("--lock-wait", common->lock_wait, "How long to wait for another writer's lock, for a prune to finish (readers), or for readers to finish (prune) (e.g. 30s, 5m)")
      ->capture_default_str();
  snap->add_option("--password-file", common->password_file,
                   "An encrypted repository's passphrase: the file's contents without a trailing line break (default: $DRCTL_PASSWORD_FILE, else asked on a terminal)");
  snap->add_option("--key-file", common->key_file,
                   "An encrypted repository's key file, at least 32 random bytes (default: $DRCTL_KEY_FILE)");
  snap->add_option("--ssh-config", common->ssh_config, "The OpenSSH client configuration for --repo sftp://… (as ssh -F)");
  // Every subcommand's work runs with the credential set; Repository finds it there.
  snap->callback([&run, common, snap] {
    run = [inner = run, common, snap] {
      set_credential_files(common->password_file, common->key_file);
      // --repo sftp://…: read over SFTP (offsite/sftp_repo.hpp); a writing command is refused before any work.
      if (is_remote_location(common->path())) {
        if (!reads_only(*snap)) refuse_remote_write(common->path().string());
        offsite::register_sftp_repositories();
        offsite::set_sftp_repo_options(
            {common->ssh_config, std::chrono::milliseconds(duration_option(common->lock_wait, "--lock-wait")), warn});
      }
      return inner();
    };
  });

  auto config = std::make_shared<RepoConfig>();
  auto encrypt = std::make_shared<bool>(false);
  auto* init = snap->add_subcommand("init", "Create an empty repository");
  init->add_option("--chunk-min", config->chunker.min, "Smallest chunk in bytes")->capture_default_str();
  init->add_option("--chunk-avg", config->chunker.avg, "Average chunk in bytes")->capture_default_str();
  init->add_option("--chunk-max", config->chunker.max, "Largest chunk in bytes")->capture_default_str();
  init->add_option("--compression-level", config->compression_level, "zstd level, 1-19")->capture_default_str();
  init->add_flag("--encrypt", *encrypt,
                 "Encrypt everything stored (XChaCha20-Poly1305; keyed ids), with the passphrase or key file given as "
                 "--password-file / --key-file, their variables, or asked on a terminal");
  init->callback([&run, common, config, encrypt] { run = [=] { return cmd_init(*common, *config, *encrypt); }; });

  auto key = snap->add_subcommand("key", "Manage an encrypted repository's passphrases and key files");
  key->require_subcommand(1);
  auto new_files = std::make_shared<std::array<std::string, 2>>();
  auto key_ref = std::make_shared<std::string>();
  auto key_force = std::make_shared<bool>(false);
  auto* key_list = key->add_subcommand("list", "List the keys: id, when and where made, kind (* the one in use)");
  key_list->callback([&run, common] { run = [=] { return cmd_key_list(*common); }; });
  auto* key_add = key->add_subcommand("add", "Add a passphrase or key file that opens the repository");
  auto* key_passwd = key->add_subcommand("passwd", "Replace the key in use by a new passphrase or key file");
  for (auto* sub : {key_add, key_passwd}) {
    sub->add_option("--new-password-file", (*new_files)[0], "The new passphrase: the file's contents without a trailing line break (default: asked on a terminal)");
    sub->add_option("--new-key-file", (*new_files)[1], "The new key file (at least 32 random bytes)");
  }
  key_add->callback([&run, common, new_files] { run = [=] { return cmd_key_add(*common, (*new_files)[0], (*new_files)[1]); }; });
  key_passwd->callback([&run, common, new_files] {
    run = [=] { return cmd_key_passwd(*common, (*new_files)[0], (*new_files)[1]); };
  });
  auto* key_remove = key->add_subcommand("remove", "Remove a key (never the last; the one in use only with --force)");
  key_remove->add_option("ID", *key_ref, "Key id or unique prefix, as `key list` shows")->required();
  key_remove->add_flag("--force", *key_force, "Remove the key this command opened the repository with");
  key_remove->callback([&run, common, key_ref, key_force] { run = [=] { return cmd_key_remove(*common, *key_ref, *key_force); }; });

  auto nas = std::make_shared<std::vector<std::string>>();
  auto tags = std::make_shared<std::vector<std::string>>();
  auto* create = snap->add_subcommand("create", "Capture sources into a new snapshot");
  create->add_option("--nas", *nas,
                     "NAME=PATH or NAME=ssh://[USER@]HOST[:PORT]/PATH: capture the directory as section nas/NAME (repeatable)")
      ->required();
  auto hooks = std::make_shared<std::array<std::string, 3>>();
  create->add_option("--pre", (*hooks)[0], "A command run on each source's host before its capture (e.g. zfs snapshot)");
  create->add_option("--post", (*hooks)[1], "A command run on each source's host after its capture, also when it failed");
  create->add_option("--ssh-config", (*hooks)[2], "The OpenSSH client configuration for ssh:// sources (as ssh -F)");
  create->add_option("--tag", *tags, "A tag for the snapshot (repeatable)");
  auto excludes = std::make_shared<std::array<std::vector<std::string>, 2>>();
  create->add_option("--exclude", (*excludes)[0],
                     "Leave out what matches PATTERN, as restic: a glob on a name (*.tmp) or on the last components "
                     "of a path (cache/*.bin), /-anchored from the source's root (/var/log), ** for any directories "
                     "(repeatable; local sources)");
  create->add_option("--exclude-file", (*excludes)[1],
                     "Read exclude patterns from FILE, one a line (# comments and empty lines ignored; repeatable)");
  create->callback([&run, common, nas, tags, hooks, excludes] {
    run = [=] {
      return cmd_create(*common, *nas, *tags, (*hooks)[0], (*hooks)[1], (*hooks)[2], (*excludes)[0], (*excludes)[1]);
    };
  });

  auto as_json = std::make_shared<bool>(false);
  auto* list = snap->add_subcommand("list", "List snapshots, oldest first");
  list->add_flag("--json", *as_json, "Machine-readable output");
  list->callback([&run, common, as_json] { run = [=] { return cmd_list(*common, *as_json); }; });

  auto id1 = std::make_shared<std::string>();
  auto id2 = std::make_shared<std::string>();
  auto* show = snap->add_subcommand("show", "Show a snapshot's sections, sources and skipped files");
  show->add_option("ID", *id1, "Snapshot id, unique prefix, or `latest`")->required();
  show->add_flag("--json", *as_json, "Machine-readable output");
  show->callback([&run, common, id1, as_json] { run = [=] { return cmd_show(*common, *id1, *as_json); }; });

  auto path = std::make_shared<std::string>();
  auto* ls = snap->add_subcommand("ls", "List the entries of a snapshot under PATH (e.g. nas/media/photos)");
  ls->add_option("ID", *id1, "Snapshot id, unique prefix, or `latest`")->required();
  ls->add_option("PATH", *path, "Path inside the snapshot");
  ls->add_flag("--json", *as_json, "Machine-readable output: one JSON array of the entries");
  ls->callback([&run, common, id1, path, as_json] { run = [=] { return cmd_ls(*common, *id1, *path, *as_json); }; });

  auto* diff = snap->add_subcommand("diff", "Show what changed between two snapshots (+ added, - removed, M modified)");
  diff->add_option("ID1", *id1, "Older snapshot")->required();
  diff->add_option("ID2", *id2, "Newer snapshot")->required();
  diff->add_flag("--json", *as_json, "Machine-readable output");
  diff->callback([&run, common, id1, id2, as_json] { run = [=] { return cmd_diff(*common, *id1, *id2, *as_json); }; });

  auto section = std::make_shared<std::string>();
  auto includes = std::make_shared<std::vector<std::string>>();
  auto to = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto* restore = snap->add_subcommand("restore", "Restore a snapshot (or part of it) into a directory");
  restore->add_option("ID", *id1, "Snapshot id, unique prefix, or `latest`")->required();
  restore->add_option("--section", *section, "Restore only this section (e.g. nas/media), directly into --to");
  restore->add_option("--include", *includes, "Restore only this path (relative to the section with --section; repeatable)");
  restore->add_option("--to", *to, "Target directory, or ssh://[USER@]HOST[:PORT]/PATH (with --section: tar -x there)")->required();
  restore->add_flag("--force", *force, "Restore into a non-empty directory, replacing what is in the way");
  auto restore_ssh = std::make_shared<std::string>();
  restore->add_option("--ssh-config", *restore_ssh, "The OpenSSH client configuration for an ssh:// target (as ssh -F)");
  restore->callback([&run, common, id1, section, includes, to, force, restore_ssh] {
    run = [=] {
      if (!restore_ssh->empty() && common->ssh_config.empty()) offsite::set_sftp_repo_ssh_config(*restore_ssh);
      return cmd_restore(*common, *id1, *section, *includes, *to, *force, *restore_ssh);
    };
  });

  auto read_data = std::make_shared<bool>(false);
  auto* verify = snap->add_subcommand("verify", "Check the repository; exit 1 naming every damaged snapshot and file");
  verify->add_flag("--read-data", *read_data, "Also re-read and re-hash every stored byte");
  auto subset = std::make_shared<std::string>();
  verify->add_option("--read-data-subset", *subset,
                     "Re-read only part of the data, as restic does: n/t (part n of t; t runs with n = 1..t read every byte "
                     "once) or x% (a random share)");
  verify->add_flag("--json", *as_json, "Machine-readable output (the exit code is the same)");
  verify->callback([&run, common, read_data, subset, as_json] {
    run = [=] { return cmd_verify(*common, *read_data, *subset, *as_json); };
  });

  auto fa = std::make_shared<ForgetArgs>();
  auto* forget = snap->add_subcommand("forget", "Remove snapshots a retention policy does not keep (and say why each is kept)");
  forget->add_option("--keep-last", fa->policy.last, "Keep the newest N")->check(count_option());
  forget->add_option("--keep-hourly", fa->policy.hourly, "Keep the newest of each of the last N hours")->check(count_option());
  forget->add_option("--keep-daily", fa->policy.daily, "Keep the newest of each of the last N days")->check(count_option());
  forget->add_option("--keep-weekly", fa->policy.weekly, "Keep the newest of each of the last N weeks")->check(count_option());
  forget->add_option("--keep-monthly", fa->policy.monthly, "Keep the newest of each of the last N months")
      ->check(count_option());
  forget->add_option("--keep-yearly", fa->policy.yearly, "Keep the newest of each of the last N years")->check(count_option());
  forget->add_option("--keep-within", fa->within,
                     "Keep every snapshot newer than DURATION before the newest one, e.g. 30d, 1y2m, 2d12h (y m d h; m is months, as in restic)");
  forget->add_option("--keep-tag", fa->keep_tags, "Keep snapshots with TAG, or with every tag of TAG,TAG (repeatable)");
  forget->add_flag("--prune", fa->prune, "Then remove the data no snapshot needs any more");
  forget->add_flag("--dry-run", fa->dry_run, "Only print what would be removed");
  forget->add_flag("--json", fa->json, "Machine-readable output");
  forget->callback([&run, common, fa] { run = [=] { return cmd_forget(*common, *fa); }; });

  auto* rebuild = snap->add_subcommand(
      "rebuild-index", "Make the index again from the packs (after index files were lost or damaged)");
  rebuild->callback([&run, common] {
    run = [=] {
      Repository repo(common->path());
      RepoLock lock = common->lock();
      std::size_t done = 0, total = 0;
      RebuildStats stats;
      {
        StatusLine status([&] { return "[" + std::to_string(done) + "/" + std::to_string(total) + " packs] reading"; });
        stats = rebuild_index(repo, warn, [&](std::size_t d, std::size_t t) { done = d, total = t; });
      }
      std::printf("index rebuilt from %zu packs: %zu blobs; %zu old index files removed%s\n", stats.packs, stats.blobs,
                  stats.old_index_files,
                  stats.damaged ? (", " + std::to_string(stats.damaged) + " damaged packs left out (see the warnings; "
                                   "`snapshot verify` names what they held)").c_str()
                                : "");
      return stats.damaged ? kPartial : kOk;
    };
  });

  auto prune_json_flag = std::make_shared<bool>(false);
  auto repack_small = std::make_shared<bool>(false);
  auto* prune_cmd = snap->add_subcommand("prune", "Remove data that no snapshot references");
  prune_cmd->add_flag("--repack-small", *repack_small,
                      "Also rewrite packs under 80 % of the pack size into full ones, where two or more hold the same kind of blob");
  prune_cmd->add_flag("--json", *prune_json_flag, "Machine-readable output");
  prune_cmd->callback([&run, common, prune_json_flag, repack_small] {
    run = [=] {
      Repository repo(common->path());
      RepoLock lock = common->lock();
      repo.reload_index();
      repo.clean_tmp();
      const PruneStats stats = run_prune(*common, repo, *prune_json_flag, *repack_small);
      if (*prune_json_flag) print_json(prune_json(stats));
      return kOk;
    };
  });

  auto tag_args = std::make_shared<TagArgs>();
  auto* tag = snap->add_subcommand("tag", "Change snapshots' tags (each gets a new manifest, and so a new id)");
  tag->add_option("ID", tag_args->ids, "Snapshot ids, unique prefixes, or `latest`")->required();
  tag->add_option("--add", tag_args->add, "Add TAG (repeatable)");
  tag->add_option("--remove", tag_args->remove, "Remove TAG (repeatable)");
  auto* set_opt = tag->add_option("--set", tag_args->set, "Replace every tag by TAG (repeatable; --set '' removes them all)");
  tag->add_flag("--json", tag_args->json, "Machine-readable output");
  tag->callback([&run, common, tag_args, set_opt] {
    tag_args->set_given = set_opt->count() > 0;
    run = [=] { return cmd_tag(*common, *tag_args); };
  });

  auto stat_ids = std::make_shared<std::vector<std::string>>();
  auto stat_mode = std::make_shared<std::string>();
  auto* stats_cmd = snap->add_subcommand("stats", "How much the snapshots hold and what they take in the repository");
  stats_cmd->add_option("ID", *stat_ids, "Only these snapshots (default: every one)");
  stats_cmd->add_option("--mode", *stat_mode,
                        "restore-size: only what the manifests record (no tree is read); raw-data: only the blobs "
                        "referenced; default both");
  stats_cmd->add_flag("--json", *as_json, "Machine-readable output");
  stats_cmd->callback([&run, common, stat_ids, stat_mode, as_json] {
    run = [=] { return cmd_stats(*common, *stat_ids, *stat_mode, *as_json); };
  });

  auto find_pattern = std::make_shared<std::string>();
  auto find_ids = std::make_shared<std::vector<std::string>>();
  auto* find_cmd = snap->add_subcommand("find", "Which snapshots hold an entry whose path matches PATTERN");
  find_cmd->add_option("PATTERN", *find_pattern,
                       "A glob on a name (*.jpg), on the last components of a path (photos/*.jpg), or /-anchored on the "
                       "path in the snapshot (/nas/media/photos/**)")
      ->required();
  find_cmd->add_option("--snapshot", *find_ids, "Only this snapshot (repeatable; default: every one)");
  find_cmd->add_flag("--json", *as_json, "Machine-readable output");
  find_cmd->callback([&run, common, find_pattern, find_ids, as_json] {
    run = [=] { return cmd_find(*common, *find_pattern, *find_ids, *as_json); };
  });

  auto file = std::make_shared<std::string>();
  auto* exp = snap->add_subcommand("export", "Write one snapshot to a portable .tar.zst file");
  exp->add_option("ID", *id1, "Snapshot id, unique prefix, or `latest`")->required();
  exp->add_option("FILE", *file, "Output file, e.g. backup.tar.zst (created 0600)")->required();
  auto export_force = std::make_shared<bool>(false);
  exp->add_flag("--force", *export_force, "Replace FILE if it exists");
  exp->callback([&run, common, id1, file, export_force] {
    run = [=] { return cmd_export(*common, *id1, *file, *export_force); };
  });

  auto* imp = snap->add_subcommand("import", "Read a snapshot from an exported .tar.zst file");
  imp->add_option("FILE", *file, "The exported file")->required();
  imp->callback([&run, common, file] { run = [=] { return cmd_import(*common, *file); }; });

  auto copy_args = std::make_shared<CopyArgs>();
  auto* copy = snap->add_subcommand("copy", "Copy snapshots to (or from) a repository on an SSH host over SFTP, checked there");
  copy->add_option("ID", copy_args->ids, "Snapshot ids or unique prefixes (with the packs they need; an encrypted repository asks for its key)");
  copy->add_flag("--all", copy_args->all, "Copy every snapshot");
  copy->add_option("--to", copy_args->to, "sftp://[USER@]HOST[:PORT]/PATH: the far repository (made when missing)");
  copy->add_option("--from", copy_args->from, "sftp://[USER@]HOST[:PORT]/PATH: copy that far repository into --repo");
  copy->add_option("--ssh-config", copy_args->ssh_config, "The OpenSSH client configuration (as ssh -F)");
  copy->add_flag("--verify-all", copy_args->verify_all,
                 "Also re-hash on the target every file an earlier copy sent (new files are always checked)");
  copy->callback([&run, common, copy_args] { run = [=] { return cmd_copy(*common, *copy_args); }; });

  auto* unlock = snap->add_subcommand("unlock", "Remove a stale lock left by a writer that is gone");
  unlock->add_flag("--force", *force, "Remove the lock even if its holder may still run");
  unlock->callback([&run, common, force] { run = [=] { return cmd_unlock(*common, *force); }; });
}

}  // namespace drctl::cli
