//! Providers and their maintenance contracts (stage 3) in SQLite: created and edited by the UACT
//! chief, read by everyone in UACT and by the plan, which turns each contract's period into visits.
//!
//! Invariants:
//! - Input is checked here ([`ContractInput::validate`], [`ProviderInput::validate`]) with a
//!   Spanish message that names the field and the fix, before anything is written.
//! - Every change is audited in the caller's transaction (`provider.create`, `provider.update`,
//!   `contract.create`, `contract.update`), with the values before and after.
//! - Editing a contract never touches visits already planned: the plan only adds what is missing.

use crate::audit::{self, Entry};
use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A contract ending within this many days is flagged.
pub const EXPIRY_WARNING_DAYS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    pub id: i64,
    pub name: String,
    pub contact: String,
    pub phone: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contract {
    pub id: i64,
    pub provider_id: i64,
    pub provider: String,
    pub number: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub period_months: u32,
    pub notes: String,
    /// The servers covered: (id, agent id).
    pub servers: Vec<(i64, String)>,
}

/// How close a contract is to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// More than [`EXPIRY_WARNING_DAYS`] left.
    Current,
    /// Ends in this many days (0: today is its last day).
    EndsIn(i64),
    /// Its last day is past.
    Ended,
}

impl Expiry {
    pub fn of(ends_on: NaiveDate, today: NaiveDate) -> Expiry {
        let left = (ends_on - today).num_days();
        if left < 0 {
            Expiry::Ended
        } else if left <= EXPIRY_WARNING_DAYS {
            Expiry::EndsIn(left)
        } else {
            Expiry::Current
        }
    }

    /// "vence en 12 días", "vence hoy", "vencido"; `None` when current.
    pub fn label(self) -> Option<String> {
        match self {
            Expiry::Current => None,
            Expiry::EndsIn(0) => Some("vence hoy".into()),
            Expiry::EndsIn(1) => Some("vence en 1 día".into()),
            Expiry::EndsIn(n) => Some(format!("vence en {n} días")),
            Expiry::Ended => Some("vencido".into()),
        }
    }
}

impl Contract {
    pub fn expiry(&self, today: NaiveDate) -> Expiry {
        Expiry::of(self.ends_on, today)
    }
}

/// Why a provider or contract is not saved.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The input is wrong; the text names the field and the fix.
    #[error("{0}")]
    Invalid(String),
    #[error("no existe {0}")]
    Missing(String),
    #[error("base de datos: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn invalid<T>(why: impl Into<String>) -> Result<T, ContractError> {
    Err(ContractError::Invalid(why.into()))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A provider as typed in the form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderInput {
    pub name: String,
    pub contact: String,
    pub phone: String,
    pub email: String,
}

impl ProviderInput {
    /// Trimmed, checked.
    pub fn validate(&self) -> Result<ProviderInput, ContractError> {
        let p = ProviderInput {
            name: one_line(&self.name),
            contact: one_line(&self.contact),
            phone: one_line(&self.phone),
            email: self.email.trim().to_string(),
        };
        if p.name.is_empty() {
            return invalid("escriba el nombre del proveedor");
        }
        if !p.email.is_empty() {
            let ok = p.email.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            }) && !p.email.contains(char::is_whitespace);
            if !ok {
                return invalid(format!(
                    "el correo «{}» no es válido; escríbalo como nombre@dominio.gob.sv, o déjelo vacío",
                    p.email
                ));
            }
        }
        Ok(p)
    }
}

/// A contract as typed in the form (dates as `YYYY-MM-DD`, period in months, server ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractInput {
    pub provider_id: Option<i64>,
    pub number: String,
    pub starts_on: String,
    pub ends_on: String,
    pub period_months: String,
    pub notes: String,
    pub servers: Vec<i64>,
}

/// A checked contract, ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidContract {
    pub provider_id: i64,
    pub number: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub period_months: u32,
    pub notes: String,
    pub servers: Vec<i64>,
}

