//! The console: a web page for the people who run the platform, at `GET /console` on the admin
//! listener. Three static files compiled into the binary (no build step, nothing from another
//! origin). The page needs no admin token; each of its calls to the admin API carries the token
//! the operator signs in with, which the page keeps for the browser tab only.
//!
//! Not part of the admin API's OpenAPI document: these routes serve a page, not the API.

use actix_web::http::header;
use actix_web::HttpResponse;

/// The `Content-Security-Policy` of every console response: the page's own script and style
/// only (no inline code), requests to its own origin only, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The page.
pub const PAGE_PATH: &str = "/console";
/// Its script.
pub const SCRIPT_PATH: &str = "/console/console.js";
/// Its style sheet.
pub const STYLE_PATH: &str = "/console/console.css";
/// Every path the console serves.
pub const PATHS: [&str; 3] = [PAGE_PATH, SCRIPT_PATH, STYLE_PATH];

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

fn serve(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CROSS_ORIGIN_OPENER_POLICY, "same-origin"))
        .insert_header((header::CROSS_ORIGIN_RESOURCE_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// `GET /console`: the page.
pub async fn page() -> HttpResponse {
    serve("text/html; charset=utf-8", PAGE)
}

/// `GET /console/console.js`: its script.
pub async fn script() -> HttpResponse {
    serve("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /console/console.css`: its style sheet.
pub async fn style() -> HttpResponse {
    serve("text/css; charset=utf-8", STYLE)
}
