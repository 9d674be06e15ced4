//! The organisation: dependencias (ministry departments) → centros telefónicos (call centers) →
//! servers (agents). Edited by `admin`; read by everyone to scope what a `jefe_centro` sees and to
//! group the fleet.
//!
//! Invariants: names are unique and non-empty; every change is audited in its transaction; a
//! server is placed in at most one call center (`servers.center_id`).

use crate::audit::{self, Entry};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependencia {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Center {
    pub id: i64,
    pub name: String,
    pub dependencia_id: i64,
    pub dependencia: String,
    /// Agent ids of the servers placed in it.
    pub servers: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("el nombre no puede estar vacío")]
    EmptyName,
    #[error("ya existe «{0}»")]
    Exists(String),
    #[error("no existe {0}")]
    Missing(String),
    #[error("base de datos: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn clean(name: &str) -> Result<String, OrgError> {
    let n = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if n.is_empty() { Err(OrgError::EmptyName) } else { Ok(n) }
}

fn audit(
    conn: &Connection,
    actor: &str,
    now: i64,
    action: &str,
    object: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> rusqlite::Result<()> {
    audit::append(conn, now, &Entry { actor, action, object, old, new }).map(|_| ())
}

pub fn dependencias(conn: &Connection) -> rusqlite::Result<Vec<Dependencia>> {
    conn.prepare_cached("SELECT id, name FROM dependencias ORDER BY name")?
        .query_map([], |r| Ok(Dependencia { id: r.get(0)?, name: r.get(1)? }))?
        .collect()
}

pub fn centers(conn: &Connection) -> rusqlite::Result<Vec<Center>> {
    let mut out: Vec<Center> = conn
        .prepare_cached(
            "SELECT c.id, c.name, d.id, d.name FROM centers c JOIN dependencias d ON d.id = c.dependencia_id
             ORDER BY d.name, c.name",
        )?
        .query_map([], |r| {
            Ok(Center {
                id: r.get(0)?,
                name: r.get(1)?,
                dependencia_id: r.get(2)?,
                dependencia: r.get(3)?,
                servers: vec![],
            })
        })?
        .collect::<Result<_, _>>()?;
    for c in &mut out {
        c.servers = conn
            .prepare_cached("SELECT agent_id FROM servers WHERE center_id = ?1 ORDER BY agent_id")?
            .query_map([c.id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
    }
    Ok(out)
}

pub fn center(conn: &Connection, id: i64) -> rusqlite::Result<Option<Center>> {
    Ok(centers(conn)?.into_iter().find(|c| c.id == id))
}

/// The call center a server is placed in.
pub fn center_of_server(conn: &Connection, agent_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT center_id FROM servers WHERE agent_id = ?1")?
        .query_row([agent_id], |r| r.get::<_, Option<i64>>(0))
        .optional()
        .map(Option::flatten)
}

pub fn create_dependencia(conn: &Connection, actor: &str, now: i64, name: &str) -> Result<i64, OrgError> {
    let name = clean(name)?;
    let exists: bool = conn.query_row("SELECT count(*) FROM dependencias WHERE name = ?1", [&name], |r| r.get(0))?;
    if exists {
        return Err(OrgError::Exists(name));
    }
    conn.execute("INSERT INTO dependencias (name) VALUES (?1)", [&name])?;
    let id = conn.last_insert_rowid();
    audit(conn, actor, now, "dependencia.create", &format!("dependencia:{id}"), None, Some(&name))?;
    Ok(id)
}

pub fn create_center(
    conn: &Connection,
    actor: &str,
    now: i64,
    dependencia_id: i64,
    name: &str,
) -> Result<i64, OrgError> {
    let name = clean(name)?;
    let dep: Option<String> =
        conn.query_row("SELECT name FROM dependencias WHERE id = ?1", [dependencia_id], |r| r.get(0)).optional()?;
    let Some(dep) = dep else { return Err(OrgError::Missing(format!("la dependencia {dependencia_id}"))) };
    let exists: bool = conn.query_row("SELECT count(*) FROM centers WHERE name = ?1", [&name], |r| r.get(0))?;
    if exists {
        return Err(OrgError::Exists(name));
    }
    conn.execute("INSERT INTO centers (dependencia_id, name) VALUES (?1, ?2)", params![dependencia_id, name])?;
    let id = conn.last_insert_rowid();
    let new = format!("{name} ({dep})");
    audit(conn, actor, now, "center.create", &format!("center:{id}"), None, Some(&new))?;
    Ok(id)
}

/// Places a server in a call center (`None`: takes it out).
pub fn place_server(
    conn: &Connection,
    actor: &str,
    now: i64,
    agent_id: &str,
    center: Option<i64>,
) -> Result<(), OrgError> {
    let old: Option<Option<i64>> =
        conn.query_row("SELECT center_id FROM servers WHERE agent_id = ?1", [agent_id], |r| r.get(0)).optional()?;
    let Some(old) = old else { return Err(OrgError::Missing(format!("el servidor «{agent_id}»"))) };
    if let Some(c) = center {
        let exists: bool = conn.query_row("SELECT count(*) FROM centers WHERE id = ?1", [c], |r| r.get(0))?;
        if !exists {
            return Err(OrgError::Missing(format!("el centro telefónico {c}")));
        }
    }
    if old == center {
        return Ok(());
    }
    conn.execute("UPDATE servers SET center_id = ?2 WHERE agent_id = ?1", params![agent_id, center])?;
    let show = |c: Option<i64>| c.map_or("(sin centro)".to_string(), |c| format!("center:{c}"));
    audit(conn, actor, now, "server.place", &format!("server:{agent_id}"), Some(&show(old)), Some(&show(center)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_placed_in_a_center_of_a_dependencia_and_every_step_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        conn.execute("INSERT INTO servers (agent_id, first_seen, status_since) VALUES ('pbx-rentas-01', 0, 0)", [])
            .unwrap();
        let d = create_dependencia(&conn, "admin", 1, "  Dirección General de   Impuestos Internos ").unwrap();
        assert!(matches!(
            create_dependencia(&conn, "admin", 1, "Dirección General de Impuestos Internos"),
            Err(OrgError::Exists(_))
        ));
        let c = create_center(&conn, "admin", 2, d, "Centro de Llamadas DGII").unwrap();
        assert!(matches!(create_center(&conn, "admin", 2, 99, "Otro"), Err(OrgError::Missing(_))));
        assert!(matches!(create_center(&conn, "admin", 2, d, "   "), Err(OrgError::EmptyName)));
        place_server(&conn, "admin", 3, "pbx-rentas-01", Some(c)).unwrap();
        assert_eq!(center_of_server(&conn, "pbx-rentas-01").unwrap(), Some(c));
        let all = centers(&conn).unwrap();
        assert_eq!(all[0].dependencia, "Dirección General de Impuestos Internos");
        assert_eq!(all[0].servers, vec!["pbx-rentas-01"]);
        assert!(matches!(place_server(&conn, "admin", 4, "no-existe", Some(c)), Err(OrgError::Missing(_))));
        assert_eq!(crate::audit::verify(&conn), Ok(3));
    }
}
