//! Malformed and hostile requests, each sent byte-exact on a fresh connection: every one
//! gets its expected 4xx status and error code, none a 5xx, and the router keeps serving.

use std::io::Write;

use serde_json::json;

use crate::support::{Client, Router, decide_req, raw_request};

/// One malformed request and what the router must answer.
struct Case {
    name: &'static str,
    request: Vec<u8>,
    status: u16,
    /// The JSON `error.code`; `None` when the HTTP parser rejects the request before the
    /// router sees it (hyper's bare 400, no body).
    code: Option<&'static str>,
    /// Shut down the write side after sending (the request is cut short on the wire).
    half_close: bool,
}

const VALID: &str =
    r#"{"version":"1","tenant_id":"acme","request_id":"r-1","task":{"type":"chat"}}"#;

fn post(body: impl AsRef<[u8]>) -> Vec<u8> {
    raw_request(
        "POST",
        "/v1/decide",
        Some("application/json"),
        body.as_ref(),
    )
}

fn case(name: &'static str, request: Vec<u8>, status: u16, code: Option<&'static str>) -> Case {
    Case {
        name,
        request,
        status,
        code,
        half_close: false,
    }
}

fn invalid(name: &'static str, body: impl AsRef<[u8]>) -> Case {
    case(name, post(body), 400, Some("invalid_request"))
}

/// `VALID` with one more top-level member, given as raw JSON text (`"key":value`).
fn with_raw(member: &str) -> String {
    format!("{},{member}}}", &VALID[..VALID.len() - 1])
}

/// `depth` nested arrays: `[[[...]]]`, closed when `closed`.
fn nested(depth: usize, closed: bool) -> String {
    let mut s = "[".repeat(depth);
    if closed {
        s.push_str(&"]".repeat(depth));
    }
    s
}

