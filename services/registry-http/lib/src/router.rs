//! From a request head to a handler: splits `/v2/<name>/<kind>/...` (the
//! name may hold slashes, so the kind is found from the end), validates the
//! name, and dispatches on the method. Handlers answer at once or ask for
//! the body ([`Outcome::ReadBody`]), never reading it themselves.

use crate::api::{blobs, listing, manifests, referrers, uploads};
use crate::backend::Backend;
use crate::error::{ApiError, ErrorCode};
use crate::http::request::{Method, RequestHead};
use crate::http::response::Response;
use crate::names::valid_name;
use crate::sink::BodySink;
use crate::Limits;

/// What a handler decided.
pub enum Outcome {
    Respond(Response),
    /// Stream the request body into the sink; it gives the answer.
    ReadBody(BodySink),
}

impl From<Response> for Outcome {
    fn from(r: Response) -> Outcome {
        Outcome::Respond(r)
    }
}

impl From<ApiError> for Outcome {
    fn from(e: ApiError) -> Outcome {
        Outcome::Respond(Response::error(&e))
    }
}

/// The request and what handlers may use.
pub struct Ctx<'a, B: Backend> {
    pub backend: &'a mut B,
    pub limits: &'a Limits,
    pub req: &'a RequestHead,
}

#[derive(Debug, PartialEq, Eq)]
enum Route<'p> {
    Base,
    Catalog,
    Tags(&'p str),
    Manifest(&'p str, &'p str),
    Blob(&'p str, &'p str),
    UploadStart(&'p str),
    Upload(&'p str, &'p str),
    Referrers(&'p str, &'p str),
    NotFound,
}

fn route(path: &str) -> Route<'_> {
    if path == "/v2/" || path == "/v2" {
        return Route::Base;
    }
    if path == "/v2/_catalog" {
        return Route::Catalog;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::NotFound;
    };
    // Name = everything before the kind segment; matched longest kind first.
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Route::Tags(name);
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Route::UploadStart(name);
    }
    let Some((head, last)) = rest.rsplit_once('/') else {
        return Route::NotFound;
    };
    if let Some(name) = head.strip_suffix("/blobs/uploads") {
        return Route::Upload(name, last);
    }
    let Some((name, kind)) = head.rsplit_once('/') else {
        return Route::NotFound;
    };
    match kind {
        "blobs" => Route::Blob(name, last),
        "manifests" => Route::Manifest(name, last),
        "referrers" => Route::Referrers(name, last),
        _ => Route::NotFound,
    }
}

fn method_not_allowed() -> Outcome {
    ApiError::new(ErrorCode::Unsupported, "method not allowed on this route").into()
}

pub fn dispatch<B: Backend>(cx: &mut Ctx<'_, B>) -> Outcome {
    let m = cx.req.method;
    let path = cx.req.path.clone();
    let r = route(&path);
    let name = match r {
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::UploadStart(n)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => Some(n),
        _ => None,
    };
    if let Some(n) = name {
        if !valid_name(n) {
            return ApiError::new(ErrorCode::NameInvalid, "invalid repository name")
                .with_detail(alloc::format!("name {n:?}"))
                .into();
        }
    }
    match (r, m) {
        (Route::Base, Method::Get | Method::Head) => Response::new(200)
            .header("Docker-Distribution-API-Version", "registry/2.0")
            .json(b"{}".to_vec(), "application/json")
            .into(),
        (Route::Catalog, Method::Get) => listing::catalog(cx),
        (Route::Tags(n), Method::Get) => listing::tags(cx, n),
        (Route::Blob(n, d), Method::Get | Method::Head) => blobs::get(cx, n, d),
        (Route::Blob(n, d), Method::Delete) => blobs::delete(cx, n, d),
        (Route::UploadStart(n), Method::Post) => uploads::start(cx, n),
        (Route::Upload(n, id), Method::Patch) => uploads::patch(cx, n, id),
        (Route::Upload(n, id), Method::Put) => uploads::put(cx, n, id),
        (Route::Upload(n, id), Method::Get) => uploads::status(cx, n, id),
        (Route::Upload(n, id), Method::Delete) => uploads::cancel(cx, n, id),
        (Route::Manifest(n, r), Method::Get | Method::Head) => manifests::get(cx, n, r),
        (Route::Manifest(n, r), Method::Put) => manifests::put(cx, n, r),
        (Route::Manifest(n, r), Method::Delete) => manifests::delete(cx, n, r),
        (Route::Referrers(n, d), Method::Get) => referrers::list(cx, n, d),
        (Route::NotFound, _) => ApiError::new(ErrorCode::Unsupported, "no such route")
            .with_status(404)
            .into(),
        _ => method_not_allowed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_find_the_kind_from_the_end() {
        assert_eq!(route("/v2/"), Route::Base);
        assert_eq!(route("/v2/a/b/tags/list"), Route::Tags("a/b"));
        assert_eq!(route("/v2/a/blobs/uploads/"), Route::UploadStart("a"));
        assert_eq!(route("/v2/a/blobs/uploads/u1"), Route::Upload("a", "u1"));
        assert_eq!(
            route("/v2/blobs/x/blobs/sha"),
            Route::Blob("blobs/x", "sha")
        );
        assert_eq!(route("/v2/a/manifests/v1"), Route::Manifest("a", "v1"));
        assert_eq!(route("/v2/a/referrers/d"), Route::Referrers("a", "d"));
        assert_eq!(route("/v2/a/other/x"), Route::NotFound);
        assert_eq!(route("/v3/"), Route::NotFound);
    }
}
