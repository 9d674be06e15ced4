//! Where the next read of the CDR table starts, and when the shipper has read enough. Pure.
//!
//! Asterisk inserts a CDR row when the record is finalised (at hangup, or later with `batch=yes` in
//! `cdr.conf`), not when the call starts, and the table has no insertion counter (FreePBX's `cdr`
//! has no primary key; `sequence` restarts with Asterisk). So the cursor is the newest `calldate`
//! shipped (`high`), and every read starts `late` before it: a row inserted late, whose call
//! started up to `late` before the newest shipped row, is still found. Rows read again are
//! recognised by their identity in the ledger and not shipped twice.
//!
//! Invariants:
//! - A read starts at `high - late` (or `now - backfill` before anything was shipped) and pages
//!   forward by `calldate`; the next page starts at the last `calldate` of a full page, inclusive.
//! - `high` never moves past the database's clock plus [`FUTURE_SKEW`]: one row with a wrong date in
//!   the future must not push the window past every real row.
//! - A full page whose rows all share one second doubles the page size (up to `max_page`) instead
//!   of looping on the same rows.

use chrono::{NaiveDateTime, TimeDelta};

/// `calldate` as the databases render it (PostgreSQL may add fractions or a zone: only the first
/// 19 characters are read).
pub const CALLDATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// How far ahead of the database's clock a `calldate` may be and still move the cursor.
pub const FUTURE_SKEW: TimeDelta = TimeDelta::minutes(10);

/// Reads `YYYY-MM-DD HH:MM:SS` at the start of a text.
pub fn parse_calldate(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.get(..19)?, CALLDATE_FORMAT).ok()
}

pub fn format_calldate(t: NaiveDateTime) -> String {
    t.format(CALLDATE_FORMAT).to_string()
}

/// `n` days, for settings written in code.
pub fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

/// The shipper's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// How long after a call's start its row may still appear.
    pub late: TimeDelta,
    /// How far back the first read goes.
    pub backfill: TimeDelta,
    /// Rows per page.
    pub page: usize,
    /// The largest page (for rows that share one second).
    pub max_page: usize,
}

/// Where the first page of a poll starts.
pub fn start(high: Option<NaiveDateTime>, db_now: NaiveDateTime, plan: &Plan) -> NaiveDateTime {
    match high {
        Some(h) => h - plan.late,
        None => db_now - plan.backfill,
    }
}

/// Rows older than this are never read again, so their identities can leave the ledger.
pub fn forget_before(high: NaiveDateTime, plan: &Plan) -> NaiveDateTime {
    high - plan.late
}

/// What to do after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The page was not full: everything up to now has been read.
    Done,
    /// Read the next page.
    Page { from: NaiveDateTime, limit: usize },
}

