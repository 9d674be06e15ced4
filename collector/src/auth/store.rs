//! SQL for people and access: users and their call centers, sessions, API tokens, and the
//! organisation they are scoped by (dependencias → centros telefónicos → servers).
//!
//! Invariants: every function that changes something takes the caller's transaction and writes
//! its audit row there ([`crate::audit::append`]); secrets (passwords, tokens) are never in an
//! audit row, a log line or an error.

use super::{Role, User, password, random_token, token_hash};
use crate::audit::{self, Entry};
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("ya existe un usuario «{0}»")]
    UserExists(String),
    #[error("no existe el usuario «{0}»")]
    NoSuchUser(String),
    #[error("el nombre de usuario {0:?} no es válido: use letras, dígitos, punto, guion o guion bajo (hasta 64)")]
    BadUsername(String),
    #[error("el centro telefónico {0} no existe")]
    NoSuchCenter(i64),
    #[error("{0}")]
    Password(#[from] password::PasswordError),
    #[error("no hay fuente de números aleatorios: {0}")]
    Random(String),
    #[error("base de datos: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn centers_of(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached("SELECT center_id FROM user_centers WHERE user_id = ?1 ORDER BY center_id")?
        .query_map([user_id], |r| r.get(0))?
        .collect()
}

const USER_COLUMNS: &str = "id, username, full_name, email, role, must_change, password_hash, active";

/// A user row with its stored hash and whether it is active.
fn user_row(conn: &Connection, r: &rusqlite::Row) -> rusqlite::Result<(User, String, bool)> {
    let id: i64 = r.get(0)?;
    let role: String = r.get(4)?;
    let user = User {
        id,
        username: r.get(1)?,
        full_name: r.get(2)?,
        email: r.get(3)?,
        // The CHECK constraint keeps other values out.
        role: Role::parse(&role).unwrap_or(Role::Director),
        centers: centers_of(conn, id)?,
        must_change: r.get::<_, i64>(5)? != 0,
    };
    Ok((user, r.get(6)?, r.get::<_, i64>(7)? != 0))
}

/// The user with this name (any case), its password hash and whether it is active.
pub fn find_user(conn: &Connection, username: &str) -> rusqlite::Result<Option<(User, String, bool)>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))?
        .query_row([username], |r| user_row(conn, r))
        .optional()
}

pub fn user_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1 AND active = 1"))?
        .query_row([id], |r| user_row(conn, r).map(|u| u.0))
        .optional()
}

/// Every user, active or not, by name.
pub fn list_users(conn: &Connection) -> rusqlite::Result<Vec<(User, bool)>> {
    let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"))?;
    stmt.query_map([], |r| user_row(conn, r).map(|(u, _, active)| (u, active)))?.collect()
}

pub fn count_users(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))
}

/// A new user with a one-time password, which is returned (shown once) and must be changed at the
/// first login.
pub fn create_user(
    conn: &Connection,
    actor: &str,
    now_ms: i64,
    username: &str,
    role: Role,
    full_name: &str,
    centers: &[i64],
) -> Result<(User, String), AuthError> {
    if !valid_username(username) {
        return Err(AuthError::BadUsername(username.to_string()));
    }
    if find_user(conn, username)?.is_some() {
        return Err(AuthError::UserExists(username.to_string()));
    }
    for c in centers {
        let exists: bool = conn.query_row("SELECT count(*) FROM centers WHERE id = ?1", [c], |r| r.get(0))?;
        if !exists {
            return Err(AuthError::NoSuchCenter(*c));
        }
    }
    let otp = password::one_time()?;
    let hash = password::hash(&otp)?;
    conn.execute(
        "INSERT INTO users (username, full_name, role, password_hash, must_change, created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)",
        params![username, full_name, role.as_str(), hash, now_ms],
    )?;
    let id = conn.last_insert_rowid();
    for c in centers {
        conn.execute("INSERT INTO user_centers (user_id, center_id) VALUES (?1, ?2)", params![id, c])?;
    }
    let new =
        serde_json::json!({ "username": username, "role": role.as_str(), "full_name": full_name, "centers": centers });
    audit::append(
        conn,
        now_ms,
        &Entry {
            actor,
            action: "user.create",
            object: &format!("user:{username}"),
            old: None,
            new: Some(&new.to_string()),
        },
    )?;
    let user = user_by_id(conn, id)?.ok_or_else(|| AuthError::NoSuchUser(username.to_string()))?;
    Ok((user, otp))
}