fn parse_date(field: &str, s: &str) -> Result<NaiveDate, ContractError> {
    let s = s.trim();
    if s.is_empty() {
        return invalid(format!("indique la fecha de {field}"));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        ContractError::Invalid(format!("la fecha de {field} «{s}» no es válida; use el formato AAAA-MM-DD"))
    })
}

impl ContractInput {
    /// Checks the fields that need no database: number, dates, period, servers.
    pub fn validate(&self) -> Result<ValidContract, ContractError> {
        let Some(provider_id) = self.provider_id else { return invalid("elija el proveedor") };
        let number = one_line(&self.number);
        if number.is_empty() {
            return invalid("escriba el número del contrato");
        }
        let starts_on = parse_date("inicio", &self.starts_on)?;
        let ends_on = parse_date("fin", &self.ends_on)?;
        if ends_on < starts_on {
            return invalid(format!(
                "el contrato termina ({}) antes de empezar ({}); corrija la fecha de fin",
                ends_on.format("%d/%m/%Y"),
                starts_on.format("%d/%m/%Y")
            ));
        }
        let period = self.period_months.trim();
        let period_months = match period.parse::<u32>() {
            Ok(p @ 1..=24) => p,
            _ => {
                return invalid(format!(
                    "el periodo de mantenimiento «{period}» no es válido; indique de 1 a 24 meses entre visitas"
                ));
            }
        };
        let mut servers = self.servers.clone();
        servers.sort_unstable();
        servers.dedup();
        if servers.is_empty() {
            return invalid("marque al menos un servidor cubierto por el contrato");
        }
        Ok(ValidContract {
            provider_id,
            number,
            starts_on,
            ends_on,
            period_months,
            notes: self.notes.replace("\r\n", "\n").trim().to_string(),
            servers,
        })
    }
}

pub fn providers(conn: &Connection) -> rusqlite::Result<Vec<Provider>> {
    conn.prepare_cached("SELECT id, name, contact, phone, email FROM providers ORDER BY name")?
        .query_map([], provider_row)?
        .collect()
}

fn provider_row(r: &rusqlite::Row) -> rusqlite::Result<Provider> {
    Ok(Provider { id: r.get(0)?, name: r.get(1)?, contact: r.get(2)?, phone: r.get(3)?, email: r.get(4)? })
}

pub fn provider(conn: &Connection, id: i64) -> rusqlite::Result<Option<Provider>> {
    conn.prepare_cached("SELECT id, name, contact, phone, email FROM providers WHERE id = ?1")?
        .query_row([id], provider_row)
        .optional()
}

/// The provider of a contract.
pub fn provider_of_contract(conn: &Connection, contract_id: i64) -> rusqlite::Result<Option<Provider>> {
    conn.prepare_cached(
        "SELECT p.id, p.name, p.contact, p.phone, p.email FROM providers p
         JOIN contracts c ON c.provider_id = p.id WHERE c.id = ?1",
    )?
    .query_row([contract_id], provider_row)
    .optional()
}

fn provider_json(p: &ProviderInput) -> String {
    serde_json::json!({ "name": p.name, "contact": p.contact, "phone": p.phone, "email": p.email }).to_string()
}

fn name_taken(conn: &Connection, name: &str, except: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT count(*) FROM providers WHERE name = ?1 COLLATE NOCASE AND id != ?2")?
        .query_row(params![name, except], |r| r.get(0))
}

pub fn create_provider(conn: &Connection, actor: &str, now: i64, input: &ProviderInput) -> Result<i64, ContractError> {
    let p = input.validate()?;
    if name_taken(conn, &p.name, 0)? {
        return invalid(format!("ya existe el proveedor «{}»; edítelo en lugar de crear otro", p.name));
    }
    conn.execute(
        "INSERT INTO providers (name, contact, phone, email, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![p.name, p.contact, p.phone, p.email, now],
    )?;
    let id = conn.last_insert_rowid();
    audit::append(
        conn,
        now,
        &Entry {
            actor,
            action: "provider.create",
            object: &format!("provider:{id}"),
            old: None,
            new: Some(&provider_json(&p)),
        },
    )?;
    Ok(id)
}

