//! The history the server page's charts read, and the chart assets.
//!
//! - `GET /api/v1/servers/{id}/series`: the metrics the server has history for, with their subjects.
//! - `GET /api/v1/servers/{id}/series?metric=a,b&range=24h`: those metrics' series over the range
//!   (`6h`, `24h`, `7d` from 5-minute buckets; `30d` from hourly ones; `1y` from 6-hour ones), each point
//!   `[ms, min, max, avg]`; filesystem usage also carries its trend to full.
//!
//! Both take [`ApiUser`] (a session cookie, as the page's same-origin `fetch` sends, or a bearer
//! token) and answer errors as JSON. uPlot is vendored unmodified under `assets/vendor/uplot/` and
//! served from a versioned path, so browsers may cache it for good.

use super::auth::ApiUser;
use super::{AppState, WebError};
use crate::store::rollup::{self, Metric, Range, Series};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The uPlot version vendored, part of its static paths.
pub const UPLOT_VERSION: &str = "1.6.32";
/// At most this many metrics per request (the largest chart has four).
const MAX_METRICS: usize = 8;

#[derive(Debug, Deserialize)]
pub struct SeriesQuery {
    /// Comma-separated metric names; absent: list what there is.
    pub metric: Option<String>,
    /// `6h`, `24h` (default), `7d`, `30d` or `1y`.
    pub range: Option<String>,
}

#[derive(Debug, Serialize)]
struct SeriesOut {
    #[serde(flatten)]
    series: Series,
    title: &'static str,
    unit: &'static str,
}

#[derive(Debug, Serialize)]
struct SeriesReply {
    server: String,
    range: &'static str,
    step_s: i64,
    from_ms: i64,
    to_ms: i64,
    series: Vec<SeriesOut>,
}

#[derive(Debug, Serialize)]
struct MetricOut {
    metric: &'static str,
    title: &'static str,
    unit: &'static str,
    subjects: Vec<String>,
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Three decimals are more than a chart shows, and keep a year of points small.
fn round(v: f64) -> f64 {
    let r = (v * 1000.0).round() / 1000.0;
    if r.is_finite() { r } else { v }
}

/// The metrics asked for, or the message that names the wrong one and lists the right ones.
fn parse_metrics(list: &str) -> Result<Vec<&'static Metric>, String> {
    let names: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if names.is_empty() || names.len() > MAX_METRICS {
        return Err(format!("`metric` takes 1 to {MAX_METRICS} comma-separated metric names"));
    }
    names
        .into_iter()
        .map(|n| {
            rollup::metric(n).ok_or_else(|| {
                let known: Vec<&str> = rollup::METRICS.iter().map(|m| m.name).collect();
                format!("unknown metric {n:?}; known: {}", known.join(", "))
            })
        })
        .collect()
}

enum Found {
    Listing(Vec<(&'static Metric, Vec<String>)>),
    Series(Vec<Series>),
}

pub async fn series(
    State(st): State<AppState>,
    ApiUser(c): ApiUser,
    Path(id): Path<String>,
    Query(q): Query<SeriesQuery>,
) -> Result<Response, WebError> {
    if let Some(refused) = super::api::api_access(&st, &c, &id).await? {
        return Ok(refused);
    }
    let range = match q.range.as_deref().map(Range::parse) {
        None => Range::H24,
        Some(Some(r)) => r,
        Some(None) => {
            let ranges: Vec<&str> = Range::ALL.iter().map(|r| r.as_str()).collect();
            return Ok(json_error(StatusCode::BAD_REQUEST, format!("`range` must be one of {}", ranges.join(", "))));
        }
    };
    let metrics = match q.metric.as_deref().map(parse_metrics).transpose() {
        Ok(m) => m,
        Err(e) => return Ok(json_error(StatusCode::BAD_REQUEST, e)),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let lookup = id.clone();
    let found = st
        .db
        .with(move |c| {
            let Some(server) = rollup::server_key(c, &lookup)? else { return Ok(None) };
            Ok(Some(match metrics {
                None => Found::Listing(rollup::available(c, server)?),
                Some(ms) => {
                    let mut all = Vec::new();
                    for m in ms {
                        all.extend(rollup::series(c, server, m, range, now)?);
                    }
                    Found::Series(all)
                }
            }))
        })
        .await?;
    let reply = match found {
        None => return Ok(json_error(StatusCode::NOT_FOUND, format!("no server {id:?}"))),
        Some(Found::Listing(list)) => Json(json!({
            "server": id,
            "ranges": Range::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "metrics": list
                .into_iter()
                .map(|(m, subjects)| MetricOut { metric: m.name, title: m.title, unit: m.unit, subjects })
                .collect::<Vec<_>>(),
        }))
        .into_response(),
        Some(Found::Series(all)) => {
            let series = all
                .into_iter()
                .map(|mut s| {
                    for p in &mut s.points {
                        *p = (p.0, round(p.1), round(p.2), round(p.3));
                    }
                    let m = rollup::metric(s.metric);
                    SeriesOut { title: m.map_or("", |m| m.title), unit: m.map_or("", |m| m.unit), series: s }
                })
                .collect();
            Json(SeriesReply {
                server: id,
                range: range.as_str(),
                step_s: range.step_s(),
                from_ms: now - range.span_ms(),
                to_ms: now,
                series,
            })
            .into_response()
        }
    };
    Ok(reply)
}

/// The server page's chart code.
pub async fn charts_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../assets/charts.js"))
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn uplot_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, IMMUTABLE)],
        include_str!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    )
}

pub async fn uplot_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, IMMUTABLE)],
        include_str!("../../assets/vendor/uplot/uPlot.min.css"),
    )
}

pub async fn uplot_license() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], include_str!("../../assets/vendor/uplot/LICENSE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lists_are_checked_and_a_wrong_name_is_named() {
        assert_eq!(parse_metrics("asterisk_calls, asterisk_channels").unwrap().len(), 2);
        let e = parse_metrics("temperatura").unwrap_err();
        assert!(e.contains("\"temperatura\"") && e.contains("temperature"), "{e}");
        assert!(parse_metrics("").is_err());
        assert!(parse_metrics(&["temperature"; 9].join(",")).is_err());
    }

    #[test]
    fn values_are_rounded_to_three_decimals() {
        assert_eq!(round(10.0 / 3.0), 3.333);
        assert_eq!(round(1.5e12), 1.5e12);
    }
}
