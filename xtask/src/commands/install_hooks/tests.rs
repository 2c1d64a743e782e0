//! Unit tests of `crate::commands::install_hooks`.

use crate::commands::install_hooks::*;

#[test]
fn the_script_carries_the_marker_and_a_shebang() {
    assert!(PRE_PUSH.starts_with("#!/usr/bin/env bash\n"));
    assert!(PRE_PUSH.lines().any(|l| l == MARKER));
    assert!(PRE_PUSH.contains("set -euo pipefail"));
}

#[test]
fn install_is_idempotent_and_keeps_foreign_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = dir.path().join("hooks");
    assert_eq!(install(&hooks, false).unwrap(), Outcome::New);
    assert_eq!(install(&hooks, false).unwrap(), Outcome::UpToDate);
    assert_eq!(install(&hooks, true).unwrap(), Outcome::UpToDate);

    // An older version of ours is updated without --force.
    std::fs::write(
        hooks.join("pre-push"),
        format!("#!/bin/sh\n{MARKER}\nold\n"),
    )
    .unwrap();
    assert_eq!(install(&hooks, false).unwrap(), Outcome::Updated);
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-push")).unwrap(),
        PRE_PUSH
    );

    std::fs::write(hooks.join("pre-push"), "#!/bin/sh\necho mine\n").unwrap();
    let err = install(&hooks, false).unwrap_err();
    assert!(format!("{err:#}").contains("--force"), "{err:#}");
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-push")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    let backup = hooks.join("pre-push.bak");
    assert_eq!(
        install(&hooks, true).unwrap(),
        Outcome::Replaced {
            backup: backup.clone()
        }
    );
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "#!/bin/sh\necho mine\n"
    );

    // A second forced replacement keeps the first backup.
    std::fs::write(hooks.join("pre-push"), "#!/bin/sh\necho other\n").unwrap();
    assert_eq!(
        install(&hooks, true).unwrap(),
        Outcome::Replaced {
            backup: hooks.join("pre-push.bak.2")
        }
    );
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
}