pub fn update_provider(
    conn: &Connection,
    actor: &str,
    now: i64,
    id: i64,
    input: &ProviderInput,
) -> Result<(), ContractError> {
    let Some(old) = provider(conn, id)? else { return Err(ContractError::Missing(format!("el proveedor {id}"))) };
    let p = input.validate()?;
    if name_taken(conn, &p.name, id)? {
        return invalid(format!("ya existe otro proveedor llamado «{}»; elija otro nombre", p.name));
    }
    conn.execute(
        "UPDATE providers SET name = ?2, contact = ?3, phone = ?4, email = ?5 WHERE id = ?1",
        params![id, p.name, p.contact, p.phone, p.email],
    )?;
    let before = ProviderInput { name: old.name, contact: old.contact, phone: old.phone, email: old.email };
    audit::append(
        conn,
        now,
        &Entry {
            actor,
            action: "provider.update",
            object: &format!("provider:{id}"),
            old: Some(&provider_json(&before)),
            new: Some(&provider_json(&p)),
        },
    )?;
    Ok(())
}

fn date(s: String) -> rusqlite::Result<NaiveDate> {
    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

const CONTRACT_SELECT: &str =
    "SELECT c.id, c.provider_id, p.name, c.number, c.starts_on, c.ends_on, c.period_months, c.notes
    FROM contracts c JOIN providers p ON p.id = c.provider_id";

fn contract_row(r: &rusqlite::Row) -> rusqlite::Result<Contract> {
    Ok(Contract {
        id: r.get(0)?,
        provider_id: r.get(1)?,
        provider: r.get(2)?,
        number: r.get(3)?,
        starts_on: date(r.get(4)?)?,
        ends_on: date(r.get(5)?)?,
        period_months: r.get(6)?,
        notes: r.get(7)?,
        servers: Vec::new(),
    })
}

fn with_servers(conn: &Connection, mut c: Contract) -> rusqlite::Result<Contract> {
    c.servers = conn
        .prepare_cached(
            "SELECT s.id, s.agent_id FROM contract_servers cs JOIN servers s ON s.id = cs.server_id
             WHERE cs.contract_id = ?1 ORDER BY s.agent_id",
        )?
        .query_map([c.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(c)
}

/// Every contract with its servers, by provider, then end date.
pub fn contracts(conn: &Connection) -> rusqlite::Result<Vec<Contract>> {
    let list: Vec<Contract> = conn
        .prepare_cached(&format!("{CONTRACT_SELECT} ORDER BY p.name, c.ends_on, c.number"))?
        .query_map([], contract_row)?
        .collect::<rusqlite::Result<_>>()?;
    list.into_iter().map(|c| with_servers(conn, c)).collect()
}

pub fn contract(conn: &Connection, id: i64) -> rusqlite::Result<Option<Contract>> {
    let c =
        conn.prepare_cached(&format!("{CONTRACT_SELECT} WHERE c.id = ?1"))?.query_row([id], contract_row).optional()?;
    c.map(|c| with_servers(conn, c)).transpose()
}

fn contract_json(c: &ValidContract) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

/// Checks what needs the database: the provider and the servers exist, the number is free.
fn check_refs(conn: &Connection, c: &ValidContract, except: i64) -> Result<(), ContractError> {
    if provider(conn, c.provider_id)?.is_none() {
        return invalid("el proveedor elegido no existe; elija uno de la lista");
    }
    for s in &c.servers {
        let known: bool = conn.query_row("SELECT count(*) FROM servers WHERE id = ?1", [s], |r| r.get(0))?;
        if !known {
            return invalid(format!("el servidor {s} no existe; marque servidores de la lista"));
        }
    }
    let taken: bool = conn
        .prepare_cached("SELECT count(*) FROM contracts WHERE number = ?1 AND id != ?2")?
        .query_row(params![c.number, except], |r| r.get(0))?;
    if taken {
        return invalid(format!(
            "ya existe un contrato con el número «{}»; use otro número o edite ese contrato",
            c.number
        ));
    }
    Ok(())
}

fn set_servers(conn: &Connection, id: i64, servers: &[i64]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM contract_servers WHERE contract_id = ?1", [id])?;
    for s in servers {
        conn.execute("INSERT INTO contract_servers (contract_id, server_id) VALUES (?1, ?2)", params![id, s])?;
    }
    Ok(())
}

pub fn create_contract(conn: &Connection, actor: &str, now: i64, input: &ContractInput) -> Result<i64, ContractError> {
    let c = input.validate()?;
    check_refs(conn, &c, 0)?;
    conn.execute(
        "INSERT INTO contracts (provider_id, number, starts_on, ends_on, period_months, notes, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![c.provider_id, c.number, c.starts_on.to_string(), c.ends_on.to_string(), c.period_months, c.notes, now],
    )?;
    let id = conn.last_insert_rowid();
    set_servers(conn, id, &c.servers)?;
    audit::append(
        conn,
        now,
        &Entry {
            actor,
            action: "contract.create",
            object: &format!("contract:{id}"),
            old: None,
            new: Some(&contract_json(&c)),
        },
    )?;
    Ok(id)
}

pub fn update_contract(
    conn: &Connection,
    actor: &str,
    now: i64,
    id: i64,
    input: &ContractInput,
) -> Result<(), ContractError> {
    let Some(old) = contract(conn, id)? else { return Err(ContractError::Missing(format!("el contrato {id}"))) };
    let c = input.validate()?;
    check_refs(conn, &c, id)?;
    conn.execute(
        "UPDATE contracts SET provider_id = ?2, number = ?3, starts_on = ?4, ends_on = ?5, period_months = ?6, notes = ?7
         WHERE id = ?1",
        params![id, c.provider_id, c.number, c.starts_on.to_string(), c.ends_on.to_string(), c.period_months, c.notes],
    )?;
    set_servers(conn, id, &c.servers)?;
    let before = ValidContract {
        provider_id: old.provider_id,
        number: old.number,
        starts_on: old.starts_on,
        ends_on: old.ends_on,
        period_months: old.period_months,
        notes: old.notes,
        servers: old.servers.iter().map(|s| s.0).collect(),
    };
    audit::append(
        conn,
        now,
        &Entry {
            actor,
            action: "contract.update",
            object: &format!("contract:{id}"),
            old: Some(&contract_json(&before)),
            new: Some(&contract_json(&c)),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        std::mem::forget(dir);
        for agent in ["pbx-renta", "pbx-aduanas"] {
            conn.execute("INSERT INTO servers (agent_id, first_seen, status_since) VALUES (?1, 0, 0)", [agent])
                .unwrap();
        }
        conn
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn input(provider: i64, number: &str, ends: &str) -> ContractInput {
        ContractInput {
            provider_id: Some(provider),
            number: number.into(),
            starts_on: "2026-01-01".into(),
            ends_on: ends.into(),
            period_months: "3".into(),
            notes: "Incluye repuestos".into(),
            servers: vec![2, 1, 2],
        }
    }

    fn provider_input(name: &str) -> ProviderInput {
        ProviderInput {
            name: name.into(),
            contact: "Carlos Méndez".into(),
            phone: "2222-0000".into(),
            email: "soporte@servtec.com.sv".into(),
        }
    }

    #[test]
    fn a_contract_ending_within_60_days_is_flagged_and_an_ended_one_says_vencido() {
        let conn = db();
        let p = create_provider(&conn, "jefe", 1, &provider_input("Servicios Técnicos SA")).unwrap();
        let soon = create_contract(&conn, "jefe", 1, &input(p, "MH-2026-014", "2027-01-15")).unwrap();
        let later = create_contract(&conn, "jefe", 1, &input(p, "MH-2026-015", "2027-06-30")).unwrap();
        let today = d("2026-11-27");
        let all = contracts(&conn).unwrap();
        let by_id = |id: i64| all.iter().find(|c| c.id == id).unwrap();
        assert_eq!(by_id(soon).expiry(today), Expiry::EndsIn(49));
        assert_eq!(by_id(soon).expiry(today).label().as_deref(), Some("vence en 49 días"));
        assert_eq!(by_id(later).expiry(today).label(), None);
        assert_eq!(by_id(soon).expiry(d("2027-01-15")).label().as_deref(), Some("vence hoy"));
        assert_eq!(by_id(soon).expiry(d("2027-01-16")).label().as_deref(), Some("vencido"));
        assert_eq!(Expiry::of(d("2027-01-26"), today), Expiry::EndsIn(60), "60 days is still flagged");
        assert_eq!(Expiry::of(d("2027-01-27"), today), Expiry::Current);
        assert_eq!(by_id(soon).servers, vec![(2, "pbx-aduanas".to_string()), (1, "pbx-renta".to_string())]);
    }

    #[test]
    fn contract_input_errors_name_the_field_and_the_fix() {
        let conn = db();
        let p = create_provider(&conn, "jefe", 1, &provider_input("Servicios Técnicos SA")).unwrap();
        let cases: [(ContractInput, &str); 7] = [
            (ContractInput { period_months: "0".into(), ..input(p, "A", "2027-01-01") }, "de 1 a 24 meses"),
            (ContractInput { period_months: "25".into(), ..input(p, "A", "2027-01-01") }, "de 1 a 24 meses"),
            (input(p, "A", "2025-12-31"), "corrija la fecha de fin"),
            (input(p, "A", "31/12/2027"), "formato AAAA-MM-DD"),
            (ContractInput { servers: vec![], ..input(p, "A", "2027-01-01") }, "al menos un servidor"),
            (ContractInput { servers: vec![9], ..input(p, "A", "2027-01-01") }, "servidor 9 no existe"),
            (input(p, " ", "2027-01-01"), "número del contrato"),
        ];
        for (bad, needle) in cases {
            let err = create_contract(&conn, "jefe", 1, &bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
        create_contract(&conn, "jefe", 1, &input(p, "MH-1", "2027-01-01")).unwrap();
        let dup = create_contract(&conn, "jefe", 1, &input(p, "MH-1", "2027-06-01")).unwrap_err().to_string();
        assert!(dup.contains("ya existe un contrato con el número «MH-1»"), "{dup}");
        let dup = create_provider(&conn, "jefe", 1, &provider_input("servicios técnicos sa")).unwrap_err().to_string();
        assert!(dup.contains("ya existe el proveedor"), "{dup}");
        let bad_mail = ProviderInput { email: "soporte arroba servtec".into(), ..provider_input("Otro") };
        assert!(create_provider(&conn, "jefe", 1, &bad_mail).unwrap_err().to_string().contains("nombre@dominio"));
    }

    #[test]
    fn editing_a_provider_and_a_contract_is_audited_with_before_and_after() {
        let conn = db();
        let p = create_provider(&conn, "jefe", 1, &provider_input("Servicios Técnicos SA")).unwrap();
        let c = create_contract(&conn, "jefe", 1, &input(p, "MH-1", "2027-01-01")).unwrap();
        update_provider(
            &conn,
            "jefe",
            2,
            p,
            &ProviderInput { phone: "2222-1111".into(), ..provider_input("Servicios Técnicos SA") },
        )
        .unwrap();
        let edited = ContractInput { servers: vec![1], period_months: "6".into(), ..input(p, "MH-1", "2027-03-01") };
        update_contract(&conn, "jefe", 3, c, &edited).unwrap();
        let got = contract(&conn, c).unwrap().unwrap();
        assert_eq!((got.period_months, got.ends_on, got.servers.len()), (6, d("2027-03-01"), 1));
        assert_eq!(provider(&conn, p).unwrap().unwrap().phone, "2222-1111");
        let actions: Vec<(String, Option<String>, Option<String>)> = conn
            .prepare("SELECT action, old, new FROM audit ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let names: Vec<&str> = actions.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(names, ["provider.create", "contract.create", "provider.update", "contract.update"]);
        let (_, old, new) = &actions[3];
        assert!(old.as_deref().unwrap().contains("\"period_months\":3"), "{old:?}");
        assert!(new.as_deref().unwrap().contains("\"period_months\":6"), "{new:?}");
        assert!(crate::audit::verify(&conn).is_ok());
    }
}
