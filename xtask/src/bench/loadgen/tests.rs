//! Unit tests of `crate::bench::loadgen`.

use crate::bench::loadgen::*;

#[test]
fn nonzero_exit_is_an_error_with_stderr() {
    let err = parse_output(b"", b"bad flag --x", Some(2)).unwrap_err();
    assert!(format!("{err:#}").contains("bad flag --x"));
}

#[test]
fn a_report_missing_a_field_is_an_error_naming_it() {
    assert!(parse_output(b"[1]", b"", Some(0)).is_err());
    let err = parse_output(b"{\"rps\": 1}", b"", Some(0)).unwrap_err();
    assert!(format!("{err:#}").contains("field"), "{err:#}");
}
