//! The annual preventive plan, generated: one software check per server per month, and the provider
//! visits each contract calls for. Pure: the same inputs give the same plan, so the store can
//! regenerate a year and insert only what is missing (the chief's adjustments are never undone).
//!
//! Rules (stated on the plan page too):
//! - Software: planned from the first working day of the month, due on its last working day.
//! - Hardware: a contract's visits fall every `period_months` counted from its start date (the
//!   first visit on the start date), while inside the contract. A visit on a day off moves to the
//!   next working day (or the previous one, if the next is past the contract's end); its window is
//!   that day's working hours, and it is due by the last working day of its month.
//! - Technicians: a server keeps its preferred technician when it is among those chosen; the other
//!   servers are dealt out in turn, in server order, and keep theirs all year.

use super::Kind;
use crate::calendar::Calendar;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use std::collections::HashMap;

/// A server to plan for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanServer {
    pub id: i64,
    /// Last year's (or the current) technician, kept when still chosen.
    pub preferred: Option<i64>,
}

/// A contract, as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanContract {
    pub id: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub period_months: u32,
    pub servers: Vec<i64>,
}

/// One planned instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub kind: Kind,
    pub year: i32,
    pub month: u32,
    pub server_id: i64,
    pub contract_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub scheduled_on: NaiveDate,
    pub due_on: NaiveDate,
    /// Hardware: the visit window (the server's alert rules are silenced during it).
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

fn month_start(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, 1)
}

fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    month_start(year, month)?.checked_add_months(Months::new(1))?.pred_opt()
}

/// Which technician each server gets (see the module rules).
pub fn assign(servers: &[PlanServer], technicians: &[i64]) -> HashMap<i64, Option<i64>> {
    let mut sorted: Vec<&PlanServer> = servers.iter().collect();
    sorted.sort_by_key(|s| s.id);
    let mut turn = 0usize;
    sorted
        .into_iter()
        .map(|s| {
            let tech = match s.preferred {
                Some(p) if technicians.contains(&p) => Some(p),
                _ if technicians.is_empty() => None,
                _ => {
                    let t = technicians[turn % technicians.len()];
                    turn += 1;
                    Some(t)
                }
            };
            (s.id, tech)
        })
        .collect()
}

/// The plan of `year`, software first, then hardware, each in (month, server) order.
pub fn generate(
    cal: &Calendar,
    year: i32,
    servers: &[PlanServer],
    technicians: &[i64],
    contracts: &[PlanContract],
) -> Vec<Planned> {
    let techs = assign(servers, technicians);
    let tech_of = |server: i64| techs.get(&server).copied().flatten();
    let mut ids: Vec<i64> = servers.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    let mut out = Vec::new();
    for month in 1..=12 {
        let (Some(first), Some(last)) = (month_start(year, month), month_end(year, month)) else { continue };
        let scheduled_on = cal.working_day_on_or_after(first).min(last);
        let due_on = cal.working_day_on_or_before(last).max(first);
        for &server_id in &ids {
            out.push(Planned {
                kind: Kind::Software,
                year,
                month,
                server_id,
                contract_id: None,
                technician_id: tech_of(server_id),
                scheduled_on,
                due_on,
                window: None,
            });
        }
    }
    let mut visits = Vec::new();
    for c in contracts {
        if c.period_months == 0 {
            continue;
        }
        for nominal in visit_dates(c).filter(|d| d.year() == year) {
            let next = cal.working_day_on_or_after(nominal);
            let day = if next <= c.ends_on { next } else { cal.working_day_on_or_before(nominal).max(c.starts_on) };
            let last = month_end(year, nominal.month()).unwrap_or(nominal);
            let due_on = cal.working_day_on_or_before(last).max(day);
            for &server_id in &c.servers {
                visits.push(Planned {
                    kind: Kind::Hardware,
                    year,
                    month: nominal.month(),
                    server_id,
                    contract_id: Some(c.id),
                    technician_id: tech_of(server_id),
                    scheduled_on: day,
                    due_on,
                    window: cal.working_span(day),
                });
            }
        }
    }
    visits.sort_by_key(|v| (v.month, v.server_id, v.contract_id));
    out.extend(visits);
    out
}

