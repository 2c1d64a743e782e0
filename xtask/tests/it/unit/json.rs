//! Unit tests of `xtask::model::json`.
//! Tests of its private helpers (`too_large`, `closest`, `edit_distance`) stay in its
//! `#[cfg(test)]` module.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use xtask::model::json::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    gate: Object<Gate>,
    #[serde(default)]
    rules: BTreeMap<String, Object<Rule>>,
    #[serde(default)]
    list: Vec<Object<Item>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Gate {
    confidence: f64,
    #[serde(default)]
    looks: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    max_pct_increase: Option<f64>,
    max_pct_decrease: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    c: u32,
}

fn err<T: DeserializeOwned + fmt::Debug>(text: &str) -> String {
    format!("{:#}", parse::<T>(text, "p.json").unwrap_err())
}

#[test]
fn a_good_document_parses() {
    let d: Doc = parse(
        r#"{"gate": {"confidence": 0.9}, "rules": {"rps": {"max_pct_decrease": 10}},
                "list": [{"c": 1}, {"c": 2}]}"#,
        "p.json",
    )
    .unwrap();
    assert_eq!(d.gate.0.confidence, 0.9);
    assert_eq!(d.gate.0.looks, 0);
    assert_eq!(d.rules["rps"].0.max_pct_decrease, Some(10.0));
    assert_eq!(d.rules["rps"].0.max_pct_increase, None);
    assert_eq!(d.list[1].0.c, 2);
}

#[test]
fn duplicate_keys_are_named_by_their_path() {
    for (text, field) in [
        (r#"{"a": 1, "b": 2, "a": 3}"#, "a"),
        (
            r#"{"rules": {"rps": {"x": 1}, "rps": {"x": 2}}}"#,
            "rules.rps",
        ),
        (
            r#"{"a": {"b": [{"c": 1}, {"d": 1}, {"c": 1, "c": 2}]}}"#,
            "a.b[2].c",
        ),
        (r#"[{"c": 1}, [], {"e": {"c": 1, "c": 2}}]"#, "[2].e.c"),
        // serde_json unescapes keys, so an escaped spelling is the same key.
        (r#"{"ab": 1, "a\u0062": 2}"#, "ab"),
    ] {
        let e = format!("{:#}", check_duplicates(text, "p.json").unwrap_err());
        let want = format!("p.json: field `{field}`: duplicate key; ");
        assert!(e.starts_with(&want), "{text}: {e}");
        // Through `parse` too, before any type is looked at.
        let e = err::<serde_json::Value>(text);
        assert!(e.starts_with(&want), "{text}: {e}");
    }
    let e = err::<Doc>(r#"{"gate": {"confidence": 0.9, "confidence": 0.99}}"#);
    assert!(e.contains("field `gate.confidence`: duplicate key"), "{e}");
    // Equal keys in different objects are fine.
    check_duplicates(
        r#"{"a": {"x": 1}, "b": {"x": 1}, "c": [{"x": 1}, {"x": 2}]}"#,
        "p",
    )
    .unwrap();
}

#[test]
fn invalid_json_says_where() {
    for text in ["{ not json", "", r#"{"a": 1} x"#, r#"{"a": 1e400}"#] {
        let e = format!("{:#}", check_duplicates(text, "p.json").unwrap_err());
        assert!(e.starts_with("parsing p.json as JSON: "), "{text}: {e}");
        assert!(e.contains(" line 1 column "), "{text}: {e}");
        let e = err::<Doc>(text);
        assert!(e.starts_with("parsing p.json as JSON: "), "{text}: {e}");
    }
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    let e =
        err::<Doc>(r#"{"gate": {"confidence": 0.9}, "rules": {"rps": {"max_pct_increse": 5}}}"#);
    assert_eq!(
        e,
        "p.json: field `rules.rps.max_pct_increse`: unknown key; did you mean \
         `max_pct_increase`? (field `rules.rps` takes one of: max_pct_decrease, max_pct_increase)"
    );
    let e = err::<Doc>(r#"{"gate": {"confidnece": 0.9}}"#);
    assert!(
        e.starts_with("p.json: field `gate.confidnece`: unknown key; did you mean `confidence`?"),
        "{e}"
    );
    let e = err::<Doc>(r#"{"gate": {"confidence": 0.9}, "list": [{"c": 1}, {"C": 1}]}"#);
    assert!(e.starts_with("p.json: field `list[1].C`: unknown key; did you mean `c`? (field `list[1]` takes one of: c)"), "{e}");
    // Nothing near: no guess, and the top level is named as such.
    let e = err::<Doc>(r#"{"gate": {"confidence": 0.9}, "extra": 1}"#);
    assert_eq!(
        e,
        "p.json: field `extra`: unknown key (the top level takes one of: gate, list, rules)"
    );
}

#[test]
fn wrong_types_and_missing_fields_name_the_field() {
    let e = err::<Doc>(r#"{"gate": {"confidence": "high"}}"#);
    assert_eq!(
        e,
        "p.json: field `gate.confidence`: invalid type: string \"high\", expected f64"
    );
    let e = err::<Doc>(r#"{"gate": {"confidence": 0.9}, "list": [{"c": 1}, {"c": -1}]}"#);
    assert!(
        e.starts_with("p.json: field `list[1].c`: invalid value: integer `-1`"),
        "{e}"
    );
    assert_eq!(
        err::<Doc>(r#"{"gate": {}}"#),
        "p.json: field `gate.confidence`: is required"
    );
    assert_eq!(err::<Doc>("{}"), "p.json: field `gate`: is required");
    // The top level is just the file.
    assert_eq!(
        err::<Vec<u32>>(r#"{"a": 1}"#),
        "p.json: invalid type: map, expected a sequence"
    );
}

#[test]
fn a_struct_is_read_only_from_an_object() {
    // Serde's derived struct alone takes an array (the fields by position).
    let positional: Gate = serde_json::from_str("[0.9, 3]").unwrap();
    assert_eq!(positional.looks, 3);
    assert_eq!(
        err::<Doc>(r#"{"gate": [0.9, 3]}"#),
        "p.json: field `gate`: expected an object, found an array"
    );
    assert_eq!(
        err::<Doc>(r#"{"gate": {"confidence": 1}, "rules": {"rps": "fast"}}"#),
        "p.json: field `rules.rps`: expected an object, found a string (\"fast\")"
    );
    assert_eq!(
        err::<Doc>(r#"{"gate": null}"#),
        "p.json: field `gate`: expected an object, found null"
    );
    assert_eq!(
        err::<Object<Doc>>("[]"),
        "p.json: expected an object, found an array"
    );
}

#[test]
fn read_input_bounds_a_stream_without_a_size() {
    // /dev/zero has no end and says size 0: only `max + 1` bytes are read.
    let e = format!(
        "{:#}",
        read_input(Path::new("/dev/zero"), 4096).unwrap_err()
    );
    assert!(e.starts_with("/dev/zero is larger than 4096 bytes"), "{e}");
    let e = format!(
        "{:#}",
        read_input(Path::new("/nonexistent/p.json"), 100).unwrap_err()
    );
    assert!(e.starts_with("reading /nonexistent/p.json: "), "{e}");
}

#[test]
fn read_input_names_the_first_byte_that_is_not_utf8() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"{\"a\": \"\xff\"}").unwrap();
    let e = format!("{:#}", read_input(f.path(), 100).unwrap_err());
    assert_eq!(
        e,
        format!(
            "{}: not UTF-8 (invalid byte at offset 7)",
            f.path().display()
        )
    );
}
