//! The business calendar: the collector's time zone, working hours and holidays, and time arithmetic
//! on them (due dates, elapsed business time, dates shown to people). Pure: time is always an argument.
//!
//! Invariants:
//! - Instants go in and out as `DateTime<Utc>`; the configured zone is used only to find working hours
//!   and to show dates to people. Storage stays in UTC.
//! - A working period is `[opening, closing)` in local wall-clock time within one day (closing may be
//!   "24:00"). Periods of one day are sorted and do not overlap.
//! - Daylight saving (El Salvador has none, but the zone is configurable): a period edge inside a
//!   skipped hour moves forward with the clocks; a period that covers a repeated hour covers it twice,
//!   because the office is open for that real time.
//! - [`Calendar::add_business`] returns the earliest instant at which the business time has elapsed:
//!   a target that runs out exactly at closing time is due at closing, not at the next opening.
//! - Every loop over days is bounded ([`MAX_DAYS`]); nothing panics on any configuration.
//!
//! Configuration, in the collector's TOML (all keys optional):
//!
//! ```toml
//! [calendar]
//! time_zone = "America/El_Salvador"
//! # Semana Santa and the Fiestas Agostinas change every year: list them per year.
//! holidays = ["2026-04-02", "2026-04-03", "2026-08-03", "2026-08-04", "2026-08-05"]
//! # Replaces the default list of fixed-date holidays when present.
//! recurring_holidays = ["01-01", "05-01", "05-10", "06-17", "08-06", "09-15", "11-02", "12-25"]
//! [calendar.hours]           # when present, the whole week: a day not listed is not worked
//! mon = ["08:00-12:00", "13:00-16:00"]
//! tue = ["08:00-16:00"]
//! ```

use centinela_agent::config::{ConfigError, invalid, parse_duration};
use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// The default zone: the ministry is in El Salvador (UTC−6 all year, no daylight saving).
pub const DEFAULT_TIME_ZONE: &str = "America/El_Salvador";

/// Default working hours, Monday to Friday: a Salvadoran public office, 08:00–16:00.
const DEFAULT_HOURS: Period = Period { start: 8 * 60, end: 16 * 60 };

/// El Salvador's fixed-date holidays (month, day): Año Nuevo, Día del Trabajo, Día de la Madre, Día
/// del Padre, Divino Salvador del Mundo (6 Aug, national), Independencia, Día de los Difuntos,
/// Navidad. Holy Week (Jueves, Viernes y Sábado Santo) moves with Easter, and the Fiestas Agostinas
/// (3–5 Aug, San Salvador) depend on the year's decree: list those per year in `calendar.holidays`.
pub const DEFAULT_RECURRING_HOLIDAYS: [(u32, u32); 8] =
    [(1, 1), (5, 1), (5, 10), (6, 17), (8, 6), (9, 15), (11, 2), (12, 25)];

/// How far any search over days goes (50 years) before giving up; only a calendar with no working
/// day at all could reach it, and validation refuses those.
pub const MAX_DAYS: u32 = 366 * 50;

/// Spanish weekday abbreviations, Monday first.
const WEEKDAYS_ES: [&str; 7] = ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"];

/// The `[calendar]` section as written in the TOML file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    /// IANA time zone for working hours, due dates and every date shown to people.
    /// Default "America/El_Salvador".
    pub time_zone: Option<String>,
    /// Working hours per weekday. When the table is present it describes the whole week: a day not
    /// listed is not worked. Default Monday to Friday 08:00–16:00.
    pub hours: Option<RawHours>,
    /// Holidays on one date, "YYYY-MM-DD": those that move from year to year (Semana Santa,
    /// Fiestas Agostinas, a decreed day off).
    pub holidays: Option<Vec<String>>,
    /// Holidays every year, "MM-DD". When present, replaces the default list (El Salvador's
    /// fixed-date holidays); `[]` means none.
    pub recurring_holidays: Option<Vec<String>>,
}

/// `[calendar.hours]`: each day a list of "HH:MM-HH:MM" periods; a split shift is two periods.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHours {
    /// Monday, e.g. ["08:00-12:00", "13:00-17:00"].
    pub mon: Option<Vec<String>>,
    /// Tuesday.
    pub tue: Option<Vec<String>>,
    /// Wednesday.
    pub wed: Option<Vec<String>>,
    /// Thursday.
    pub thu: Option<Vec<String>>,
    /// Friday.
    pub fri: Option<Vec<String>>,
    /// Saturday.
    pub sat: Option<Vec<String>>,
    /// Sunday.
    pub sun: Option<Vec<String>>,
}

/// One working period of a day, in minutes after local midnight: `[start, end)`, `end` ≤ 1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub start: u16,
    pub end: u16,
}

/// Which edge of a period a local time is, to resolve daylight-saving ambiguities.
#[derive(Debug, Clone, Copy)]
enum Edge {
    Opening,
    Closing,
}