/// Sets a password hash. `must_change`: a password set by someone else (a reset) must be changed
/// by its owner at the next login. Ends the user's other sessions.
pub fn set_password(
    conn: &Connection,
    actor: &str,
    now_ms: i64,
    user: &User,
    hash: &str,
    must_change: bool,
) -> Result<(), AuthError> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, must_change = ?3 WHERE id = ?1",
        params![user.id, hash, must_change as i64],
    )?;
    let what = if must_change { "contraseña de un solo uso asignada" } else { "contraseña cambiada por su titular" };
    audit::append(
        conn,
        now_ms,
        &Entry {
            actor,
            action: "user.password",
            object: &format!("user:{}", user.username),
            old: None,
            new: Some(what),
        },
    )?;
    Ok(())
}

/// Deactivates (or reactivates) a user: a deactivated user cannot log in, their sessions end and
/// their API tokens stop working; their name stays on the tickets and in the audit log.
pub fn set_active(conn: &Connection, actor: &str, now_ms: i64, username: &str, active: bool) -> Result<(), AuthError> {
    let (user, _, was) = find_user(conn, username)?.ok_or_else(|| AuthError::NoSuchUser(username.to_string()))?;
    if was == active {
        return Ok(());
    }
    conn.execute("UPDATE users SET active = ?2 WHERE id = ?1", params![user.id, active as i64])?;
    if !active {
        delete_other_sessions(conn, user.id, None)?;
    }
    let (old, new) = if active { ("desactivado", "activo") } else { ("activo", "desactivado") };
    audit::append(
        conn,
        now_ms,
        &Entry {
            actor,
            action: "user.active",
            object: &format!("user:{}", user.username),
            old: Some(old),
            new: Some(new),
        },
    )?;
    Ok(())
}

/// Changes a user's role and call centers (a jefe_centro's scope); their sessions end so the
/// new rights apply at once.
pub fn set_role(
    conn: &Connection,
    actor: &str,
    now_ms: i64,
    username: &str,
    role: Role,
    centers: &[i64],
) -> Result<(), AuthError> {
    let (user, _, _) = find_user(conn, username)?.ok_or_else(|| AuthError::NoSuchUser(username.to_string()))?;
    for c in centers {
        let exists: bool = conn.query_row("SELECT count(*) FROM centers WHERE id = ?1", [c], |r| r.get(0))?;
        if !exists {
            return Err(AuthError::NoSuchCenter(*c));
        }
    }
    conn.execute("UPDATE users SET role = ?2 WHERE id = ?1", params![user.id, role.as_str()])?;
    conn.execute("DELETE FROM user_centers WHERE user_id = ?1", [user.id])?;
    for c in centers {
        conn.execute("INSERT INTO user_centers (user_id, center_id) VALUES (?1, ?2)", params![user.id, c])?;
    }
    delete_other_sessions(conn, user.id, None)?;
    let old = serde_json::json!({ "role": user.role.as_str(), "centers": user.centers });
    let new = serde_json::json!({ "role": role.as_str(), "centers": centers });
    audit::append(
        conn,
        now_ms,
        &Entry {
            actor,
            action: "user.role",
            object: &format!("user:{}", user.username),
            old: Some(&old.to_string()),
            new: Some(&new.to_string()),
        },
    )?;
    Ok(())
}

/// A new session; returns (cookie token, CSRF token).
pub fn create_session(
    conn: &Connection,
    user_id: i64,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<(String, String), AuthError> {
    let token = random_token().map_err(|e| AuthError::Random(e.to_string()))?;
    let csrf = random_token().map_err(|e| AuthError::Random(e.to_string()))?;
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf, created_at, last_seen, expires_at) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![token_hash(&token), user_id, csrf, now_ms, now_ms + ttl_ms],
    )?;
    // Expired sessions of anyone are of no use.
    conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now_ms])?;
    Ok((token, csrf))
}

