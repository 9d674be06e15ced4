//! The fleet view the UACT chief leaves open all day: every server grouped by dependencia and
//! centro telefónico, one status each (correcto / advertencia / crítico / sin reportar / en
//! mantenimiento) and the few facts that matter, kept live by server-sent events.
//!
//! Invariants:
//! - [`build`] is the one place that decides a server's status: not reporting (offline, stale)
//!   wins, then a current maintenance window, then the worst of the latest sample's verdicts and
//!   the problems firing (suppressed ones do not count).
//! - The live stream ([`stream`]) re-renders the same askama fragment as the page and sends it
//!   only when it changed; the page marks itself stale when the stream falls silent.
//! - A `jefe_centro` sees only the servers of their own centers.

use super::auth::{ApiUser, Credentials, PageUser};
use super::pages::Me;
use super::{AppState, WebError, live};
use crate::auth::Role;
use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use axum::response::sse::{Event, Sse};
use centinela_shared::{AmiState, AtaDiskV1, Body, Level, NvmeDiskV1, Reading, decode_envelope};
use rusqlite::Connection;
use serde::Serialize;

pub use super::live::LIVE_EVERY;

/// One server on the fleet view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Card {
    pub id: String,
    /// ok, warning, critical, silent (sin reportar) or maintenance.
    pub status: &'static str,
    pub label: &'static str,
    pub css: &'static str,
    /// RFC 3339: since when the server is in its presence state.
    pub since: String,
    /// The reasons behind a warning or critical status, most severe first (at most 3).
    pub why: Vec<String>,
    /// Short facts: "Asterisk activo 3 d", "4 llamadas", "2 en espera", "troncales 2/3"...
    pub facts: Vec<String>,
    pub open_tickets: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub dependencia: String,
    pub center: String,
    pub cards: Vec<Card>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub ok: usize,
    pub warning: usize,
    pub critical: usize,
    pub silent: usize,
    pub maintenance: usize,
    pub open_tickets: i64,
    pub overdue_tickets: usize,
    /// Preventive maintenance of this month not done yet.
    pub maintenance_due: i64,
    /// This month, for the link to the plan: (year, month).
    pub this_month: (i32, u32),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fleet {
    pub groups: Vec<Group>,
    pub totals: Totals,
}

fn level_rank(l: Level) -> u8 {
    match l {
        Level::Ok => 0,
        Level::Warning => 1,
        Level::Critical => 2,
    }
}

fn human_duration(s: u64) -> String {
    centinela_agent::check::human_duration_s(s)
}

