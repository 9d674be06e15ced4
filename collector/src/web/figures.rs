//! `GET /api/v1/reports/figures?centro=ID&mes=YYYY-MM`: a call center's monthly figures, computed
//! now from the stored CDR and `queue_log` ([`crate::reports::source::month`]), with the formulas
//! behind them. A `jefe_centro` sees only their own centers; any other is "not found".

use super::auth::ApiUser;
use super::{AppState, WebError};
use crate::reports::figures::FORMULAS;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
pub struct FiguresQuery {
    /// The call center's id.
    pub centro: Option<String>,
    /// The month, `YYYY-MM`.
    pub mes: Option<String>,
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `YYYY-MM` as (year, month).
pub fn parse_month(text: &str) -> Option<(i32, u32)> {
    let (y, m) = text.trim().split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m) = (y.parse::<i32>().ok()?, m.parse::<u32>().ok()?);
    ((1..=9999).contains(&y) && (1..=12).contains(&m)).then_some((y, m))
}

/// The figures JSON ([`crate::reports::figures::Figures`]) plus `center_name`, `dependencia` and
/// `formulas` (`[{name, formula}]`, Spanish, for the report's footer).
pub async fn api(
    State(st): State<AppState>,
    ApiUser(c): ApiUser,
    Query(q): Query<FiguresQuery>,
) -> Result<Response, WebError> {
    let Some(center) = q.centro.as_deref().and_then(|s| s.trim().parse::<i64>().ok()) else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "falta el centro telefónico: indique ?centro=ID (el número del centro en /admin/organizacion)".into(),
        ));
    };
    let Some((year, month)) = q.mes.as_deref().and_then(parse_month) else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "falta el mes o no es válido: indique ?mes=AAAA-MM, por ejemplo 2026-10".into(),
        ));
    };
    let not_found = || refuse(StatusCode::NOT_FOUND, format!("no existe el centro telefónico {center}"));
    if !super::fleet::may_see_center(&c, Some(center)) {
        return Ok(not_found());
    }
    let workflow = Arc::clone(&st.workflow);
    let found = st
        .db
        .with(move |conn| {
            let Some(info) = crate::org::center(conn, center)? else { return Ok(None) };
            let figures = crate::reports::source::month(conn, center, year, month, &workflow.reports)?;
            Ok(Some((info, figures)))
        })
        .await?;
    let Some((info, figures)) = found else { return Ok(not_found()) };
    let mut body = serde_json::to_value(&figures).map_err(|e| WebError::Internal(format!("figures as JSON: {e}")))?;
    body["center_name"] = json!(info.name);
    body["dependencia"] = json!(info.dependencia);
    body["formulas"] = FORMULAS.iter().map(|(name, formula)| json!({ "name": name, "formula": formula })).collect();
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_written_yyyy_mm() {
        assert_eq!(parse_month("2026-10"), Some((2026, 10)));
        for bad in ["2026-13", "2026-1", "26-10", "2026/10", "octubre", ""] {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
    }
}
