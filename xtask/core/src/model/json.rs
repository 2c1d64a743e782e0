//! One strict way to read the JSON files xtask takes as input (policies, workloads, run
//! files): a size limit before anything is read into memory, UTF-8, no duplicate keys, and
//! errors that name the file and the field path (`{source}: field `rules.rps`: …`).
//!
//! serde_json keeps the last of two equal keys, and a derived struct takes an array for its
//! fields by position; both would let a hand-edited file mean something else than it says,
//! so `parse` refuses duplicates and `Object` refuses anything but an object.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::marker::PhantomData;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

/// Largest input file xtask reads (a bigger file is refused with a message naming it, not
/// read into memory).
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a whole input file once, refusing more than `max` bytes (`--candidate /dev/zero`
/// must fail fast, not read until memory runs out). Not UTF-8 is an error naming the file
/// and the byte offset.
pub fn read_input(path: &Path, max: u64) -> Result<String> {
    let reading = || format!("reading {}", path.display());
    let file = File::open(path).with_context(reading)?;
    let bytes = read_limited(file, max)
        .with_context(reading)?
        .ok_or_else(|| anyhow!(too_large(path, max)))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{}: not UTF-8 (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The whole of `file`, or `None` when it holds more than `max` bytes. A regular file says
/// its size and is refused before a byte is read; a pipe or device says 0 (or nothing
/// useful), so the read itself stops one byte past the limit.
pub fn read_limited(file: File, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > max {
        return Ok(None);
    }
    let capacity = if meta.is_file() { meta.len() } else { 0 };
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

fn too_large(path: &Path, max: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    let limit = if max >= MIB && max.is_multiple_of(MIB) {
        format!("{} MiB", max / MIB)
    } else {
        format!("{max} bytes")
    };
    format!(
        "{} is larger than {limit}, the most xtask reads from an input file (is it the right file?)",
        path.display()
    )
}

/// Parses `text` into `T`, refusing duplicate keys. Every data error names its field path
/// (`serde_path_to_error`) instead of a line and column; a missing field becomes "is
/// required" and an unknown one "unknown key; did you mean `x`? (… takes one of: …)", so the
/// message says what to do. Invalid JSON is "parsing {source} as JSON: …" with the position.
pub fn parse<T: DeserializeOwned>(text: &str, source: &str) -> Result<T> {
    check_duplicates(text, source)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().clone();
        data_error(e.into_inner(), &path, source)
    })?;
    de.end().map_err(|e| not_json(e, source))?;
    Ok(value)
}

/// The duplicate-key check alone, for readers that go through `serde_json::Value` (which
/// keeps the last duplicate).
pub fn check_duplicates(text: &str, source: &str) -> Result<()> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut walk = Walk::default();
    let result = (&mut walk).deserialize(&mut de).and_then(|()| de.end());
    match (result, walk.duplicate) {
        (Ok(()), _) => Ok(()),
        (Err(e), Some(field)) => bail!(
            "{source}: field `{field}`: duplicate key; a key may appear only once in an object, \
             else all but one of its values would be silently ignored (the second is at line {})",
            e.line()
        ),
        (Err(e), None) => Err(not_json(e, source)),
    }
}

/// A `T` read only from a JSON object, never from an array (see the module comment): wrap
/// each struct of a strict format in it, and read the top level with [`from_object`].
#[derive(Debug, Clone, PartialEq)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_object(deserializer, "an object").map(Object)
    }
}

/// Deserializes `T` from a JSON object only; anything else is "expected {expecting}, found
/// an array" (`expecting` such as "an object at the top level").
pub fn from_object<'de, D, T>(deserializer: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(ObjectVisitor(expecting, PhantomData))
}

