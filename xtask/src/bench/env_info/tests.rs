//! Unit tests of `crate::bench::env_info`.

use xshell::Shell;

use crate::bench::env_info::*;

#[test]
fn machine_has_the_pinned_fields() {
    let sh = Shell::new().unwrap();
    let mut extra = serde_json::Map::new();
    extra.insert("slowdown_knob".into(), false.into());
    let env = machine(&sh, extra);
    for key in FINGERPRINT_FIELDS
        .iter()
        .chain(&["mem_total_mb", "fingerprint", "slowdown_knob"])
    {
        assert!(!env.get(key).is_null(), "missing {key}: {env:?}");
    }
    assert!(env.cpu_count.unwrap() >= 1);
    // Same machine, same fingerprint.
    assert_eq!(
        env.fingerprint,
        machine(&sh, serde_json::Map::new()).fingerprint
    );
}