/// The user and CSRF token of a live session: not past its absolute limit, not idle for longer
/// than `idle_ms`. Refreshes `last_seen` (at most once a minute, to spare writes).
pub fn session_user(
    conn: &Connection,
    token: &str,
    now_ms: i64,
    idle_ms: i64,
) -> rusqlite::Result<Option<(User, String)>> {
    let hash = token_hash(token);
    let row: Option<(i64, String, i64)> = conn
        .prepare_cached("SELECT user_id, csrf, last_seen FROM sessions WHERE token_hash = ?1 AND expires_at > ?2")?
        .query_row(params![hash, now_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((user_id, csrf, last_seen)) = row else { return Ok(None) };
    if now_ms - last_seen > idle_ms {
        return Ok(None);
    }
    if now_ms - last_seen > 60_000 {
        conn.prepare_cached("UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1")?
            .execute(params![hash, now_ms])?;
    }
    Ok(user_by_id(conn, user_id)?.map(|u| (u, csrf)))
}

pub fn delete_session(conn: &Connection, token: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash(token)])?;
    Ok(())
}

/// Ends every session of a user except `keep` (the one that made the change).
pub fn delete_other_sessions(conn: &Connection, user_id: i64, keep: Option<&str>) -> rusqlite::Result<()> {
    let keep = keep.map(token_hash).unwrap_or_default();
    conn.execute("DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2", params![user_id, keep])?;
    Ok(())
}

/// A new API token for `username`; the token is returned once and stored only as its hash.
pub fn create_token(
    conn: &Connection,
    actor: &str,
    now_ms: i64,
    username: &str,
    name: &str,
) -> Result<String, AuthError> {
    let (user, _, active) = find_user(conn, username)?.ok_or_else(|| AuthError::NoSuchUser(username.to_string()))?;
    if !active {
        return Err(AuthError::NoSuchUser(username.to_string()));
    }
    let token = format!("cnt_{}", random_token().map_err(|e| AuthError::Random(e.to_string()))?);
    conn.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![user.id, name, token_hash(&token), now_ms],
    )?;
    audit::append(
        conn,
        now_ms,
        &Entry {
            actor,
            action: "token.create",
            object: &format!("user:{}", user.username),
            old: None,
            new: Some(name),
        },
    )?;
    Ok(token)
}