/// The worst verdict of a sample's readings, with its reasons, and the facts of the card.
fn from_sample(readings: &[Reading]) -> (Level, Vec<String>, Vec<String>) {
    let mut worst = Level::Ok;
    let mut reasons: Vec<(u8, String)> = Vec::new();
    let mut facts = Vec::new();
    let mut hottest: Option<(f32, String)> = None;
    let mut fullest: Option<(f64, String)> = None;
    let (mut disks, mut disks_bad, mut arrays, mut arrays_bad) = (0, 0, 0, 0);
    for r in readings {
        let verdict = match r {
            Reading::HostV1(_) => None,
            Reading::FilesystemV1(f) => {
                let pct = f.used_percent();
                if !f.read_only && fullest.as_ref().is_none_or(|(p, _)| pct > *p) {
                    fullest = Some((pct, f.mount_point.clone()));
                }
                None
            }
            Reading::RaidArrayV1(a) => {
                arrays += 1;
                if a.verdict.level == Level::Critical {
                    arrays_bad += 1;
                }
                Some(&a.verdict)
            }
            Reading::TemperatureV1(t) => {
                if let Some(c) = t.celsius.filter(|c| c.is_finite())
                    && hottest.as_ref().is_none_or(|(h, _)| c > *h)
                {
                    hottest = Some((c, t.label.clone()));
                }
                Some(&t.verdict)
            }
            Reading::FanV1(f) => Some(&f.verdict),
            Reading::AtaDiskV1(AtaDiskV1 { verdict, .. }) | Reading::NvmeDiskV1(NvmeDiskV1 { verdict, .. }) => {
                disks += 1;
                if verdict.level == Level::Critical {
                    disks_bad += 1;
                }
                Some(verdict)
            }
            Reading::AsteriskV1(a) => {
                match &a.ami {
                    AmiState::Up => {
                        facts.push(format!("Asterisk activo {}", a.uptime_s.map(human_duration).unwrap_or_default()));
                        if let Some(calls) = a.active_calls {
                            facts.push(format!("{calls} llamadas"));
                        }
                        let waiting: u32 = a.queues.iter().map(|q| q.callers).sum();
                        facts.push(format!("{waiting} en espera"));
                        let regs = &a.registrations;
                        if !regs.is_empty() {
                            let ok = regs.iter().filter(|r| r.status == "Registered").count();
                            facts.push(format!("troncales {ok}/{}", regs.len()));
                        }
                    }
                    _ => facts.push("Asterisk sin respuesta".into()),
                }
                Some(&a.verdict)
            }
            Reading::DatabaseV1(d) => {
                match (d.connected, d.newest_age_s) {
                    (true, Some(age)) => facts.push(format!("CDR hace {}", human_duration(age))),
                    (true, None) => facts.push("CDR vacío".into()),
                    (false, _) => facts.push("CDR sin conexión".into()),
                }
                Some(&d.verdict)
            }
            Reading::AdminAppV1(a) => Some(&a.verdict),
            Reading::ShippingV1(s) => Some(&s.verdict),
        };
        if let Some(v) = verdict {
            if level_rank(v.level) > level_rank(worst) {
                worst = v.level;
            }
            if v.level != Level::Ok {
                reasons.extend(v.reasons.iter().map(|r| (level_rank(v.level), r.clone())));
            }
        }
    }
    if disks > 0 || arrays > 0 {
        let mut hw = Vec::new();
        if disks > 0 {
            hw.push(if disks_bad == 0 {
                format!("discos {disks} bien")
            } else {
                format!("discos {disks_bad}/{disks} con falla")
            });
        }
        if arrays > 0 {
            hw.push(if arrays_bad == 0 {
                format!("RAID {arrays} bien")
            } else {
                format!("RAID {arrays_bad}/{arrays} con falla")
            });
        }
        facts.push(hw.join(", "));
    }
    if let Some((c, label)) = hottest {
        facts.push(format!("{c:.0} °C máx. ({label})"));
    }
    if let Some((p, mount)) = fullest {
        facts.push(format!("{mount} al {p:.0} %"));
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
    (worst, reasons.into_iter().map(|(_, r)| r).collect(), facts)
}

/// Whether `c` may see a server of the call center `center`: everyone but a `jefe_centro`, who sees
/// only the servers of their own centers (not those without a center).
pub fn may_see_center(c: &Credentials, center: Option<i64>) -> bool {
    c.user.role != Role::JefeCentro || center.is_some_and(|id| c.user.centers.contains(&id))
}

/// The whole fleet as `c` may see it, at `now_ms`.
pub fn build(conn: &Connection, c: &Credentials, st: &AppState, now_ms: i64) -> rusqlite::Result<Fleet> {
    build_for(conn, c, st, now_ms, None)
}

/// One server's card, as the fleet view shows it (for the server page's header).
pub fn card(
    conn: &Connection,
    c: &Credentials,
    st: &AppState,
    now_ms: i64,
    agent: &str,
) -> rusqlite::Result<Option<Card>> {
    let fleet = build_for(conn, c, st, now_ms, Some(agent))?;
    Ok(fleet.groups.into_iter().flat_map(|g| g.cards).next())
}

fn build_for(
    conn: &Connection,
    c: &Credentials,
    st: &AppState,
    now_ms: i64,
    only: Option<&str>,
) -> rusqlite::Result<Fleet> {
    let scope: Option<Vec<i64>> = (c.user.role == Role::JefeCentro).then(|| c.user.centers.clone());
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.agent_id, s.status, s.status_since, s.center_id, c.name, d.name
         FROM servers s LEFT JOIN centers c ON c.id = s.center_id LEFT JOIN dependencias d ON d.id = c.dependencia_id
         ORDER BY d.name IS NULL, d.name, c.name, s.agent_id",
    )?;
    type ServerRowT = (i64, String, String, i64, Option<i64>, Option<String>, Option<String>);
    let rows: Vec<ServerRowT> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))?
        .filter(|r| only.is_none_or(|a| r.as_ref().is_ok_and(|r| r.1 == a)))
        .collect::<Result<_, _>>()?;
    let open = crate::tickets::store::open_by_server(conn)?;
    // Problems and maintenance windows of every server in one query each, not one per server.
    let mut firing: std::collections::HashMap<i64, Vec<(String, String, i64)>> = Default::default();
    let mut stmt = conn.prepare_cached(
        "SELECT server_id, severity, summary, since FROM problems WHERE suppressed IS NULL ORDER BY since",
    )?;
    for r in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))? {
        let (sid, severity, summary, since) = r?;
        firing.entry(sid).or_default().push((severity, summary, since));
    }
    let in_maintenance: std::collections::HashSet<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT server_id FROM silences WHERE kind = 'mantenimiento' AND starts_at <= ?1
             AND ends_at > ?1 AND ended_at IS NULL",
        )?
        .query_map([now_ms], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut fleet = Fleet::default();
    for (sid, agent, presence, since, center_id, center, dependencia) in rows {
        if !may_see_center(c, center_id) {
            continue;
        }
        let payload: Option<Vec<u8>> = conn
            .prepare_cached("SELECT payload FROM samples WHERE server_id = ?1 ORDER BY seq DESC LIMIT 1")?
            .query_row([sid], |r| r.get(0))
            .ok();
        let readings = payload
            .and_then(|p| decode_envelope(&p).ok())
            .and_then(|e| match e.body {
                Body::SampleV1(s) => Some(s.readings),
                _ => None,
            })
            .unwrap_or_default();
        let (mut level, mut why, facts) = from_sample(&readings);
        let problems = firing.remove(&sid).unwrap_or_default();
        // A firing problem already says what its verdict reason says: keep the problem's words.
        let summaries: Vec<String> = problems.iter().map(|p| p.1.to_lowercase()).collect();
        why.retain(|r| !summaries.iter().any(|s| s.contains(&r.to_lowercase())));
        let mut trouble_since: Option<i64> = None;
        for (severity, summary, since) in problems.into_iter().rev() {
            let l = if matches!(severity.as_str(), "alta" | "crítica") { Level::Critical } else { Level::Warning };
            if level_rank(l) > level_rank(level) {
                level = l;
            }
            trouble_since = Some(trouble_since.map_or(since, |t: i64| t.min(since)));
            why.insert(0, summary);
        }
        let maintenance = in_maintenance.contains(&sid);
        let (status, label, css) = if matches!(presence.as_str(), "offline" | "stale") {
            fleet.totals.silent += 1;
            ("silent", "Sin reportar", "silent")
        } else if maintenance {
            fleet.totals.maintenance += 1;
            ("maintenance", "En mantenimiento", "muted")
        } else {
            match level {
                Level::Critical => {
                    fleet.totals.critical += 1;
                    ("critical", "Crítico", "crit")
                }
                Level::Warning => {
                    fleet.totals.warning += 1;
                    ("warning", "Advertencia", "warn")
                }
                Level::Ok => {
                    fleet.totals.ok += 1;
                    ("ok", "Correcto", "ok")
                }
            }
        };
        if status == "silent" {
            let word =
                if presence == "offline" { "el agente se desconectó" } else { "el agente dejó de enviar muestras" };
            why.insert(0, word.to_string());
        }
        why.truncate(3);
        let tickets = open.get(&sid).copied().unwrap_or(0);
        fleet.totals.open_tickets += tickets;
        let card = Card {
            id: agent,
            status,
            label,
            css,
            // Since when it is in trouble (its oldest firing problem), or in its presence state.
            since: crate::store::read::rfc3339(match status {
                "critical" | "warning" => trouble_since.unwrap_or(since),
                _ => since,
            }),
            why: if matches!(status, "ok" | "maintenance") { vec![] } else { why },
            facts,
            open_tickets: tickets,
        };
        let (dep, cen) = (
            dependencia.unwrap_or_else(|| "Sin dependencia".into()),
            center.unwrap_or_else(|| "Servidores sin centro telefónico asignado".into()),
        );
        match fleet.groups.last_mut() {
            Some(g) if g.dependencia == dep && g.center == cen => g.cards.push(card),
            _ => fleet.groups.push(Group { dependencia: dep, center: cen, cards: vec![card] }),
        }
    }
    if only.is_some() {
        // One server's card: the fleet's totals are not shown, skip the ticket scan.
        return Ok(fleet);
    }
    // Overdue tickets, on the calendar (only the open ones can be).
    let at = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let w = &st.workflow;
    let today = w.calendar.local_date(at);
    fleet.totals.maintenance_due = crate::maintenance::store::due_this_month(conn, today, scope.as_deref())?;
    fleet.totals.this_month = (chrono::Datelike::year(&today), chrono::Datelike::month(&today));
    let filter = crate::tickets::store::Filter { centers: scope, ..Default::default() };
    fleet.totals.overdue_tickets = crate::tickets::store::list(conn, &filter, 10_000)?
        .iter()
        .filter(|t| crate::tickets::overdue(t, at, &w.calendar, &w.ctx.tickets.targets).is_some())
        .count();
    Ok(fleet)
}

