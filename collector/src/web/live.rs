//! Live pages (the fleet, a server): a server-sent event stream re-renders the page's fragment
//! every [`LIVE_EVERY`] and sends it only when it changed, so the page updates without a reload.
//!
//! Invariants:
//! - A `fragment` event carries HTML whose `data-live-part` elements replace the page's elements of
//!   the same name (app.js); its event id is the fragment's [`version`]. Otherwise a `ping` each
//!   period says the stream is alive, and a page that hears nothing for three periods says it may
//!   be out of date.
//! - The first fragment is not sent again if the browser has it: the page states the version it
//!   was rendered with (`?v=`), and a reconnecting browser sends the last one it received
//!   (`Last-Event-ID`), which wins.
//! - A render that fails sends nothing (the page goes stale rather than claim to be current); one
//!   refused as not found or forbidden ends the stream. The render task ends with the connection.

use super::WebError;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

/// How often a live page's view is recomputed (a status change shows within this, well inside
/// one sampling interval).
pub const LIVE_EVERY: Duration = Duration::from_secs(1);

/// The query of a live stream: the version of the fragment the page was rendered with.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Since {
    pub v: Option<String>,
}

/// A fragment's version: the start of the SHA-256 of its HTML, hex (also in the page's stream URL).
pub fn version(html: &str) -> String {
    Sha256::digest(html.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The version the browser already shows: the last event id it received, else the page's own.
pub fn known(headers: &HeaderMap, since: Since) -> Option<String> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string).or(since.v)
}

/// Streams `render()`'s HTML as `fragment` events whenever its version differs from the last one
/// the browser has (`known`, then the last sent), `ping` otherwise; checked every [`LIVE_EVERY`].
pub fn stream<F, Fut>(
    known: Option<String>,
    mut render: F,
) -> Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<String, WebError>> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(4);
    tokio::spawn(async move {
        let mut last = known;
        let mut every = tokio::time::interval(LIVE_EVERY);
        loop {
            every.tick().await;
            if tx.is_closed() {
                return; // the page was closed
            }
            let event = match render().await {
                Ok(html) => {
                    let v = version(&html);
                    if last.as_deref() == Some(v.as_str()) {
                        Event::default().event("ping").data("sin cambios")
                    } else {
                        let event = Event::default().event("fragment").id(v.clone()).data(html);
                        last = Some(v);
                        event
                    }
                }
                Err(e @ (WebError::NotFound(_) | WebError::Forbidden(_))) => {
                    tracing::info!(error = %e, "live page stream ended");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live page render failed");
                    continue;
                }
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    Sse::new(ReceiverStream(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// An mpsc receiver as a stream of `Ok` events.
struct ReceiverStream(tokio::sync::mpsc::Receiver<Event>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_event_id_of_a_reconnecting_browser_wins_over_the_pages_own_version() {
        let mut headers = HeaderMap::new();
        assert_eq!(known(&headers, Since { v: Some("a".into()) }).as_deref(), Some("a"));
        headers.insert("last-event-id", "b".parse().unwrap());
        assert_eq!(known(&headers, Since { v: Some("a".into()) }).as_deref(), Some("b"));
        assert_eq!(known(&HeaderMap::new(), Since::default()), None);
    }

    #[test]
    fn a_version_is_sixteen_hex_digits_that_change_with_the_html() {
        let v = version("<p>a</p>");
        assert_eq!(v.len(), 16);
        assert!(v.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(v, version("<p>a</p>"));
        assert_ne!(v, version("<p>b</p>"));
    }
}
