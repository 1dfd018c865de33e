//! Listings with `n`/`last` pagination and a `Link` header to the next
//! page: `GET /v2/<name>/tags/list` and `GET /v2/_catalog`. A page is at
//! most [`crate::Limits::max_page`] entries whatever `n` asks.

use crate::backend::Backend;
use crate::error::{ApiError, ErrorCode};
use crate::http::response::Response;
use crate::names::query_value;
use crate::router::{Ctx, Outcome};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;

struct Page {
    n: usize,
    last: Option<String>,
}

fn page(query: &str, max: usize) -> Result<Page, ApiError> {
    let bad = |what: &str| {
        ApiError::new(ErrorCode::Unsupported, "invalid pagination parameter")
            .with_status(400)
            .with_detail(String::from(what))
    };
    let n = match query_value(query, "n") {
        None => max,
        Some(Ok(v)) => v
            .parse::<usize>()
            .map_err(|_| bad("n must be a number"))?
            .min(max),
        Some(Err(())) => return Err(bad("n is badly encoded")),
    };
    let last = match query_value(query, "last") {
        None => None,
        Some(Ok(v)) if v.is_empty() => None,
        Some(Ok(v)) => Some(v),
        Some(Err(())) => return Err(bad("last is badly encoded")),
    };
    Ok(Page { n, last })
}

/// Fetches one page (asking for one more entry to know if a next page
/// exists) and builds the answer.
fn answer(
    items: Result<Vec<String>, crate::error::BackendError>,
    n: usize,
    base: &str,
    body: impl FnOnce(&[String]) -> Vec<u8>,
) -> Outcome {
    let mut items = match items {
        Ok(i) => i,
        Err(e) => return ApiError::from(e).into(),
    };
    let more = items.len() > n;
    items.truncate(n);
    let mut r = Response::new(200);
    if more {
        if let Some(last) = items.last() {
            r = r.header("Link", format!("<{base}?n={n}&last={last}>; rel=\"next\""));
        }
    }
    r.json(body(&items), "application/json").into()
}

pub fn tags<B: Backend>(cx: &mut Ctx<'_, B>, repo: &str) -> Outcome {
    let p = match page(&cx.req.query, cx.limits.max_page) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    let items = if p.n == 0 {
        // Still answer NAME_UNKNOWN for a missing repository.
        cx.backend.tags(repo, p.last.as_deref(), 0)
    } else {
        cx.backend.tags(repo, p.last.as_deref(), p.n + 1)
    };
    #[derive(Serialize)]
    struct Tags<'a> {
        name: &'a str,
        tags: &'a [String],
    }
    let base = format!("/v2/{repo}/tags/list");
    answer(items, p.n, &base, |t| {
        serde_json::to_vec(&Tags {
            name: repo,
            tags: t,
        })
        .unwrap_or_default()
    })
}

pub fn catalog<B: Backend>(cx: &mut Ctx<'_, B>) -> Outcome {
    let p = match page(&cx.req.query, cx.limits.max_page) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    let items = if p.n == 0 {
        Ok(Vec::new())
    } else {
        cx.backend.catalog(p.last.as_deref(), p.n + 1)
    };
    #[derive(Serialize)]
    struct Catalog<'a> {
        repositories: &'a [String],
    }
    answer(items, p.n, "/v2/_catalog", |r| {
        serde_json::to_vec(&Catalog { repositories: r }).unwrap_or_default()
    })
}