/// The live part of the page (also what the stream sends).
#[derive(Template)]
#[template(path = "fleet_body.html")]
pub struct FleetBody {
    pub fleet: Fleet,
}

#[derive(Template)]
#[template(path = "fleet.html")]
pub struct FleetPage {
    pub me: Me,
    pub body: String,
    /// The body's [`live::version`], for the stream.
    pub version: String,
    pub live_every_ms: u128,
}

async fn compute(st: &AppState, c: &Credentials) -> Result<Fleet, WebError> {
    let (st2, c2) = (st.clone(), c.clone());
    st.db.with(move |conn| build(conn, &c2, &st2, chrono::Utc::now().timestamp_millis())).await
}

pub async fn page(State(st): State<AppState>, PageUser(c): PageUser) -> Result<Html<String>, WebError> {
    let fleet = compute(&st, &c).await?;
    let body = FleetBody { fleet }.render()?;
    let version = live::version(&body);
    Ok(Html(FleetPage { me: Me::from(&c), body, version, live_every_ms: LIVE_EVERY.as_millis() }.render()?))
}

/// The fleet as JSON (the same figures as the page).
pub async fn api(State(st): State<AppState>, ApiUser(c): ApiUser) -> Result<Json<Fleet>, WebError> {
    Ok(Json(compute(&st, &c).await?))
}

