//! Errors: what a [`Backend`](crate::Backend) reports ([`BackendError`]) and
//! what a client is answered ([`ApiError`]: the spec's error code, its HTTP
//! status and the JSON body `{"errors":[{"code":..,"message":..,"detail":..}]}`).

use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;

/// The OCI Distribution Spec v1.1 error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
        }
    }

    /// The status the spec (and the reference registry) answers with.
    pub fn default_status(self) -> u16 {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => 404,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Denied => 403,
            ErrorCode::Unsupported => 405,
            ErrorCode::TooManyRequests => 429,
            _ => 400,
        }
    }
}

/// One error answer: status, code, message and optional detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status: code.default_status(),
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> ApiError {
        self.status = status;
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    /// The spec's JSON body.
    pub fn body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Item<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            errors: [Item<'a>; 1],
        }
        let body = Body {
            errors: [Item {
                code: self.code.as_str(),
                message: &self.message,
                detail: self.detail.as_deref(),
            }],
        };
        // Serializing strings into a Vec cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// The status of a write the disk has no room for: 507 Insufficient
/// Storage (RFC 4918, 11.5: the server "is unable to store the
/// representation needed to complete the request"). Not 400: the request
/// is well formed and the same one succeeds once space is freed, and a 4xx
/// tells the client that it is at fault. The OCI distribution spec has no
/// code for it, and the reference registry answers a storage driver's
/// failure 500 `UNKNOWN` (a code outside the spec's list, which the body's
/// `code` must be one of); `SIZE_INVALID` is the spec's nearest (what was
/// sent does not fit) and the message says the disk is full. skopeo (as
/// docker's client code) reads the JSON body of 4xx answers only, so it
/// prints the status line, "507 Insufficient Storage", which names the
/// cause; curl and the logs have the message. A 5xx also keeps the upload
/// session (a `SIZE_INVALID` at the finish drops it as unverified), so the
/// push resumes once `gc` gave space back.
pub const STORAGE_FULL: u16 = 507;

/// What a backend operation can fail with. Each maps to one spec error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// The repository does not exist (tags list, referrers).
    NameUnknown,
    BlobUnknown,
    ManifestUnknown,
    UploadUnknown,
    /// An append at `offset` while the session holds `current` bytes.
    OffsetMismatch {
        current: u64,
    },
    /// The uploaded bytes (or a manifest put by digest) hash to `actual`.
    DigestMismatch {
        actual: String,
    },
    /// An object beyond what the store accepts (a file, a request, a
    /// manifest too large): the request's fault.
    SizeInvalid(String),
    /// The disk has no room for what the request stores: the server's
    /// condition, not the request's (see [`STORAGE_FULL`]).
    StorageFull(String),
    /// The operation is refused (e.g. deleting is disabled).
    Denied(String),
    Unsupported(String),
    /// Storage failure (I/O, checksum, dead service): answered 500.
    Internal(String),
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> ApiError {
        match e {
            BackendError::NameUnknown => ApiError::new(
                ErrorCode::NameUnknown,
                "repository name not known to registry",
            ),
            BackendError::BlobUnknown => {
                ApiError::new(ErrorCode::BlobUnknown, "blob unknown to registry")
            }
            BackendError::ManifestUnknown => {
                ApiError::new(ErrorCode::ManifestUnknown, "manifest unknown")
            }
            BackendError::UploadUnknown => ApiError::new(
                ErrorCode::BlobUploadUnknown,
                "blob upload unknown to registry",
            ),
            BackendError::OffsetMismatch { current } => {
                ApiError::new(ErrorCode::BlobUploadInvalid, "upload offset out of order")
                    .with_status(416)
                    .with_detail(alloc::format!("upload holds {current} bytes"))
            }
            BackendError::DigestMismatch { actual } => ApiError::new(
                ErrorCode::DigestInvalid,
                "provided digest did not match content",
            )
            .with_detail(alloc::format!("content digest is {actual}")),
            BackendError::SizeInvalid(m) => ApiError::new(ErrorCode::SizeInvalid, m),
            BackendError::StorageFull(m) => {
                ApiError::new(ErrorCode::SizeInvalid, m).with_status(STORAGE_FULL)
            }
            BackendError::Denied(m) => ApiError::new(ErrorCode::Denied, m),
            BackendError::Unsupported(m) => ApiError::new(ErrorCode::Unsupported, m),
            BackendError::Internal(m) => ApiError::new(ErrorCode::Unsupported, "storage failure")
                .with_status(500)
                .with_detail(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_the_spec_json() {
        let e = ApiError::new(ErrorCode::BlobUnknown, "blob unknown to registry");
        assert_eq!(e.status, 404);
        assert_eq!(
            e.body(),
            br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#
        );
        let e: ApiError = BackendError::OffsetMismatch { current: 5 }.into();
        assert_eq!(e.status, 416);
        assert!(String::from_utf8(e.body())
            .unwrap()
            .contains(r#""detail":"upload holds 5 bytes""#));
        let e: ApiError = BackendError::StorageFull("the disk is full".into()).into();
        assert_eq!((e.status, e.code), (507, ErrorCode::SizeInvalid));
    }
}
