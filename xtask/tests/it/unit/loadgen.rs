//! Unit tests of `xtask::bench::loadgen`.

use xtask::bench::loadgen::*;

#[test]
fn nonzero_exit_is_an_error_with_stderr() {
    let err = parse_output(b"", b"bad flag --x", Some(2)).unwrap_err();
    assert!(format!("{err:#}").contains("bad flag --x"));
}

#[test]
fn json_object_is_required() {
    assert!(parse_output(b"[1]", b"", Some(0)).is_err());
    assert!(parse_output(b"{\"rps\": 1}", b"", Some(0)).is_ok());
}