/// The validated business calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    /// Working periods per weekday, Monday first.
    week: [Vec<Period>; 7],
    holidays: BTreeSet<NaiveDate>,
    /// (month, day) of holidays every year.
    recurring: BTreeSet<(u32, u32)>,
}

impl Default for Calendar {
    /// El Salvador: Monday to Friday 08:00–16:00, the fixed-date national holidays.
    fn default() -> Self {
        let work = || vec![DEFAULT_HOURS];
        Self {
            tz: chrono_tz::America::El_Salvador,
            week: [work(), work(), work(), work(), work(), Vec::new(), Vec::new()],
            holidays: BTreeSet::new(),
            recurring: DEFAULT_RECURRING_HOLIDAYS.into_iter().collect(),
        }
    }
}

const DAY_KEYS: [&str; 7] = [
    "calendar.hours.mon",
    "calendar.hours.tue",
    "calendar.hours.wed",
    "calendar.hours.thu",
    "calendar.hours.fri",
    "calendar.hours.sat",
    "calendar.hours.sun",
];

/// Parses "HH:MM" (or "H:MM"); "24:00" only where `allow_24` (a closing time).
fn parse_clock(s: &str, allow_24: bool) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    match (h, m) {
        (24, 0) if allow_24 => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn parse_day(key: &'static str, ranges: &[String]) -> Result<Vec<Period>, ConfigError> {
    let mut periods = Vec::with_capacity(ranges.len());
    for r in ranges {
        let bad = || {
            invalid(
                key,
                format!(
                    "{r:?} is not a working period; write it like \"08:00-16:00\" (a split shift is two: [\"08:00-12:00\", \"13:00-17:00\"])"
                ),
            )
        };
        let (a, b) = r.split_once('-').ok_or_else(bad)?;
        let start = parse_clock(a, false).ok_or_else(bad)?;
        let end = parse_clock(b, true).ok_or_else(bad)?;
        if start >= end {
            return Err(invalid(
                key,
                format!(
                    "{r:?} ends before it starts; a period must lie within one day (night shifts are not supported)"
                ),
            ));
        }
        periods.push(Period { start, end });
    }
    periods.sort();
    for w in periods.windows(2) {
        if w[1].start < w[0].end {
            return Err(invalid(key, "has overlapping periods; make each period end before the next one starts"));
        }
    }
    Ok(periods)
}

impl Calendar {
    /// Validates the `[calendar]` section; every error names its key and the fix.
    pub fn from_raw(raw: RawCalendar) -> Result<Self, ConfigError> {
        let mut cal = Self::default();
        if let Some(name) = raw.time_zone {
            cal.tz = name.trim().parse().map_err(|_| {
                invalid(
                    "calendar.time_zone",
                    format!("{name:?} is not an IANA time zone; write it like \"America/El_Salvador\""),
                )
            })?;
        }
        if let Some(h) = raw.hours {
            let days = [h.mon, h.tue, h.wed, h.thu, h.fri, h.sat, h.sun];
            for (i, day) in days.into_iter().enumerate() {
                cal.week[i] = parse_day(DAY_KEYS[i], day.as_deref().unwrap_or_default())?;
            }
            if cal.week.iter().all(Vec::is_empty) {
                return Err(invalid(
                    "calendar.hours",
                    "has no working period on any day; give at least one, e.g. mon = [\"08:00-16:00\"], or remove the table for the default Monday to Friday 08:00-16:00",
                ));
            }
        }
        if let Some(list) = raw.holidays {
            cal.holidays = list
                .iter()
                .map(|s| {
                    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                        invalid("calendar.holidays", format!("{s:?} is not a date; write it like \"2026-04-02\""))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(list) = raw.recurring_holidays {
            cal.recurring = list.iter().map(|s| parse_month_day(s)).collect::<Result<_, _>>()?;
        }
        Ok(cal)
    }

    /// The configured time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The working periods of a weekday (empty: not worked).
    pub fn hours(&self, day: Weekday) -> &[Period] {
        &self.week[day.num_days_from_monday() as usize]
    }

    /// Whether `date` (local) is a holiday, listed or recurring.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date) || self.recurring.contains(&(date.month(), date.day()))
    }

    /// Whether `date` (local) has working hours: a worked weekday that is not a holiday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.is_holiday(date) && !self.hours(date.weekday()).is_empty()
    }

    /// `t` in the configured zone.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.tz)
    }

    /// `t` for people, in the configured zone: "vie 27/11/2026 15:04".
    pub fn format_local(&self, t: DateTime<Utc>) -> String {
        let l = self.local(t);
        format!("{} {}", WEEKDAYS_ES[l.weekday().num_days_from_monday() as usize], l.format("%d/%m/%Y %H:%M"))
    }

    /// Whether `t` falls inside working hours on a working day.
    pub fn is_business_time(&self, t: DateTime<Utc>) -> bool {
        let date = self.local_date(t);
        [date.pred_opt(), Some(date)].into_iter().flatten().any(|d| self.intervals(d).any(|(s, e)| s <= t && t < e))
    }

    /// The earliest instant at which `d` of business time has elapsed since `start`. A target of 4
    /// business hours from Friday 15:00 (08:00–16:00) lands on Monday 11:00. `d` = 0 is `start`.
    pub fn add_business(&self, start: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
        let mut remaining = to_delta(d);
        if remaining <= TimeDelta::zero() {
            return start;
        }
        let mut date = self.local_date(start).pred_opt().unwrap_or(NaiveDate::MIN);
        for _ in 0..MAX_DAYS {
            for (s, e) in self.intervals(date) {
                let s = s.max(start);
                if e <= s {
                    continue;
                }
                if e - s >= remaining {
                    return s + remaining;
                }
                remaining -= e - s;
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// Business time between `a` and `b`; zero when `b` is not after `a`.
    pub fn business_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::ZERO;
        }
        let mut total = TimeDelta::zero();
        let mut date = self.local_date(a).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(b).succ_opt().unwrap_or(NaiveDate::MAX);
        while date <= last {
            for (s, e) in self.intervals(date) {
                let (s, e) = (s.max(a), e.min(b));
                if e > s {
                    total += e - s;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total.to_std().unwrap_or_default()
    }

    /// `n` business days after `start`: the same point of the working day, `n` working days later.
    /// An instant outside working hours counts as the end of the previous working day, so a request
    /// filed on Saturday, or on Monday before opening, with 1 business day is due Monday at closing.
    /// If the target day is shorter, the due time is that day's closing.
    pub fn add_business_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        if n == 0 {
            return start;
        }
        let today = self.local_date(start);
        let done = self.business_before(today, start);
        let (mut day, offset) = if done > TimeDelta::zero() {
            (today, done)
        } else {
            match self.step_working_day(today, false) {
                Some(prev) => (prev, self.day_length(prev)),
                None => return start,
            }
        };
        for _ in 0..n {
            match self.step_working_day(day, true) {
                Some(next) => day = next,
                None => return DateTime::<Utc>::MAX_UTC,
            }
        }
        let mut remaining = offset;
        let mut last_close = None;
        for (s, e) in self.intervals(day) {
            if e - s >= remaining {
                return s + remaining;
            }
            remaining -= e - s;
            last_close = Some(e);
        }
        last_close.unwrap_or(start)
    }

    /// `start` plus a time target, on the clock the target counts.
    pub fn add_span(&self, start: DateTime<Utc>, span: Span) -> DateTime<Utc> {
        match span {
            Span::Wall(d) => start.checked_add_signed(to_delta(d)).unwrap_or(DateTime::<Utc>::MAX_UTC),
            Span::Business(d) => self.add_business(start, d),
            Span::BusinessDays(n) => self.add_business_days(start, n),
        }
    }

    /// Time from `a` to `b` on the clock `span` counts: wall-clock for [`Span::Wall`], business time
    /// otherwise. Zero when `b` is not after `a`.
    pub fn elapsed(&self, span: Span, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        match span {
            Span::Wall(_) => (b - a).to_std().unwrap_or_default(),
            Span::Business(_) | Span::BusinessDays(_) => self.business_between(a, b),
        }
    }

    /// The local date of `t`.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        self.local(t).date_naive()
    }

    /// From the opening of the first working period of local `date` to the closing of its last, or
    /// `None` on a day without working hours.
    pub fn working_span(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let mut spans = self.intervals(date);
        let first = spans.next()?;
        let last = spans.last().unwrap_or(first);
        Some((first.0, last.1))
    }

    /// The first working day on or after `date` (`date` itself when nothing is found in
    /// [`MAX_DAYS`]).
    pub fn working_day_on_or_after(&self, date: NaiveDate) -> NaiveDate {
        if self.is_working_day(date) && self.day_length(date) > TimeDelta::zero() {
            return date;
        }
        self.step_working_day(date, true).unwrap_or(date)
    }

    /// The last working day on or before `date` (`date` itself when nothing is found).
    pub fn working_day_on_or_before(&self, date: NaiveDate) -> NaiveDate {
        if self.is_working_day(date) && self.day_length(date) > TimeDelta::zero() {
            return date;
        }
        self.step_working_day(date, false).unwrap_or(date)
    }

    /// The working intervals of a local date as UTC instants, in order (none on a holiday).
    fn intervals(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let periods: &[Period] = if self.is_holiday(date) { &[] } else { self.hours(date.weekday()) };
        periods
            .iter()
            .map(move |p| (self.instant(date, p.start, Edge::Opening), self.instant(date, p.end, Edge::Closing)))
            .filter(|(s, e)| s < e)
    }

    /// Business time of `date` before `t`.
    fn business_before(&self, date: NaiveDate, t: DateTime<Utc>) -> TimeDelta {
        self.intervals(date).map(|(s, e)| if t <= s { TimeDelta::zero() } else { e.min(t) - s }).sum()
    }

    fn day_length(&self, date: NaiveDate) -> TimeDelta {
        self.intervals(date).map(|(s, e)| e - s).sum()
    }

    /// The next (or previous) working day after (before) `date`.
    fn step_working_day(&self, mut date: NaiveDate, forward: bool) -> Option<NaiveDate> {
        for _ in 0..MAX_DAYS {
            date = if forward { date.succ_opt()? } else { date.pred_opt()? };
            if self.is_working_day(date) && self.day_length(date) > TimeDelta::zero() {
                return Some(date);
            }
        }
        None
    }

    /// The instant of local `date` + `minute` (1440 = next midnight).
    fn instant(&self, date: NaiveDate, minute: u16, edge: Edge) -> DateTime<Utc> {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        let ndt = midnight + TimeDelta::minutes(i64::from(minute));
        match self.tz.from_local_datetime(&ndt) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            // A repeated hour (daylight saving ends): an opening is its first occurrence, a
            // closing its last, so the period covers all the real time the office is open.
            LocalResult::Ambiguous(a, b) => match edge {
                Edge::Opening => a.min(b).with_timezone(&Utc),
                Edge::Closing => a.max(b).with_timezone(&Utc),
            },
            // A skipped hour (daylight saving starts): read the wall time with the offset in force
            // before the gap, which lands as far past the gap's end as the time was past its start.
            LocalResult::None => {
                let before = self.tz.from_local_datetime(&(ndt - TimeDelta::hours(12))).earliest();
                let offset = before.map_or(0, |t| t.offset().fix().local_minus_utc());
                utc(ndt - TimeDelta::seconds(i64::from(offset)))
            }
        }
    }
}

fn utc(ndt: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&ndt)
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn parse_month_day(s: &str) -> Result<(u32, u32), ConfigError> {
    let bad = || {
        invalid(
            "calendar.recurring_holidays",
            format!(
                "{s:?} is not a month and day; write it like \"12-25\" (a holiday of one year goes in calendar.holidays as \"2026-04-02\")"
            ),
        )
    };
    let (m, d) = s.trim().split_once('-').ok_or_else(bad)?;
    let (m, d): (u32, u32) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    // 2024 is a leap year, so "02-29" is accepted.
    NaiveDate::from_ymd_opt(2024, m, d).ok_or_else(bad)?;
    Ok((m, d))
}

/// Which clock a time target counts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Working hours only (config "business").
    Business,
    /// Every hour of every day (config "24x7").
    Wall,
}

impl Clock {
    /// Parses the config value "business" or "24x7".
    pub fn parse(key: &'static str, s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "business" => Ok(Self::Business),
            "24x7" => Ok(Self::Wall),
            other => Err(invalid(
                key,
                format!("{other:?} is not a clock; write \"business\" (working hours only) or \"24x7\" (every hour)"),
            )),
        }
    }
}

