//! The JSON bodies on the wire: decision request, decision response, error response.
//! Requests borrow from the body buffer where they can, so decoding does not allocate
//! for plain strings.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// The only request `version` this router speaks.
pub const VERSION: &str = "1";

/// Decodes a decision request, which must be a JSON object: serde's derive would also take
/// an array, filling the fields by position, which no client of this API means.
pub fn decode_request(body: &[u8]) -> Result<DecisionRequest<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let request = object(&mut de)?;
    de.end()?;
    Ok(request)
}

/// `POST /v1/decide` body. Unknown top-level keys are ignored for forward compatibility.
#[derive(Debug, Deserialize)]
pub struct DecisionRequest<'a> {
    #[serde(borrow)]
    pub version: Cow<'a, str>,
    #[serde(borrow)]
    pub tenant_id: Cow<'a, str>,
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub trace_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "object")]
    pub task: Task<'a>,
    #[serde(borrow, default)]
    pub policy_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "optional_object")]
    pub constraints: Option<Constraints<'a>>,
    #[serde(borrow, default)]
    pub session_key: Option<Cow<'a, str>>,
    /// Accepted and passed over: the router does not route on metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
pub struct Task<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Cow<'a, str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints<'a> {
    #[serde(borrow, default)]
    pub exclude_providers: Vec<Cow<'a, str>>,
    #[serde(default)]
    pub max_latency_ms: Option<f64>,
    #[serde(default)]
    pub max_cost: Option<f64>,
}

/// Deserializes `T` from a JSON object only (see [`decode_request`]).
fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
}

/// Like [`object`], with `null` meaning absent.
fn optional_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct OptionVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for OptionVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Option<T>, D2::Error> {
            object(d).map(Some)
        }
    }
    d.deserialize_option(OptionVisitor(std::marker::PhantomData))
}

/// `metadata` must be an object; its contents are checked for well-formedness and dropped
/// without allocating.
#[derive(Debug)]
pub struct Metadata;

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
            type Value = Metadata;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Metadata, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Metadata)
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// Which path of the decision core chose the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Weighted,
    Sticky,
    Fallback,
}

#[derive(Debug, Serialize)]
pub struct DecisionResponse<'a> {
    pub provider_id: &'a str,
    pub reason: Reason,
    pub policy_id: &'a str,
    pub policy_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_cost: Option<f64>,
    pub context: Context<'a>,
}

#[derive(Debug, Serialize)]
pub struct Context<'a> {
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct ErrorResponse<'a> {
    pub error: ErrorBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_request_decodes_and_borrows() {
        let body = br#"{"version":"1","tenant_id":"acme","request_id":"r1","trace_id":"t1",
            "task":{"type":"chat","model_hint":"big"},"policy_id":"default",
            "constraints":{"exclude_providers":["a"],"max_latency_ms":500,"max_cost":0.1},
            "session_key":"s1","metadata":{"k":[1,2,{"x":null}]},"future_field":true}"#;
        let req = decode_request(body).unwrap();
        assert!(matches!(req.tenant_id, Cow::Borrowed("acme")));
        assert_eq!(req.task.kind, "chat");
        let c = req.constraints.unwrap();
        assert_eq!(c.exclude_providers, vec!["a"]);
        assert_eq!(c.max_latency_ms, Some(500.0));
    }

    #[test]
    fn objects_only_not_positional_arrays() {
        let positional = br#"["1","acme","r",null,{"type":"x"}]"#;
        assert!(
            serde_json::from_slice::<DecisionRequest>(positional).is_ok(),
            "serde's derive takes it"
        );
        assert!(decode_request(positional).is_err());
        let base = r#"{"version":"1","tenant_id":"a","request_id":"r","task":{"type":"x"}"#;
        assert!(decode_request(format!("{base},\"constraints\":[]}}").as_bytes()).is_err());
        assert!(decode_request(format!("{base},\"constraints\":null}}").as_bytes()).is_ok());
        assert!(decode_request(format!("{base}}} trailing").as_bytes()).is_err());
        let nested = br#"{"version":"1","tenant_id":"a","request_id":"r","task":["x"]}"#;
        assert!(decode_request(nested).is_err());
    }

    #[test]
    fn metadata_must_be_an_object() {
        let body = br#"{"version":"1","tenant_id":"a","request_id":"r","task":{"type":"x"},"metadata":[1]}"#;
        assert!(serde_json::from_slice::<DecisionRequest>(body).is_err());
    }

    #[test]
    fn response_omits_absent_fields() {
        let resp = DecisionResponse {
            provider_id: "p",
            reason: Reason::Sticky,
            policy_id: "d",
            policy_version: "1",
            expected_latency_ms: None,
            expected_cost: Some(0.5),
            context: Context {
                request_id: "r",
                trace_id: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"provider_id":"p","reason":"sticky","policy_id":"d","policy_version":"1","expected_cost":0.5,"context":{"request_id":"r"}}"#
        );
    }
}
