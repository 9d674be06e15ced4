//! Login throttling: after [`MAX_FAILURES`] failed logins within [`WINDOW`], for one user name or
//! from one client address, further attempts are refused until the oldest of them leaves the
//! window. Failures are stored in SQLite (`login_failures`), so a restart does not reset them.
//!
//! Invariants: a refused attempt does not check the password (so it cannot be used to keep
//! guessing) and is not itself counted (so a locked user is free again after [`WINDOW`]); a
//! successful login clears the user's failures, not the address's.

use rusqlite::{Connection, params};
use std::time::Duration;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The keys an attempt counts against.
pub fn keys(username: &str, ip: &str) -> [String; 2] {
    [format!("user:{}", username.to_lowercase()), format!("ip:{ip}")]
}

/// Pure: given the failure times (ms) of one key, when attempts are allowed again (`None`: now).
pub fn locked_until(failures: &[i64], now_ms: i64) -> Option<i64> {
    let window = WINDOW.as_millis() as i64;
    let mut recent: Vec<i64> = failures.iter().copied().filter(|t| now_ms - t < window).collect();
    if recent.len() < MAX_FAILURES {
        return None;
    }
    recent.sort_unstable();
    // Free again when enough of them have aged out to be under the limit.
    Some(recent[recent.len() - MAX_FAILURES] + window)
}

/// When the attempt is allowed again, if it is locked now.
pub fn check(conn: &Connection, username: &str, ip: &str, now_ms: i64) -> rusqlite::Result<Option<i64>> {
    let since = now_ms - WINDOW.as_millis() as i64;
    let mut until = None;
    for key in keys(username, ip) {
        let times: Vec<i64> = conn
            .prepare_cached("SELECT at FROM login_failures WHERE key = ?1 AND at > ?2")?
            .query_map(params![key, since], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        until = until.max(locked_until(&times, now_ms));
    }
    Ok(until)
}

pub fn record_failure(conn: &Connection, username: &str, ip: &str, now_ms: i64) -> rusqlite::Result<()> {
    for key in keys(username, ip) {
        conn.prepare_cached("INSERT INTO login_failures (key, at) VALUES (?1, ?2)")?.execute(params![key, now_ms])?;
    }
    // Old rows are of no use.
    conn.prepare_cached("DELETE FROM login_failures WHERE at < ?1")?
        .execute([now_ms - 2 * WINDOW.as_millis() as i64])?;
    Ok(())
}

pub fn clear_user(conn: &Connection, username: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM login_failures WHERE key = ?1")?
        .execute([format!("user:{}", username.to_lowercase())])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn four_failures_do_not_lock_and_the_fifth_does_for_fifteen_minutes() {
        let f: Vec<i64> = (0..4).map(|i| i * MIN).collect();
        assert_eq!(locked_until(&f, 5 * MIN), None);
        let f: Vec<i64> = (0..5).map(|i| i * MIN).collect();
        assert_eq!(locked_until(&f, 5 * MIN), Some(15 * MIN), "free when the first failure ages out");
        assert_eq!(locked_until(&f, 15 * MIN), None);
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let f = [0, MIN, 2 * MIN, 20 * MIN, 21 * MIN];
        assert_eq!(locked_until(&f, 22 * MIN), None);
    }

    #[test]
    fn failures_are_counted_per_user_and_per_address_and_survive_in_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        for i in 0..5 {
            record_failure(&conn, "Ana", &format!("127.0.0.{i}"), i * 1000).unwrap();
        }
        assert!(check(&conn, "ana", "127.0.0.9", 6000).unwrap().is_some(), "the user is locked from any address");
        assert_eq!(check(&conn, "beto", "127.0.0.9", 6000).unwrap(), None);
        clear_user(&conn, "ANA").unwrap();
        assert_eq!(check(&conn, "ana", "127.0.0.9", 6000).unwrap(), None);
        for _ in 0..5 {
            record_failure(&conn, "x", "127.0.0.5", 7000).unwrap();
        }
        assert!(check(&conn, "someone-else", "127.0.0.5", 8000).unwrap().is_some(), "the address is locked too");
    }
}