struct ObjectVisitor<T>(&'static str, PhantomData<T>);

impl<T> ObjectVisitor<T> {
    fn found<E: de::Error>(self, what: fmt::Arguments<'_>) -> Result<T, E> {
        Err(E::custom(format_args!("expected {}, found {what}", self.0)))
    }
}

/// The visitor methods of every JSON scalar, each passing `$on` what it found ("a number
/// (5)").
macro_rules! scalars {
    ($on:ident) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            self.$on(format_args!("a boolean ({v})"))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.$on(format_args!("a number ({v})"))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.$on(format_args!("a number ({v})"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            self.$on(format_args!("a number ({v})"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            self.$on(format_args!("a string ({v:?})"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.$on(format_args!("null"))
        }
    };
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        self.found(format_args!("an array"))
    }

    scalars!(found);
}

/// Invalid JSON (or JSON nested too deep): serde_json's message with its line and column.
fn not_json(e: serde_json::Error, source: &str) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("parsing {source} as JSON"))
}

/// A value that is JSON but not a `T`, at `path`.
fn data_error(
    e: serde_json::Error,
    path: &serde_path_to_error::Path,
    source: &str,
) -> anyhow::Error {
    if !e.is_data() {
        return not_json(e, source);
    }
    let full = e.to_string();
    let location = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&location).unwrap_or(&full);
    let mut segments: Vec<String> = path.iter().map(|s| s.to_string()).collect();

    if let Some(rest) = msg.strip_prefix("missing field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        segments.push(name.to_string());
        return anyhow!("{source}: field `{}`: is required", join_path(&segments));
    }
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((key, expected)) = rest.split_once('`')
    {
        // The path ends at the unknown key (serde_path_to_error records the key it read).
        if segments.last().is_some_and(|last| last == key) {
            segments.pop();
        }
        let owner = if segments.is_empty() {
            "the top level".to_string()
        } else {
            format!("field `{}`", join_path(&segments))
        };
        let mut names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        names.sort_unstable();
        let takes = if names.is_empty() {
            format!("{owner} takes no keys")
        } else {
            format!("{owner} takes one of: {}", names.join(", "))
        };
        let hint = closest(key, &names).map_or(String::new(), |n| format!("; did you mean `{n}`?"));
        segments.push(key.to_string());
        return anyhow!(
            "{source}: field `{}`: unknown key{hint} ({takes})",
            join_path(&segments)
        );
    }
    if segments.is_empty() {
        anyhow!("{source}: {msg}")
    } else {
        anyhow!("{source}: field `{}`: {msg}", join_path(&segments))
    }
}

/// `a.b[2].c` from its segments (`[2]` for an array index, as serde_path_to_error writes it).
fn join_path(segments: &[String]) -> String {
    let mut out = String::new();
    for s in segments {
        if !out.is_empty() && !s.starts_with('[') {
            out.push('.');
        }
        out.push_str(s);
    }
    out
}

/// The expected key nearest to a mistyped one, when it is near enough to be the likely
/// intent: at most a third of the key's length in edits (one edit for short keys).
fn closest<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    let key = key.to_lowercase();
    let allowed = (key.chars().count() / 3).max(1);
    names
        .iter()
        .map(|n| (strsim::osa_distance(&key, &n.to_lowercase()), *n))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Walks any JSON value, keeping the path to where it is, and stops at the first key that
/// repeats in its object (remembered in `duplicate`, since serde's error carries only text).
#[derive(Default)]
struct Walk {
    path: Vec<String>,
    duplicate: Option<String>,
}

impl Walk {
    /// Every scalar is fine.
    fn scalar<E>(&mut self, _: fmt::Arguments<'_>) -> Result<(), E> {
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for &mut Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars!(scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for index in 0.. {
            self.path.push(format!("[{index}]"));
            let more = seq.next_element_seed(&mut *self)?.is_some();
            self.path.pop();
            if !more {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            self.path.push(key.clone());
            if !seen.insert(key) {
                self.duplicate = Some(join_path(&self.path));
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(&mut *self)?;
            self.path.pop();
        }
        Ok(())
    }
}

// Tests of private helpers; the public interface is tested in tests/it/unit/json.rs.
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn read_input_refuses_big_files_without_reading_them() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[b'x'; 101]).unwrap();
        let e = format!("{:#}", read_input(f.path(), 100).unwrap_err());
        assert_eq!(
            e,
            format!(
                "{} is larger than 100 bytes, the most xtask reads from an input file (is it \
                 the right file?)",
                f.path().display()
            )
        );
        assert_eq!(read_input(f.path(), 101).unwrap().len(), 101);
        assert!(too_large(f.path(), MAX_INPUT_BYTES).contains("is larger than 64 MiB"));
    }

    #[test]
    fn suggestions_are_near_misses_only() {
        assert_eq!(strsim::osa_distance("wran_pct", "warn_pct"), 1);
        assert_eq!(
            strsim::osa_distance("max_pct_increse", "max_pct_increase"),
            1
        );
        assert_eq!(strsim::osa_distance("", "abc"), 3);
        assert_eq!(
            closest("wran_pct", &["warn_pct", "relative"]),
            Some("warn_pct")
        );
        assert_eq!(closest("Confidence", &["confidence"]), Some("confidence"));
        assert_eq!(closest("extra", &["gate", "rules", "schema_version"]), None);
        assert_eq!(closest("ab", &["xy"]), None);
    }
}
