//! `cargo xtask install-hooks`: install the git `pre-push` hook (`ci/hooks/pre-push`) that runs
//! the quick perf gate when a push touches perf-relevant paths. Idempotent, and it never
//! overwrites a hook it did not write unless told to with `--force` (which keeps a backup).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use xshell::{Shell, cmd};

use crate::exit;
use crate::flags::InstallHooksArgs;

/// The committed hook script. Embedded at build time so the hook installed is the one of the
/// xtask that installs it; `cargo xtask install-hooks` rebuilds xtask when the script changes.
pub(crate) const PRE_PUSH: &str = include_str!("../../../ci/hooks/pre-push");

/// The line that marks a hook as ours: a hook file containing it may be replaced without
/// `--force`, because it was written by this command (perhaps an older version of it).
pub(crate) const MARKER: &str = "# xtask-managed-hook: perf-gate pre-push";

/// What `install` did, for the message and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// There was no pre-push hook.
    New,
    /// Our hook was there, identical: nothing was written.
    UpToDate,
    /// An older version of our hook was replaced.
    Updated,
    /// A foreign hook was moved to this backup path (only with `--force`).
    Replaced { backup: PathBuf },
}

pub fn run(args: &InstallHooksArgs) -> Result<u8> {
    // The repository is the one the command is started in, like any git command, so the hook
    // lands in the clone (or worktree) the developer is working in.
    let sh = Shell::new().context("creating a shell")?;
    let hooks = hooks_dir(&sh)?;
    let hook = hooks.join("pre-push");
    let at = hook.display();
    let done = match install(&hooks, args.force)? {
        Outcome::New => format!("installed the pre-push hook at {at}"),
        Outcome::UpToDate => {
            format!("the pre-push hook at {at} is already installed and up to date; nothing to do")
        }
        Outcome::Updated => {
            format!("updated the pre-push hook at {at} to the current ci/hooks/pre-push")
        }
        Outcome::Replaced { backup } => format!(
            "moved the existing pre-push hook to {} and installed ours at {at}",
            backup.display()
        ),
    };
    eprintln!("install-hooks: {done}");
    eprintln!(
        "install-hooks: pushes that touch the policy's gate.watch_paths now run \
         `cargo xtask perf-gate --workload quick`; bypass with `PERF_GATE=skip git push` or \
         `git push --no-verify`"
    );
    Ok(exit::OK)
}

/// The repository's hooks directory. `git rev-parse --git-path hooks` honours `core.hooksPath`
/// and, in a linked worktree, names the common directory's hooks, which is where git looks.
fn hooks_dir(sh: &Shell) -> Result<PathBuf> {
    let out = cmd!(sh, "git rev-parse --git-path hooks")
        .quiet()
        .read()
        .context("finding the git hooks directory (`git rev-parse --git-path hooks`): is this a git repository?")?;
    // Relative to the shell's directory (joining an absolute path gives that path).
    Ok(sh.current_dir().join(out.trim()))
}

/// Installs `PRE_PUSH` as `<hooks>/pre-push`. A hook without `MARKER` is someone else's: it is
/// kept and this fails (exit 2) unless `force`, which moves it to `pre-push.bak` first.
pub fn install(hooks: &Path, force: bool) -> Result<Outcome> {
    let hook = hooks.join("pre-push");
    // A dangling symlink is a hook too (it points somewhere the user chose), so test the link
    // itself, not what it points to.
    let existing = match std::fs::symlink_metadata(&hook) {
        Ok(_) => {
            Some(String::from_utf8_lossy(&std::fs::read(&hook).unwrap_or_default()).into_owned())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => Err(err).with_context(|| format!("reading {}", hook.display()))?,
    };
    let outcome = match existing {
        None => Outcome::New,
        Some(text) if text == PRE_PUSH && is_executable(&hook) => {
            return Ok(Outcome::UpToDate);
        }
        Some(text) if text.lines().any(|l| l.trim() == MARKER) => Outcome::Updated,
        Some(_) if !force => bail!(
            "{} is a pre-push hook that install-hooks did not write, so it was kept: run \
             `cargo xtask install-hooks --force` to move it to pre-push.bak and install the \
             perf-gate hook, or call ci/hooks/pre-push from your own hook",
            hook.display()
        ),
        Some(_) => {
            let backup = free_backup_path(hooks);
            std::fs::rename(&hook, &backup)
                .with_context(|| format!("moving {} to {}", hook.display(), backup.display()))?;
            Outcome::Replaced { backup }
        }
    };
    write_hook(hooks, &hook)?;
    Ok(outcome)
}

/// `pre-push.bak`, or `pre-push.bak.2`, ... when an earlier backup is there: a second
/// `--force` must not destroy the first backup.
fn free_backup_path(hooks: &Path) -> PathBuf {
    std::iter::once(hooks.join("pre-push.bak"))
        .chain((2..).map(|n| hooks.join(format!("pre-push.bak.{n}"))))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("an unused backup name exists")
}

/// Writes the hook through a temporary file in the same directory and renames it into place,
/// so a push running meanwhile sees the old hook or the new one, never half of one.
fn write_hook(hooks: &Path, hook: &Path) -> Result<()> {
    std::fs::create_dir_all(hooks).with_context(|| format!("creating {}", hooks.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(hooks)
        .with_context(|| format!("creating a temporary file in {}", hooks.display()))?;
    std::io::Write::write_all(&mut tmp, PRE_PUSH.as_bytes())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", tmp.path().display()))?;
    tmp.persist(hook)
        .with_context(|| format!("writing {}", hook.display()))?;
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests;