fn cases(max_body: usize) -> Vec<Case> {
    let with = |extra: serde_json::Value| decide_req("acme", "r-1", extra).to_string();
    let without = |field: &str| {
        let mut v = decide_req("acme", "r-1", json!({}));
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    };
    // A large request that still fits the body limit: many metadata keys.
    let huge = {
        let mut meta = String::from("{");
        for i in 0.. {
            if meta.len() > max_body - 2_000 {
                break;
            }
            if i > 0 {
                meta.push(',');
            }
            meta.push_str(&format!(r#""key-{i:05}":["value",{i},{{"n":null}}]"#));
        }
        meta.push('}');
        with_raw(&format!(r#""metadata":{meta}"#))
    };
    assert!(huge.len() < max_body && huge.len() > max_body - 4_000);
    let mut invalid_utf8_in_string = VALID.replace("r-1", "r-\u{1}").into_bytes();
    let at = invalid_utf8_in_string.iter().position(|&b| b == 1).unwrap();
    invalid_utf8_in_string.splice(at..=at, [0xC3, 0x28]);
    let mut invalid_utf8_bare = VALID.as_bytes().to_vec();
    invalid_utf8_bare.extend_from_slice(b"\xff\xfe");
    let oversized_chunked = {
        // One chunk one byte past the limit and nothing after it: the router answers 413
        // once the limit is crossed, and no unread bytes are left to reset the connection.
        let mut r = b"POST /v1/decide HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        r.extend_from_slice(format!("{:x}\r\n", max_body + 1).as_bytes());
        r.extend(std::iter::repeat_n(b' ', max_body + 1));
        r
    };

    vec![
        invalid("malformed JSON", "{version: 1, tenant_id: acme}"),
        invalid("truncated JSON", &VALID[..VALID.len() / 2]),
        invalid("empty body", ""),
        invalid("body is an array", "[]"),
        invalid("body is a string", r#""decide""#),
        invalid("body is null", "null"),
        invalid("trailing garbage", format!("{VALID} x")),
        invalid("tenant_id is a number", with(json!({"tenant_id": 42}))),
        invalid("request_id is null", with(json!({"request_id": null}))),
        invalid("version is a number", with(json!({"version": 1}))),
        invalid("task is a string", with(json!({"task": "chat"}))),
        invalid("task.type is a number", with(json!({"task": {"type": 3}}))),
        invalid(
            "exclude_providers is not a list",
            with(json!({"constraints": {"exclude_providers": "openai-gpt4o"}})),
        ),
        invalid(
            "exclude_providers holds a number",
            with(json!({"constraints": {"exclude_providers": [1]}})),
        ),
        invalid(
            "max_cost is a string",
            with(json!({"constraints": {"max_cost": "cheap"}})),
        ),
        invalid(
            "unknown constraint",
            with(json!({"constraints": {"max_carbon": 1}})),
        ),
        invalid("constraints is a string", with(json!({"constraints": "fast"}))),
        invalid("constraints is an array", with(json!({"constraints": []}))),
        invalid("task is an array", with(json!({"task": ["chat"]}))),
        invalid(
            "body is an array of the fields in order",
            r#"["1","acme","r-1",null,{"type":"chat"}]"#,
        ),
        invalid("session_key is a number", with(json!({"session_key": 7}))),
        invalid("missing version", without("version")),
        invalid("missing tenant_id", without("tenant_id")),
        invalid("missing request_id", without("request_id")),
        invalid("missing task", without("task")),
        invalid("missing task.type", with(json!({"task": {"kind": "chat"}}))),
        invalid("empty tenant_id", with(json!({"tenant_id": ""}))),
        invalid("blank tenant_id", with(json!({"tenant_id": "   "}))),
        invalid("empty request_id", with(json!({"request_id": ""}))),
        invalid("empty task.type", with(json!({"task": {"type": ""}}))),
        case(
            "unknown tenant",
            post(with(json!({"tenant_id": "umbrella"}))),
            404,
            Some("tenant_not_found"),
        ),
        case(
            "unknown policy",
            post(with(json!({"policy_id": "no-such-policy"}))),
            404,
            Some("policy_not_found"),
        ),
        case(
            "unknown version",
            post(with(json!({"version": "2"}))),
            400,
            Some("unsupported_version"),
        ),
        invalid("metadata is a list", with(json!({"metadata": [1, 2]}))),
        invalid("metadata is a string", with(json!({"metadata": "x"}))),
        invalid("metadata is a number", with(json!({"metadata": 1}))),
        invalid(
            "10,000 nested arrays as metadata",
            with_raw(&format!(r#""metadata":{}"#, nested(10_000, true))),
        ),
        invalid(
            "10,000 unclosed arrays in metadata",
            with_raw(&format!(r#""metadata":{{"deep":{}"#, nested(10_000, false))),
        ),
        // Inside the metadata object the value is skipped without recursion (serde_json
        // ignores values iteratively), so deep but well-formed nesting is accepted; the
        // body limit bounds the work.
        case(
            "10,000 nested arrays inside metadata",
            post(with_raw(&format!(
                r#""metadata":{{"deep":{}}}"#,
                nested(10_000, true)
            ))),
            200,
            None,
        ),
        invalid("10,000 nested arrays as the body", nested(10_000, true)),
        case("huge but valid-size JSON", post(&huge), 200, None),
        invalid("invalid UTF-8 in a string", invalid_utf8_in_string),
        invalid("invalid UTF-8 after the JSON", invalid_utf8_bare),
        invalid("NUL byte", format!("{}\0", &VALID[..10])),
        case(
            "declared body over the limit",
            format!(
                "POST /v1/decide HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                max_body + 1
            )
            .into_bytes(),
            413,
            Some("payload_too_large"),
        ),
        case(
            "chunked body over the limit",
            oversized_chunked,
            413,
            Some("payload_too_large"),
        ),
        case(
            "content-length shorter than the body",
            {
                let mut r = post(VALID);
                let cl = format!("Content-Length: {}", VALID.len());
                let short = format!("Content-Length: {}", VALID.len() - 5);
                r = String::from_utf8(r).unwrap().replace(&cl, &short).into_bytes();
                r
            },
            400,
            Some("invalid_request"),
        ),
        Case {
            half_close: true,
            ..case(
                "content-length longer than the body, then EOF",
                {
                    let r = String::from_utf8(post(VALID)).unwrap();
                    let cl = format!("Content-Length: {}", VALID.len());
                    r.replace(&cl, &format!("Content-Length: {}", VALID.len() + 50))
                        .into_bytes()
                },
                400,
                Some("invalid_request"),
            )
        },
        case(
            "content-length not a number",
            b"POST /v1/decide HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nContent-Length: ten\r\n\r\n{}".to_vec(),
            400,
            None,
        ),
        case(
            "two different content-lengths",
            format!(
                "POST /v1/decide HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: {}\r\n\r\n{VALID}",
                VALID.len()
            )
            .into_bytes(),
            400,
            None,
        ),
        case("garbage request line", b"HELLO ROUTER\r\n\r\n".to_vec(), 400, None),
        case(
            "GET on /v1/decide",
            b"GET /v1/decide HTTP/1.1\r\nHost: router\r\n\r\n".to_vec(),
            405,
            Some("method_not_allowed"),
        ),
        case(
            "PUT on /v1/decide",
            raw_request("PUT", "/v1/decide", Some("application/json"), VALID.as_bytes()),
            405,
            Some("method_not_allowed"),
        ),
        case(
            "POST on /metrics",
            raw_request("POST", "/metrics", Some("application/json"), b"{}"),
            405,
            Some("method_not_allowed"),
        ),
        case(
            "wrong content type",
            raw_request("POST", "/v1/decide", Some("text/plain"), VALID.as_bytes()),
            415,
            Some("unsupported_media_type"),
        ),
        case(
            "form content type",
            raw_request(
                "POST",
                "/v1/decide",
                Some("application/x-www-form-urlencoded"),
                VALID.as_bytes(),
            ),
            415,
            Some("unsupported_media_type"),
        ),
        case(
            "missing content type",
            raw_request("POST", "/v1/decide", None, VALID.as_bytes()),
            415,
            Some("unsupported_media_type"),
        ),
        case(
            "unknown path",
            raw_request("POST", "/v2/decide", Some("application/json"), VALID.as_bytes()),
            404,
            Some("not_found"),
        ),
        case(
            "unknown GET path",
            b"GET /admin HTTP/1.1\r\nHost: router\r\n\r\n".to_vec(),
            404,
            Some("not_found"),
        ),
    ]
}

#[test]
fn malformed_requests_get_their_4xx_and_the_router_keeps_serving() {
    const MAX_BODY: usize = 64 * 1024;
    let router = Router::start(&["--max-body-bytes", &MAX_BODY.to_string()]);
    let cases = cases(MAX_BODY);
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in &cases {
        let mut c = router.client();
        let resp = if case.half_close {
            c.stream().write_all(&case.request).unwrap();
            c.stream().shutdown(std::net::Shutdown::Write).unwrap();
            c.read_response()
        } else {
            c.send_raw(&case.request)
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: no response: {e}", case.name));
                continue;
            }
        };
        let code = resp.error_code();
        if resp.status >= 500 || resp.status != case.status || code.as_deref() != case.code {
            failures.push(format!(
                "{}: expected {} {:?}, got {} {:?}: {}",
                case.name,
                case.status,
                case.code,
                resp.status,
                code,
                resp.text().chars().take(300).collect::<String>()
            ));
        }
        if resp.status == 405 {
            let allow = if String::from_utf8_lossy(&case.request).contains(" /v1/decide ") {
                "POST"
            } else {
                "GET"
            };
            if resp.header("allow") != Some(allow) {
                failures.push(format!("{}: Allow {:?}", case.name, resp.header("allow")));
            }
        }
        // Answered before the body was read: the connection cannot carry another request,
        // and a keep-alive client must be told so.
        if matches!(resp.status, 413 | 415) && resp.header("connection") != Some("close") {
            failures.push(format!(
                "{}: {} without `connection: close`: {:?}",
                case.name, resp.status, resp.headers
            ));
        }
        if case.code.is_some() {
            let v = resp.json();
            if v["error"]["message"].as_str().is_none_or(str::is_empty) {
                failures.push(format!("{}: error without a message: {v}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Still alive and still right.
    let mut c = Client::connect(router.addr());
    let health = c.get("/health").expect("GET /health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let d = c.decide_ok(&decide_req("acme", "after-the-table", json!({})));
    assert_eq!(d["context"]["request_id"], "after-the-table");
    let m = router.metrics();
    assert_eq!(
        m.value(
            "router_errors_total",
            &[("transport", "http"), ("code", "internal")]
        ),
        0.0
    );
}

#[test]
fn accepted_variants_of_a_valid_request() {
    let router = Router::start(&[]);
    let mut c = router.client();
    for (name, request) in [
        (
            "content type with charset",
            raw_request(
                "POST",
                "/v1/decide",
                Some("application/json; charset=utf-8"),
                VALID.as_bytes(),
            ),
        ),
        (
            "content type in capitals",
            raw_request(
                "POST",
                "/v1/decide",
                Some("Application/JSON"),
                VALID.as_bytes(),
            ),
        ),
        ("chunked body", {
            let mut r = b"POST /v1/decide HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let (a, b) = VALID.split_at(20);
            for part in [a, b] {
                r.extend_from_slice(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes());
            }
            r.extend_from_slice(b"0\r\n\r\n");
            r
        }),
        (
            "unknown top-level field",
            raw_request(
                "POST",
                "/v1/decide",
                Some("application/json"),
                with_raw(r#""future":{"x":[1,2]}"#).as_bytes(),
            ),
        ),
        (
            "metadata null (same as absent)",
            raw_request(
                "POST",
                "/v1/decide",
                Some("application/json"),
                with_raw(r#""metadata":null"#).as_bytes(),
            ),
        ),
        (
            "unicode escapes in ids",
            raw_request(
                "POST",
                "/v1/decide",
                Some("application/json"),
                VALID.replace("r-1", r"r-\u00e9\ud83d\ude00").as_bytes(),
            ),
        ),
    ] {
        let resp = c
            .send_raw(&request)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(resp.status, 200, "{name}: {}", resp.text());
        assert_eq!(resp.json()["reason"], "weighted", "{name}");
    }
}