/// After reading a page of `limit` rows from `from`: the new `high` and the next step.
/// `calldates` are the page's rows in order (`None`: a calldate that does not parse).
pub fn after_page(
    from: NaiveDateTime,
    limit: usize,
    calldates: &[Option<NaiveDateTime>],
    db_now: NaiveDateTime,
    high: Option<NaiveDateTime>,
    plan: &Plan,
) -> (Option<NaiveDateTime>, Next) {
    let ceiling = db_now + FUTURE_SKEW;
    let newest = calldates.iter().flatten().copied().filter(|t| *t <= ceiling).max();
    let high = high.max(newest);
    if calldates.len() < limit {
        return (high, Next::Done);
    }
    let last = calldates.iter().flatten().copied().max().unwrap_or(from);
    let next = if last > from {
        Next::Page { from: last, limit: plan.page }
    } else if limit < plan.max_page {
        Next::Page { from, limit: (limit * 2).min(plan.max_page) }
    } else {
        // More than `max_page` rows in one second: go on past it rather than loop for ever.
        Next::Page { from: from + TimeDelta::seconds(1), limit: plan.page }
    };
    (high, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        parse_calldate(s).unwrap()
    }

    const PLAN: Plan = Plan { late: TimeDelta::hours(4), backfill: TimeDelta::days(62), page: 3, max_page: 12 };

    #[test]
    fn the_first_read_goes_back_the_backfill_and_later_reads_start_late_before_the_newest_row() {
        let now = t("2026-11-27 10:00:00");
        assert_eq!(start(None, now, &PLAN), t("2026-09-26 10:00:00"));
        assert_eq!(start(Some(t("2026-11-27 09:59:00")), now, &PLAN), t("2026-11-27 05:59:00"));
        assert_eq!(forget_before(t("2026-11-27 09:59:00"), &PLAN), t("2026-11-27 05:59:00"));
    }

    #[test]
    fn a_short_page_ends_the_poll_and_moves_high_to_the_newest_row() {
        let now = t("2026-11-27 10:00:00");
        let rows = [Some(t("2026-11-27 09:00:00")), Some(t("2026-11-27 09:30:00"))];
        let (high, next) = after_page(t("2026-11-27 05:00:00"), 3, &rows, now, Some(t("2026-11-27 08:00:00")), &PLAN);
        assert_eq!((high, next), (Some(t("2026-11-27 09:30:00")), Next::Done));
        let (high, _) = after_page(t("2026-11-27 05:00:00"), 3, &[], now, Some(t("2026-11-27 08:00:00")), &PLAN);
        assert_eq!(high, Some(t("2026-11-27 08:00:00")), "an empty page keeps the cursor");
    }

    #[test]
    fn a_full_page_continues_from_its_last_calldate_inclusive() {
        let now = t("2026-11-27 10:00:00");
        let rows = [Some(t("2026-11-27 09:00:00")), None, Some(t("2026-11-27 09:01:00"))];
        let (_, next) = after_page(t("2026-11-27 08:00:00"), 3, &rows, now, None, &PLAN);
        assert_eq!(next, Next::Page { from: t("2026-11-27 09:01:00"), limit: 3 });
    }

    #[test]
    fn a_full_page_of_one_second_grows_the_page_then_steps_past_it() {
        let now = t("2026-11-27 10:00:00");
        let s = t("2026-11-27 09:00:00");
        let (_, next) = after_page(s, 3, &[Some(s); 3], now, None, &PLAN);
        assert_eq!(next, Next::Page { from: s, limit: 6 });
        let (_, next) = after_page(s, 12, &[Some(s); 12], now, None, &PLAN);
        assert_eq!(next, Next::Page { from: t("2026-11-27 09:00:01"), limit: 3 });
    }

    #[test]
    fn a_row_dated_in_the_future_does_not_move_the_cursor_past_real_rows() {
        let now = t("2026-11-27 10:00:00");
        let rows = [Some(t("2026-11-27 09:00:00")), Some(t("2099-01-01 00:00:00"))];
        let (high, _) = after_page(t("2026-11-27 05:00:00"), 3, &rows, now, None, &PLAN);
        assert_eq!(high, Some(t("2026-11-27 09:00:00")));
        let skewed = [Some(t("2026-11-27 10:05:00"))];
        let (high, _) = after_page(t("2026-11-27 05:00:00"), 3, &skewed, now, None, &PLAN);
        assert_eq!(high, Some(t("2026-11-27 10:05:00")), "a few minutes of clock skew is accepted");
    }

    #[test]
    fn calldates_render_with_or_without_fractions_and_zones() {
        assert_eq!(parse_calldate("2026-11-27 09:51:38"), Some(t("2026-11-27 09:51:38")));
        assert_eq!(parse_calldate("2026-11-27 09:51:38.25+00"), Some(t("2026-11-27 09:51:38")));
        assert_eq!(parse_calldate("0000-00-00 00:00:00"), None);
        assert_eq!(parse_calldate("ayer"), None);
        assert_eq!(parse_calldate("2026-11-27 09:51:3ñ"), None, "a multibyte character at the cut is not a panic");
    }
}