/// The owner of a live (not revoked) API token.
pub fn token_user(conn: &Connection, token: &str, now_ms: i64) -> rusqlite::Result<Option<User>> {
    let hash = token_hash(token);
    let user_id: Option<i64> = conn
        .prepare_cached("SELECT user_id FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL")?
        .query_row([&hash], |r| r.get(0))
        .optional()?;
    let Some(user_id) = user_id else { return Ok(None) };
    // user_by_id returns active users only: a deactivated user's tokens stop working.
    conn.prepare_cached("UPDATE api_tokens SET last_used = ?2 WHERE token_hash = ?1")?
        .execute(params![hash, now_ms])?;
    user_by_id(conn, user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        (dir, conn)
    }

    #[test]
    fn a_new_user_gets_a_one_time_password_that_must_be_changed_and_an_audit_row() {
        let (_d, conn) = db();
        let (u, otp) = create_user(&conn, "admin", 1000, "ana.lopez", Role::Tecnico, "Ana López", &[]).unwrap();
        assert!(u.must_change);
        assert_eq!((u.role, u.display()), (Role::Tecnico, "Ana López"));
        let (_, hash, active) = find_user(&conn, "ANA.LOPEZ").unwrap().unwrap();
        assert!(active && password::verify(&otp, &hash));
        let (action, new): (String, String) =
            conn.query_row("SELECT action, new FROM audit", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!(action, "user.create");
        assert!(new.contains("tecnico") && !new.contains(&otp), "{new}");
        assert_eq!(crate::audit::verify(&conn), Ok(1));
    }

    #[test]
    fn names_are_unique_whatever_the_case_and_must_be_plain() {
        let (_d, conn) = db();
        create_user(&conn, "admin", 1, "ana", Role::Tecnico, "", &[]).unwrap();
        assert!(matches!(create_user(&conn, "admin", 2, "ANA", Role::Admin, "", &[]), Err(AuthError::UserExists(_))));
        assert!(matches!(
            create_user(&conn, "admin", 2, "ana lopez", Role::Admin, "", &[]),
            Err(AuthError::BadUsername(_))
        ));
        assert!(matches!(
            create_user(&conn, "admin", 2, "beto", Role::JefeCentro, "", &[9]),
            Err(AuthError::NoSuchCenter(9))
        ));
    }

    #[test]
    fn a_session_lives_until_idle_or_expired_and_ends_on_logout() {
        let (_d, conn) = db();
        let (u, _) = create_user(&conn, "admin", 1, "ana", Role::Tecnico, "", &[]).unwrap();
        let (token, csrf) = create_session(&conn, u.id, 0, 1_000_000).unwrap();
        let (found, found_csrf) = session_user(&conn, &token, 10, 500_000).unwrap().unwrap();
        assert_eq!((found.id, found_csrf), (u.id, csrf));
        assert!(session_user(&conn, "not-the-token", 10, 500_000).unwrap().is_none());
        assert!(session_user(&conn, &token, 600_000, 500_000).unwrap().is_none(), "idle too long");
        assert!(session_user(&conn, &token, 400_000, 500_000).unwrap().is_some(), "a request refreshes it");
        assert!(session_user(&conn, &token, 1_000_001, 500_000).unwrap().is_none(), "past the absolute limit");
        let (token, _) = create_session(&conn, u.id, 0, 1_000_000).unwrap();
        delete_session(&conn, &token).unwrap();
        assert!(session_user(&conn, &token, 10, 500_000).unwrap().is_none());
    }

    #[test]
    fn a_deactivated_user_has_no_session_and_no_token_and_a_role_change_ends_sessions() {
        let (_d, conn) = db();
        let (u, _) = create_user(&conn, "admin", 1, "ana", Role::Tecnico, "", &[]).unwrap();
        let (session, _) = create_session(&conn, u.id, 0, 1_000_000).unwrap();
        let token = create_token(&conn, "admin", 2, "ana", "x").unwrap();
        set_role(&conn, "admin", 3, "ana", Role::JefeUact, &[]).unwrap();
        assert!(session_user(&conn, &session, 10, 500_000).unwrap().is_none(), "new rights, new login");
        assert_eq!(token_user(&conn, &token, 4).unwrap().map(|u| u.role), Some(Role::JefeUact));
        let (session, _) = create_session(&conn, u.id, 0, 1_000_000).unwrap();
        set_active(&conn, "admin", 5, "ana", false).unwrap();
        assert!(session_user(&conn, &session, 10, 500_000).unwrap().is_none());
        assert!(token_user(&conn, &token, 6).unwrap().is_none());
        set_active(&conn, "admin", 7, "ana", true).unwrap();
        assert!(token_user(&conn, &token, 8).unwrap().is_some());
        assert_eq!(crate::audit::verify(&conn), Ok(5));
    }

    #[test]
    fn an_api_token_names_its_user_until_revoked_and_is_stored_hashed() {
        let (_d, conn) = db();
        create_user(&conn, "admin", 1, "mesa", Role::Tecnico, "Mesa de servicio", &[]).unwrap();
        let token = create_token(&conn, "admin", 2, "mesa", "integración mesa de servicio").unwrap();
        assert!(token.starts_with("cnt_"));
        assert_eq!(token_user(&conn, &token, 3).unwrap().map(|u| u.username), Some("mesa".into()));
        let stored: i64 = conn
            .query_row("SELECT count(*) FROM api_tokens WHERE token_hash = ?1", [token.as_bytes()], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 0, "the token itself is not stored");
        conn.execute("UPDATE api_tokens SET revoked_at = 4", []).unwrap();
        assert!(token_user(&conn, &token, 5).unwrap().is_none());
        assert!(matches!(create_token(&conn, "admin", 6, "nadie", "x"), Err(AuthError::NoSuchUser(_))));
    }
}