/// A time target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Wall-clock time, 24×7.
    Wall(Duration),
    /// Business time (working hours only).
    Business(Duration),
    /// Whole business days: the same point of the working day, that many working days later.
    BusinessDays(u32),
}

impl Span {
    /// Parses a target such as "30m", "4h", "1h 30m" or, in days, "3d". On the business clock "3d"
    /// is 3 business days (not 72 business hours), so days and hours cannot be mixed there.
    pub fn parse(key: &'static str, s: &str, clock: Clock) -> Result<Self, ConfigError> {
        let t = s.trim();
        if let Some(n) = whole_days(t) {
            if !(1..=90).contains(&n) {
                return Err(invalid(key, format!("{s:?} is out of range; use between 1 and 90 days")));
            }
            return Ok(match clock {
                Clock::Business => Self::BusinessDays(n),
                Clock::Wall => Self::Wall(Duration::from_secs(u64::from(n) * 86_400)),
            });
        }
        let d = parse_duration(key, t, Duration::from_secs(60), Duration::from_secs(90 * 86_400))?;
        match clock {
            Clock::Wall => Ok(Self::Wall(d)),
            // humantime reads "1d" as 24 h; on the business clock that would be three working days.
            Clock::Business if t.contains(['d', 'w', 'M', 'y']) => Err(invalid(
                key,
                format!(
                    "{s:?} mixes days with hours; on the business clock write whole business days like \"3d\" or hours like \"12h\""
                ),
            )),
            Clock::Business => Ok(Self::Business(d)),
        }
    }

