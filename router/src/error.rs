//! Error responses: the codes a client can get, their HTTP status, and the JSON body.

use crate::wire::{ErrorBody, ErrorResponse};

/// Every error code the router answers with. A client mistake is a 4xx; only `overloaded`
/// (the router protecting itself) and `internal` are 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnsupportedVersion,
    TenantNotFound,
    PolicyNotFound,
    NoEligibleProvider,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    NotFound,
    /// The request body did not arrive within `--body-read-timeout`: the client's (or its
    /// network's) doing, so a 4xx.
    RequestTimeout,
    Overloaded,
    Internal,
}

impl ErrorCode {
    /// All codes, in declaration order (`code as usize` indexes this).
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::InvalidRequest,
        ErrorCode::UnsupportedVersion,
        ErrorCode::TenantNotFound,
        ErrorCode::PolicyNotFound,
        ErrorCode::NoEligibleProvider,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotFound,
        ErrorCode::RequestTimeout,
        ErrorCode::Overloaded,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::TenantNotFound => "tenant_not_found",
            ErrorCode::PolicyNotFound => "policy_not_found",
            ErrorCode::NoEligibleProvider => "no_eligible_provider",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::UnsupportedVersion => 400,
            ErrorCode::TenantNotFound | ErrorCode::PolicyNotFound | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::NoEligibleProvider => 422,
            ErrorCode::Internal => 500,
            ErrorCode::Overloaded => 503,
        }
    }
}

/// An error answer: its code and a message for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The JSON error body: `{"error":{"code":..,"message":..}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let body = ErrorResponse {
            error: ErrorBody {
                code: self.code.as_str(),
                message: &self.message,
            },
        };
        serde_json::to_vec(&body).expect("error bodies always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_declaration_order() {
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }

    #[test]
    fn only_overload_and_internal_are_5xx() {
        for c in ErrorCode::ALL {
            let server_side = matches!(c, ErrorCode::Overloaded | ErrorCode::Internal);
            assert_eq!(c.http_status() >= 500, server_side, "{c:?}");
        }
    }

    #[test]
    fn body_shape() {
        let e = ApiError::new(ErrorCode::PolicyNotFound, "no \"x\"");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "policy_not_found");
        assert_eq!(v["error"]["message"], "no \"x\"");
    }
}
