//! Where a request body goes while it arrives: an upload session (blob
//! bytes, appended to the backend in bounded pieces), a manifest buffer
//! (bounded by [`crate::Limits::max_manifest`]), or nowhere (a body we
//! answered without needing, read and dropped to keep the connection).

use crate::api::manifests::ManifestSink;
use crate::api::uploads::UploadSink;
use crate::backend::Backend;
use crate::error::{ApiError, ErrorCode};
use crate::http::response::Response;

pub enum SinkKind {
    Upload(UploadSink),
    Manifest(ManifestSink),
    /// Drop the body, then send this answer.
    Discard(Response),
}

pub struct BodySink {
    kind: SinkKind,
    /// Most body bytes accepted; more is `SIZE_INVALID` (413).
    limit: u64,
    received: u64,
}

impl BodySink {
    pub fn new(kind: SinkKind, limit: u64) -> BodySink {
        BodySink {
            kind,
            limit,
            received: 0,
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn is_discard(&self) -> bool {
        matches!(self.kind, SinkKind::Discard(_))
    }

    /// The error for a body above the limit.
    pub fn too_large(&self) -> ApiError {
        ApiError::new(ErrorCode::SizeInvalid, "request body too large")
            .with_status(413)
            .with_detail(alloc::format!("limit is {} bytes", self.limit))
    }

    /// Takes the next piece of the body.
    pub fn write<B: Backend>(&mut self, backend: &mut B, data: &[u8]) -> Result<(), ApiError> {
        self.received += data.len() as u64;
        if self.received > self.limit {
            return Err(self.too_large());
        }
        match &mut self.kind {
            SinkKind::Upload(u) => u.write(backend, data),
            SinkKind::Manifest(m) => {
                m.write(data);
                Ok(())
            }
            SinkKind::Discard(_) => Ok(()),
        }
    }

    /// The body is complete: store what is left and answer.
    pub fn finish<B: Backend>(self, backend: &mut B) -> Response {
        match self.kind {
            SinkKind::Upload(u) => u.finish(backend, self.received),
            SinkKind::Manifest(m) => m.finish(backend),
            SinkKind::Discard(r) => r,
        }
    }

    /// The body will not complete (error, disconnect, timeout): undo what
    /// only this request created.
    pub fn abort<B: Backend>(self, backend: &mut B) {
        if let SinkKind::Upload(u) = self.kind {
            u.abort(backend);
        }
    }
}
