//! The chat page, embedded in the binary: `GET /` serves `index.html`, and its ES modules
//! and stylesheet are served by name (`/chat.js`, `/wsx-client.js`, `/commands.js`,
//! `/style.css`).
//!
//! The HTML and CSS are `examples/chat/web/index.html` and `style.css` as written; the
//! scripts come from `examples/chat/assets/`, which `scripts/build-web.sh` compiles from
//! the TypeScript in `examples/chat/web/` (type-checked against `bindings/`) and which is
//! committed, so `cargo run -p wsx-chat` serves a working page on a machine without node.
//! `scripts/build-web.sh --check` fails when the committed assets are stale.
//!
//! Every response carries a Content-Security-Policy that allows only the page's own
//! scripts, styles and connections (no inline script or style, no plugins, no framing),
//! `X-Content-Type-Options: nosniff`, and an `ETag`, so a browser revalidates cheaply
//! instead of running a stale script after an upgrade.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let app = axum::Router::new().merge(wsx_chat::page::routes());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The Content-Security-Policy of every page response: only same-origin scripts, styles
/// and connections (the WebSocket at `/ws`, the SSE stream at `/events`, the REST API);
/// the favicon is a `data:` URL.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
#[derive(Debug)]
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes, compiled into the binary.
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the page.
static ASSETS: [Asset; 6] = [
    Asset {
        path: "/",
        content_type: HTML,
        body: include_bytes!("../web/index.html"),
    },
    Asset {
        path: "/index.html",
        content_type: HTML,
        body: include_bytes!("../web/index.html"),
    },
    Asset {
        path: "/chat.js",
        content_type: JS,
        body: include_bytes!("../assets/chat.js"),
    },
    Asset {
        path: "/wsx-client.js",
        content_type: JS,
        body: include_bytes!("../assets/wsx-client.js"),
    },
    Asset {
        path: "/commands.js",
        content_type: JS,
        body: include_bytes!("../assets/commands.js"),
    },
    Asset {
        path: "/style.css",
        content_type: CSS,
        body: include_bytes!("../web/style.css"),
    },
];

/// The routes of the page: `/`, `/index.html`, its scripts and its stylesheet. Merge them
/// into the server's router.
pub fn routes() -> Router<()> {
    let mut router = Router::new();
    for asset in &ASSETS {
        let etag = etag(asset.body);
        router = router.route(
            asset.path,
            get(move |headers: HeaderMap| {
                let etag = etag.clone();
                async move { serve(asset, etag, &headers) }
            }),
        );
    }
    router
}

fn serve(asset: &'static Asset, etag: HeaderValue, request: &HeaderMap) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim().as_bytes() == etag.as_bytes() || t.trim() == "*")
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, etag);
    response
}

/// A strong validator for a file: its 64-bit FNV-1a hash, quoted.
fn etag(body: &[u8]) -> HeaderValue {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    match HeaderValue::from_str(&format!("\"{hash:016x}\"")) {
        Ok(value) => value,
        Err(_) => HeaderValue::from_static("\"0\""),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn serve_page() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, routes()).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn every_asset_is_served_with_its_type_and_the_security_headers() {
        let base = serve_page().await;
        let client = reqwest::Client::new();
        for asset in &ASSETS {
            let response = client
                .get(format!("{base}{}", asset.path))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{}", asset.path);
            let h = response.headers();
            assert_eq!(
                h[header::CONTENT_TYPE],
                asset.content_type,
                "{}",
                asset.path
            );
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(response.bytes().await.unwrap().as_ref(), asset.body);
        }
        let missing = client.get(format!("{base}/nope.js")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
    }

    #[tokio::test]
    async fn a_known_etag_is_answered_with_304() {
        let base = serve_page().await;
        let client = reqwest::Client::new();
        let first = client.get(format!("{base}/chat.js")).send().await.unwrap();
        let tag = first.headers()[header::ETAG].clone();
        let again = client
            .get(format!("{base}/chat.js"))
            .header(header::IF_NONE_MATCH, tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(
            again.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
    }

    #[test]
    fn the_page_loads_only_its_own_modules_and_no_inline_code() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(html.contains(r#"<script type="module" src="/chat.js"></script>"#));
        assert!(html.contains(r#"<link rel="stylesheet" href="/style.css">"#));
        assert!(
            !html.contains("<script>"),
            "no inline script: the CSP forbids it"
        );
        assert!(
            !html.contains("style=\""),
            "no inline style: the CSP forbids it"
        );
        for module in ["chat.js", "wsx-client.js", "commands.js"] {
            let asset = ASSETS
                .iter()
                .find(|a| a.path == format!("/{module}"))
                .unwrap();
            let js = std::str::from_utf8(asset.body).unwrap();
            assert!(
                !js.contains("innerHTML"),
                "{module}: user strings are rendered as text"
            );
            for import in js.lines().filter(|l| l.starts_with("import ")) {
                let target = import
                    .rsplit_once("from \"./")
                    .map(|(_, t)| t.trim_end_matches("\";"));
                let served =
                    target.is_some_and(|t| ASSETS.iter().any(|a| a.path == format!("/{t}")));
                assert!(served, "{module}: `{import}` must import a served module");
            }
        }
    }
}