/// A contract's nominal visit dates: its start, then every period, while not past its end.
pub fn visit_dates(c: &PlanContract) -> impl Iterator<Item = NaiveDate> + '_ {
    (0u32..)
        .map_while(move |k| {
            let d = c.starts_on.checked_add_months(Months::new(k.checked_mul(c.period_months)?))?;
            (d <= c.ends_on).then_some(d)
        })
        .take(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn servers(ids: &[i64]) -> Vec<PlanServer> {
        ids.iter().map(|&id| PlanServer { id, preferred: None }).collect()
    }

    #[test]
    fn a_year_plans_one_software_check_per_server_per_month_due_on_the_last_working_day() {
        let cal = Calendar::default();
        let plan = generate(&cal, 2027, &servers(&[3, 1, 2]), &[10, 20], &[]);
        assert_eq!(plan.len(), 36);
        assert!(plan.iter().all(|p| p.kind == Kind::Software && p.window.is_none()));
        let jan: Vec<_> = plan.iter().filter(|p| p.month == 1).collect();
        assert_eq!(jan.iter().map(|p| p.server_id).collect::<Vec<_>>(), vec![1, 2, 3]);
        // 1 January 2027 is a holiday (Friday): planned from Monday the 4th; 31 January is a Sunday.
        assert_eq!(jan[0].scheduled_on, d(2027, 1, 4));
        assert_eq!(jan[0].due_on, d(2027, 1, 29));
        // May 2027 ends on a Monday: due that day.
        let may = plan.iter().find(|p| p.month == 5).unwrap();
        assert_eq!(may.due_on, d(2027, 5, 31));
        // 1 August 2027 is a Sunday: planned from Monday the 2nd.
        let aug = plan.iter().find(|p| p.month == 8).unwrap();
        assert_eq!(aug.scheduled_on, d(2027, 8, 2));
        let dec = plan.iter().find(|p| p.month == 12).unwrap();
        // 25 December is a holiday (Saturday anyway); 31 December 2027 is a Friday.
        assert_eq!(dec.due_on, d(2027, 12, 31));
    }

    #[test]
    fn technicians_are_dealt_out_in_turn_and_a_preferred_one_is_kept() {
        let s = vec![
            PlanServer { id: 1, preferred: None },
            PlanServer { id: 2, preferred: Some(20) },
            PlanServer { id: 3, preferred: Some(99) },
            PlanServer { id: 4, preferred: None },
        ];
        let a = assign(&s, &[10, 20]);
        assert_eq!(a[&1], Some(10));
        assert_eq!(a[&2], Some(20), "kept");
        assert_eq!(a[&3], Some(20), "99 was not chosen: dealt out");
        assert_eq!(a[&4], Some(10));
        assert_eq!(assign(&s, &[])[&1], None, "no technician chosen: unassigned");
    }

    #[test]
    fn a_quarterly_contract_plans_its_visits_from_its_start_date_inside_the_year() {
        let cal = Calendar::default();
        let c = PlanContract {
            id: 7,
            starts_on: d(2026, 11, 16),
            ends_on: d(2027, 11, 15),
            period_months: 3,
            servers: vec![1, 2],
        };
        let plan = generate(&cal, 2027, &servers(&[1, 2, 3]), &[10], std::slice::from_ref(&c));
        let hw: Vec<_> = plan.iter().filter(|p| p.kind == Kind::Hardware).collect();
        // 2026-11-16, 2027-02-16, 05-16, 08-16, 11-16 (past the end): three in 2027, for two servers.
        assert_eq!(hw.len(), 6);
        let dates: Vec<_> =
            hw.iter().filter(|p| p.server_id == 1).map(|p| (p.month, p.scheduled_on, p.due_on)).collect();
        assert_eq!(
            dates,
            vec![
                (2, d(2027, 2, 16), d(2027, 2, 26)),
                // 16 May 2027 is a Sunday: Monday the 17th.
                (5, d(2027, 5, 17), d(2027, 5, 31)),
                (8, d(2027, 8, 16), d(2027, 8, 31)),
            ]
        );
        assert!(hw.iter().all(|p| p.contract_id == Some(7) && p.technician_id == Some(10)));
        let (start, end) = hw[0].window.unwrap();
        // 08:00–16:00 in El Salvador (UTC−6).
        assert_eq!(start.to_rfc3339(), "2027-02-16T14:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-02-16T22:00:00+00:00");
        assert!(plan.iter().filter(|p| p.kind == Kind::Software).count() == 36);
    }

    #[test]
    fn a_visit_whose_next_working_day_is_past_the_contract_moves_back_inside_it() {
        let cal = Calendar::default();
        // Ends on Sunday 2027-01-31, monthly from the 31st: January's visit falls on the end date.
        let c = PlanContract {
            id: 1,
            starts_on: d(2026, 12, 31),
            ends_on: d(2027, 1, 31),
            period_months: 1,
            servers: vec![5],
        };
        let plan = generate(&cal, 2027, &[], &[], &[c]);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].scheduled_on, d(2027, 1, 29), "Friday before, still inside the contract");
        assert_eq!(plan[0].technician_id, None);
    }

    #[test]
    fn month_ends_clamp_and_a_yearly_contract_visits_once() {
        let c = PlanContract {
            id: 1,
            starts_on: d(2027, 1, 31),
            ends_on: d(2027, 12, 31),
            period_months: 1,
            servers: vec![],
        };
        let dates: Vec<_> = visit_dates(&c).collect();
        assert_eq!(dates.len(), 12);
        assert_eq!(dates[1], d(2027, 2, 28), "31 January + 1 month");
        assert_eq!(dates[2], d(2027, 3, 31), "counted from the start, not from the clamped date");
        let yearly = PlanContract { period_months: 12, ..c };
        assert_eq!(visit_dates(&yearly).count(), 1);
    }
}