    /// The target for people: "30 min (24×7)", "4 h hábiles", "1 día hábil".
    pub fn label(&self) -> String {
        match *self {
            Self::Wall(d) => format!("{} (24×7)", format_duration(d)),
            Self::Business(d) => format!("{} hábiles", format_duration(d)),
            Self::BusinessDays(1) => "1 día hábil".to_string(),
            Self::BusinessDays(n) => format!("{n} días hábiles"),
        }
    }
}

/// "3d", "3 days", "3 días" → 3; anything else (hours, mixed units) → None.
fn whole_days(s: &str) -> Option<u32> {
    let digits = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(digits);
    matches!(unit.trim(), "d" | "day" | "days" | "día" | "días" | "dia" | "dias").then(|| n.parse().ok()).flatten()
}

/// A duration for people, in Spanish: "45 min", "4 h 30 min", "2 d 3 h"; under a minute, "0 min".
pub fn format_duration(d: Duration) -> String {
    let mins = d.as_secs() / 60;
    let (days, hours, mins) = (mins / 1440, mins / 60 % 24, mins % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "min")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if parts.is_empty() { "0 min".to_string() } else { parts.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * H)
    }

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    /// A local wall time in the calendar's zone (unambiguous ones only), as UTC.
    fn at(cal: &Calendar, s: &str) -> DateTime<Utc> {
        let ndt = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        cal.tz().from_local_datetime(&ndt).single().unwrap().with_timezone(&Utc)
    }

    fn parse(text: &str) -> Result<Calendar, String> {
        let raw: RawCalendar = toml::from_str(text).map_err(|e| e.to_string())?;
        Calendar::from_raw(raw).map_err(|e| e.to_string())
    }

    fn split_shift() -> Calendar {
        parse(
            r#"
            recurring_holidays = []
            [hours]
            mon = ["08:00-12:00", "13:00-17:00"]
            tue = ["08:00-12:00", "13:00-17:00"]
            wed = ["08:00-12:00", "13:00-17:00"]
            thu = ["08:00-12:00", "13:00-17:00"]
            fri = ["08:00-12:00", "13:00-17:00"]
            "#,
        )
        .unwrap()
    }

    fn madrid() -> Calendar {
        parse("time_zone = \"Europe/Madrid\"\nrecurring_holidays = []").unwrap()
    }

    // 2026-11-27 is a Friday; 2026-11-30 a Monday.

    #[test]
    fn four_business_hours_from_friday_afternoon_land_on_monday_morning() {
        let cal = Calendar::default();
        assert_eq!(cal.add_business(at(&cal, "2026-11-27 15:00"), hours(4)), at(&cal, "2026-11-30 11:00"));
    }

    #[test]
    fn a_target_that_runs_out_at_closing_time_is_due_at_closing_not_at_the_next_opening() {
        let cal = Calendar::default();
        assert_eq!(cal.add_business(at(&cal, "2026-11-27 12:00"), hours(4)), at(&cal, "2026-11-27 16:00"));
    }

    #[test]
    fn time_filed_outside_hours_starts_counting_at_the_next_opening() {
        let cal = Calendar::default();
        assert_eq!(cal.add_business(at(&cal, "2026-11-28 10:00"), mins(30)), at(&cal, "2026-11-30 08:30"));
        assert_eq!(cal.add_business(at(&cal, "2026-11-26 19:00"), hours(1)), at(&cal, "2026-11-27 09:00"));
        assert_eq!(cal.add_business(at(&cal, "2026-11-26 06:00"), hours(1)), at(&cal, "2026-11-26 09:00"));
    }

    #[test]
    fn zero_business_time_is_the_start_itself_even_outside_hours() {
        let cal = Calendar::default();
        let sat = at(&cal, "2026-11-28 10:00");
        assert_eq!(cal.add_business(sat, Duration::ZERO), sat);
    }

    #[test]
    fn a_default_holiday_is_skipped_like_a_weekend() {
        let cal = Calendar::default();
        // Thursday 24 Dec 2026 15:00 + 2 h: Christmas (Fri) and the weekend are skipped.
        assert_eq!(cal.add_business(at(&cal, "2026-12-24 15:00"), hours(2)), at(&cal, "2026-12-28 09:00"));
        // 15 Sep 2026 (Tuesday) is Independence Day.
        assert!(cal.is_holiday(NaiveDate::from_ymd_opt(2026, 9, 15).unwrap()));
        assert_eq!(cal.add_business(at(&cal, "2026-09-14 15:00"), hours(2)), at(&cal, "2026-09-16 09:00"));
    }

    #[test]
    fn listed_holidays_of_one_year_are_skipped_only_that_year() {
        let cal = parse("holidays = [\"2026-04-02\", \"2026-04-03\"]").unwrap();
        // Wednesday of Holy Week 2026 15:00 + 2 h → Monday 6 April 09:00.
        assert_eq!(cal.add_business(at(&cal, "2026-04-01 15:00"), hours(2)), at(&cal, "2026-04-06 09:00"));
        assert!(cal.is_working_day(NaiveDate::from_ymd_opt(2027, 4, 2).unwrap()));
    }

    #[test]
    fn the_lunch_break_of_a_split_shift_does_not_count() {
        let cal = split_shift();
        assert_eq!(cal.add_business(at(&cal, "2026-11-26 11:00"), hours(2)), at(&cal, "2026-11-26 14:00"));
        assert_eq!(cal.add_business(at(&cal, "2026-11-26 12:30"), hours(1)), at(&cal, "2026-11-26 14:00"));
        assert_eq!(cal.business_between(at(&cal, "2026-11-26 11:00"), at(&cal, "2026-11-26 14:00")), hours(2));
        assert!(!cal.is_business_time(at(&cal, "2026-11-26 12:30")));
        assert!(cal.is_business_time(at(&cal, "2026-11-26 13:00")));
    }

    #[test]
    fn a_morning_target_that_ends_at_lunch_is_due_at_noon() {
        let cal = split_shift();
        assert_eq!(cal.add_business(at(&cal, "2026-11-26 10:00"), hours(2)), at(&cal, "2026-11-26 12:00"));
    }

    #[test]
    fn business_time_between_spans_weekends_and_ignores_reversed_ranges() {
        let cal = Calendar::default();
        let fri = at(&cal, "2026-11-27 15:00");
        let mon = at(&cal, "2026-11-30 11:00");
        assert_eq!(cal.business_between(fri, mon), hours(4));
        assert_eq!(cal.business_between(mon, fri), Duration::ZERO);
        assert_eq!(cal.business_between(at(&cal, "2026-11-28 01:00"), at(&cal, "2026-11-29 23:00")), Duration::ZERO);
        // A whole working week.
        assert_eq!(cal.business_between(at(&cal, "2026-11-29 00:00"), at(&cal, "2026-12-06 00:00")), hours(40));
    }

    #[test]
    fn add_and_between_agree_for_many_starts_and_durations() {
        let cal = split_shift();
        let base = at(&cal, "2026-11-20 00:00");
        for start_min in (0..7 * 24 * 60).step_by(97) {
            let start = base + TimeDelta::minutes(start_min);
            for d in [mins(1), mins(45), hours(3), hours(8), hours(30)] {
                let end = cal.add_business(start, d);
                assert_eq!(cal.business_between(start, end), d, "start {start} + {d:?}");
                assert!(cal.business_between(start, end - TimeDelta::minutes(1)) < d, "earliest: {start} {d:?}");
            }
        }
    }

    #[test]
    fn business_time_is_inside_hours_on_working_days_only() {
        let cal = Calendar::default();
        assert!(cal.is_business_time(at(&cal, "2026-11-27 08:00")));
        assert!(cal.is_business_time(at(&cal, "2026-11-27 15:59")));
        assert!(!cal.is_business_time(at(&cal, "2026-11-27 16:00")));
        assert!(!cal.is_business_time(at(&cal, "2026-11-27 07:59")));
        assert!(!cal.is_business_time(at(&cal, "2026-11-28 10:00")));
        assert!(!cal.is_business_time(at(&cal, "2026-12-25 10:00")));
    }

    #[test]
    fn one_business_day_is_the_same_time_on_the_next_working_day() {
        let cal = Calendar::default();
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-26 10:30"), 1), at(&cal, "2026-11-27 10:30"));
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-27 10:30"), 1), at(&cal, "2026-11-30 10:30"));
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-26 10:30"), 5), at(&cal, "2026-12-03 10:30"));
        assert_eq!(cal.add_business_days(at(&cal, "2026-12-24 10:30"), 1), at(&cal, "2026-12-28 10:30"));
    }

    #[test]
    fn business_days_from_outside_hours_end_at_a_closing_time() {
        let cal = Calendar::default();
        let monday_close = at(&cal, "2026-11-30 16:00");
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-28 10:00"), 1), monday_close);
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-30 07:00"), 1), monday_close);
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-30 08:00"), 1), monday_close);
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-27 16:00"), 1), monday_close);
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-27 20:00"), 1), monday_close);
    }

    #[test]
    fn on_a_uniform_week_business_days_equal_whole_days_of_business_hours() {
        let cal = split_shift();
        let base = at(&cal, "2026-11-20 00:00");
        for start_min in (0..7 * 24 * 60).step_by(53) {
            let start = base + TimeDelta::minutes(start_min);
            for n in [1, 3] {
                assert_eq!(
                    cal.add_business_days(start, n),
                    cal.add_business(start, hours(8 * u64::from(n))),
                    "start {start}, {n} days"
                );
            }
        }
    }

    #[test]
    fn a_business_day_that_lands_on_a_shorter_day_is_due_at_its_closing() {
        let cal = parse("[hours]\nthu = [\"08:00-16:00\"]\nfri = [\"08:00-12:00\"]\nmon = [\"08:00-16:00\"]").unwrap();
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-26 15:00"), 1), at(&cal, "2026-11-27 12:00"));
        assert_eq!(cal.add_business_days(at(&cal, "2026-11-27 11:00"), 1), at(&cal, "2026-11-30 11:00"));
    }

    #[test]
    fn business_hours_follow_local_time_across_the_spring_daylight_saving_change() {
        // Europe/Madrid moved from UTC+1 to UTC+2 on Sunday 29 March 2026.
        let cal = madrid();
        let fri = at(&cal, "2026-03-27 15:00");
        assert_eq!(fri, Utc.with_ymd_and_hms(2026, 3, 27, 14, 0, 0).unwrap());
        let due = cal.add_business(fri, hours(4));
        assert_eq!(due, at(&cal, "2026-03-30 11:00"));
        assert_eq!(due, Utc.with_ymd_and_hms(2026, 3, 30, 9, 0, 0).unwrap());
        assert_eq!(cal.business_between(fri, due), hours(4));
        assert_eq!(cal.add_business_days(fri, 1), at(&cal, "2026-03-30 15:00"));
    }

    #[test]
    fn business_hours_follow_local_time_across_the_autumn_daylight_saving_change() {
        // Europe/Madrid moved from UTC+2 to UTC+1 on Sunday 25 October 2026.
        let cal = madrid();
        let fri = at(&cal, "2026-10-23 15:00");
        let due = cal.add_business(fri, hours(4));
        assert_eq!(due, at(&cal, "2026-10-26 11:00"));
        assert_eq!(due, Utc.with_ymd_and_hms(2026, 10, 26, 10, 0, 0).unwrap());
        assert_eq!(cal.format_local(due), "lun 26/10/2026 11:00");
    }

    #[test]
    fn a_period_over_a_skipped_hour_counts_only_the_real_time_and_a_repeated_hour_counts_twice() {
        let weekend_shift = "time_zone = \"Europe/Madrid\"\nrecurring_holidays = []\n[hours]\nsun = [\"01:00-04:00\"]";
        let cal = parse(weekend_shift).unwrap();
        let day_start = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap() - TimeDelta::hours(3);
        let day_end = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 6, 0, 0).unwrap();
        // 29 March 2026: 02:00 → 03:00, the shift lasts 2 real hours.
        assert_eq!(cal.business_between(day_start(2026, 3, 29), day_end(2026, 3, 29)), hours(2));
        // 25 October 2026: 03:00 → 02:00, the shift lasts 4 real hours.
        assert_eq!(cal.business_between(day_start(2026, 10, 25), day_end(2026, 10, 25)), hours(4));
        // An ordinary Sunday: 3 hours.
        assert_eq!(cal.business_between(day_start(2026, 11, 1), day_end(2026, 11, 1)), hours(3));
    }

    #[test]
    fn a_period_edge_inside_a_skipped_hour_moves_forward_with_the_clocks() {
        let cal =
            parse("time_zone = \"America/Mexico_City\"\nrecurring_holidays = []\n[hours]\nsun = [\"02:30-05:00\"]")
                .unwrap();
        // Mexico City sprang forward at 02:00 on 2 April 2017 (last year it had daylight saving):
        // 02:30 does not exist and reads as 03:30 CDT = 08:30 UTC.
        let opening = Utc.with_ymd_and_hms(2017, 4, 2, 8, 30, 0).unwrap();
        assert!(!cal.is_business_time(opening - TimeDelta::minutes(1)));
        assert!(cal.is_business_time(opening));
        assert_eq!(cal.add_business(opening - TimeDelta::hours(5), mins(90)), opening + TimeDelta::minutes(90));
    }

    #[test]
    fn people_see_local_time_in_spanish() {
        let cal = Calendar::default();
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 21, 4, 0).unwrap();
        assert_eq!(cal.local(t).to_rfc3339(), "2026-11-27T15:04:00-06:00");
        assert_eq!(cal.format_local(t), "vie 27/11/2026 15:04");
        assert_eq!(cal.format_local(t + TimeDelta::days(1)), "sáb 28/11/2026 15:04");
        assert_eq!(cal.format_local(t + TimeDelta::days(5)), "mié 02/12/2026 15:04");
    }

    #[test]
    fn the_default_calendar_is_a_salvadoran_public_office() {
        let cal = parse("").unwrap();
        assert_eq!(cal, Calendar::default());
        assert_eq!(cal.tz().name(), DEFAULT_TIME_ZONE);
        assert_eq!(cal.hours(Weekday::Mon), [Period { start: 480, end: 960 }]);
        assert!(cal.hours(Weekday::Sat).is_empty() && cal.hours(Weekday::Sun).is_empty());
        for (m, d) in DEFAULT_RECURRING_HOLIDAYS {
            assert!(cal.is_holiday(NaiveDate::from_ymd_opt(2031, m, d).unwrap()), "{m}-{d}");
        }
    }

    #[test]
    fn a_full_calendar_section_parses() {
        let cal = parse(
            r#"
            time_zone = "America/Guatemala"
            holidays = ["2026-04-02", "2026-04-03"]
            recurring_holidays = ["12-25", "02-29"]
            [hours]
            mon = ["13:00-17:00", "08:00-12:00"]
            sat = ["08:00-12:00"]
            sun = ["00:00-24:00"]
            "#,
        )
        .unwrap();
        assert_eq!(cal.tz(), chrono_tz::America::Guatemala);
        assert_eq!(cal.hours(Weekday::Mon), [Period { start: 480, end: 720 }, Period { start: 780, end: 1020 }]);
        assert!(cal.hours(Weekday::Tue).is_empty());
        assert_eq!(cal.hours(Weekday::Sun), [Period { start: 0, end: 1440 }]);
        assert!(!cal.is_holiday(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()));
        assert!(cal.is_holiday(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()));
        // Sunday works until midnight, then Monday from 08:00.
        assert_eq!(cal.add_business(at(&cal, "2026-11-29 23:00"), hours(2)), at(&cal, "2026-11-30 09:00"));
    }

    #[test]
    fn calendar_errors_name_the_key_and_the_fix() {
        for (text, needle) in [
            ("time_zone = \"Centroamérica\"", "`calendar.time_zone`: \"Centroamérica\" is not an IANA time zone"),
            ("[hours]\nmon = [\"8-16\"]", "`calendar.hours.mon`: \"8-16\" is not a working period; write it like"),
            ("[hours]\ntue = [\"08:00-16:60\"]", "`calendar.hours.tue`"),
            ("[hours]\nwed = [\"16:00-08:00\"]", "night shifts are not supported"),
            ("[hours]\nthu = [\"08:00-13:00\", \"12:00-16:00\"]", "`calendar.hours.thu`: has overlapping periods"),
            ("[hours]\nsat = []", "`calendar.hours`: has no working period on any day"),
            ("[hours]\nmonday = [\"08:00-16:00\"]", "unknown field `monday`"),
            ("holidays = [\"2026-02-30\"]", "`calendar.holidays`: \"2026-02-30\" is not a date"),
            ("recurring_holidays = [\"25-12\"]", "`calendar.recurring_holidays`: \"25-12\" is not a month and day"),
            ("zona = \"x\"", "unknown field `zona`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn spans_parse_on_the_clock_they_count() {
        let p = |s, c| Span::parse("k", s, c);
        assert_eq!(p("30m", Clock::Wall).unwrap(), Span::Wall(mins(30)));
        assert_eq!(p("4h", Clock::Business).unwrap(), Span::Business(hours(4)));
        assert_eq!(p("1h 30m", Clock::Business).unwrap(), Span::Business(mins(90)));
        assert_eq!(p("3d", Clock::Business).unwrap(), Span::BusinessDays(3));
        assert_eq!(p("1 día", Clock::Business).unwrap(), Span::BusinessDays(1));
        assert_eq!(p("2d", Clock::Wall).unwrap(), Span::Wall(hours(48)));
        for (s, needle) in [
            ("1d 4h", "mixes days with hours"),
            ("2 weeks", "mixes days with hours"),
            ("0d", "between 1 and 90 days"),
            ("10s", "out of range"),
            ("pronto", "is not a duration"),
        ] {
            let e = p(s, Clock::Business).unwrap_err().to_string();
            assert!(e.contains("`k`") && e.contains(needle), "{s}: {e}");
        }
        assert!(Clock::parse("k", "habil").unwrap_err().to_string().contains("\"business\""));
    }

    #[test]
    fn spans_read_well_in_spanish() {
        assert_eq!(Span::Wall(mins(30)).label(), "30 min (24×7)");
        assert_eq!(Span::Business(mins(270)).label(), "4 h 30 min hábiles");
        assert_eq!(Span::BusinessDays(1).label(), "1 día hábil");
        assert_eq!(Span::BusinessDays(5).label(), "5 días hábiles");
        assert_eq!(format_duration(Duration::from_secs(2 * 86_400 + 3 * H + 59)), "2 d 3 h");
        assert_eq!(format_duration(Duration::from_secs(20)), "0 min");
    }

    #[test]
    fn wall_spans_ignore_the_calendar_and_business_spans_use_it() {
        let cal = Calendar::default();
        let fri = at(&cal, "2026-11-27 15:00");
        assert_eq!(cal.add_span(fri, Span::Wall(hours(4))), at(&cal, "2026-11-27 19:00"));
        assert_eq!(cal.add_span(fri, Span::Business(hours(4))), at(&cal, "2026-11-30 11:00"));
        assert_eq!(cal.add_span(fri, Span::BusinessDays(1)), at(&cal, "2026-11-30 15:00"));
        let mon = at(&cal, "2026-11-30 09:00");
        assert_eq!(cal.elapsed(Span::Wall(hours(1)), fri, mon), hours(66));
        assert_eq!(cal.elapsed(Span::BusinessDays(1), fri, mon), hours(2));
    }
}
