//! What the two OpenAPI 3.1 documents share: the responses any request can get from the
//! connection layer, how a document is finished and how it is served.
//!
//! Each listener's document is derived from its handlers' `#[utoipa::path]` annotations and its
//! types' `ToSchema` derives ([`super::public::openapi`], [`super::admin::openapi`]); it is
//! generated once per process and served at `GET /openapi.json` on its listener.
//!
//! Response headers: utoipa's header object has no `required` field, so [`finish`] adds it. A
//! header documented on a response is always sent with it, except one whose description starts
//! with [`CONDITIONAL_HEADER`]: "Only when …".

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpResponse;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, Response};

/// The description prefix of a response header that is not always sent.
pub const CONDITIONAL_HEADER: &str = "Only when";

/// Adds the responses the HTTP layer gives before a handler runs to every operation: a request
/// target over `server.max_uri_bytes` is refused with 414, headers over `server.max_header_bytes`
/// with 431 (`http::limits`), and actix-web's own buffer limits answer 413 or 431. None of them
/// has a body.
pub struct TransportLimits;

impl utoipa::Modify for TransportLimits {
    fn modify(&self, openapi: &mut OpenApi) {
        let limits = [
            ("413", "The request body exceeds the listener's limit."),
            ("414", "The request URI exceeds the listener's limit."),
            (
                "431",
                "The request line and headers exceed the listener's limit.",
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                for (status, description) in limits {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| Response::new(description).into());
                }
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The document as JSON bytes, with `required` set on every response header that is always sent.
pub fn finish(doc: OpenApi) -> Vec<u8> {
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        let responses = paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
            .flat_map(|responses| responses.values_mut());
        for response in responses {
            let headers = response
                .get_mut("headers")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|headers| headers.values_mut())
                .filter_map(Value::as_object_mut);
            for header in headers {
                let conditional = header
                    .get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.starts_with(CONDITIONAL_HEADER));
                header.insert("required".to_owned(), Value::Bool(!conditional));
            }
        }
    }
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// `200` with a finished document.
pub fn serve(document: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(document)
}

/// A string schema that admits only `values`.
pub fn string_enum(values: &[&str]) -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}