/// Server-sent events: the page's live fragment whenever it changes, a ping otherwise (so the page
/// can tell a quiet fleet from a dead connection).
pub async fn stream(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    headers: HeaderMap,
    Query(since): Query<live::Since>,
) -> Sse<impl futures_core::Stream<Item = Result<Event, std::convert::Infallible>>> {
    live::stream(live::known(&headers, since), move || {
        let (st, c) = (st.clone(), c.clone());
        async move { Ok(FleetBody { fleet: compute(&st, &c).await? }.render()?) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(fixture: &str) -> Vec<Reading> {
        let path = format!("{}/../agent/tests/fixtures/{fixture}/raid.golden.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_degraded_array_makes_the_card_critical_with_the_reason_and_the_raid_fact() {
        let (level, why, facts) = from_sample(&readings("raid-raid1-degraded"));
        assert_eq!(level, Level::Critical);
        assert!(why[0].contains("degradado"), "{why:?}");
        assert!(facts.iter().any(|f| f == "RAID 1/1 con falla"), "{facts:?}");
        let (level, why, facts) = from_sample(&readings("raid-raid1-healthy"));
        assert_eq!((level, why.len()), (Level::Ok, 0));
        assert!(facts.iter().any(|f| f == "RAID 1 bien"), "{facts:?}");
    }
}
