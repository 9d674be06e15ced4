//! People and access: roles, password hashes, server-side sessions, API tokens and login
//! throttling. The web layer ([`crate::web`]) turns these into extractors and pages; the CLI
//! (`user add`, `token create`) uses the same functions.
//!
//! Invariants:
//! - Passwords are stored only as argon2id PHC strings ([`password`]); tokens (session cookies, API
//!   tokens) only as their SHA-256, so a copy of the database opens no session.
//! - There is no default password: the first admin gets a random one-time password, printed once,
//!   that must be changed at the first login (`must_change`), like every password set by someone
//!   other than its owner.
//! - Every change to people is written to the audit log in the same transaction ([`store`]).

pub mod password;
pub mod store;
pub mod throttle;

use serde::Serialize;

/// What a person may do. The matrix of ticket actions is in [`crate::tickets`]; the admin pages
/// are `admin` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Users, the organisation, configuration.
    Admin,
    /// Head of UACT: assesses, assigns, reviews, authorizes.
    JefeUact,
    /// UACT technician: attends requests, maintenance, reports.
    Tecnico,
    /// Head of one or more call centers: files requests, receives reports (scoped to them).
    JefeCentro,
    /// Read-only overview.
    Director,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::JefeUact, Role::Tecnico, Role::JefeCentro, Role::Director];

    /// The stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::JefeUact => "jefe_uact",
            Role::Tecnico => "tecnico",
            Role::JefeCentro => "jefe_centro",
            Role::Director => "director",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The Spanish label people see.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrador",
            Role::JefeUact => "Jefe de UACT",
            Role::Tecnico => "Técnico de UACT",
            Role::JefeCentro => "Jefe de Centro Telefónico",
            Role::Director => "Dirección (solo lectura)",
        }
    }
}

/// A logged-in person (or the owner of an API token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub full_name: String,
    pub email: Option<String>,
    pub role: Role,
    /// The call centers a `jefe_centro` answers for (empty for other roles).
    pub centers: Vec<i64>,
    pub must_change: bool,
}

impl User {
    /// The name to show: the full name, or the user name.
    pub fn display(&self) -> &str {
        if self.full_name.is_empty() { &self.username } else { &self.full_name }
    }
}

/// 32 random bytes from the OS, as 64 hex characters.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the tables store for a token.
pub fn token_hash(token: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn tokens_are_long_random_and_stored_only_as_hashes() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 32);
        assert_ne!(token_hash(&a), a.as_bytes());
    }
}
