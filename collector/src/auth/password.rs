//! Password hashing (argon2id, the crate's defaults: 19 MiB, 2 passes, 1 lane, as OWASP
//! recommends), one-time passwords and the password policy.
//!
//! Invariants: hashing and verifying are slow on purpose (tens of milliseconds); the web layer runs
//! them off the async runtime. A stored hash that does not parse never verifies.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The shortest password accepted.
pub const MIN_LEN: usize = 10;

/// Letters and digits that cannot be mistaken for each other when read aloud or copied by hand
/// (no 0/O, 1/l/I).
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("la contraseña debe tener al menos {MIN_LEN} caracteres")]
    TooShort,
    #[error("la contraseña no puede ser igual al nombre de usuario")]
    SameAsUser,
    #[error("no se pudo calcular el hash de la contraseña: {0}")]
    Hash(String),
    #[error("no hay fuente de números aleatorios: {0}")]
    Random(String),
}

/// Whether `password` may be set for `username`.
pub fn check_policy(username: &str, password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(PasswordError::SameAsUser);
    }
    Ok(())
}

/// The argon2id PHC string of `password`, with a random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A random one-time password: 16 characters of [`ALPHABET`] (about 93 bits).
pub fn one_time() -> Result<String, PasswordError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| PasswordError::Random(e.to_string()))?;
    // 256 is not a multiple of the alphabet's 56 letters; the bias is below 1 % per character and
    // irrelevant for a password that must be changed at the first login.
    Ok(bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect())
}

/// A hash that never verifies, for timing: a login with an unknown user costs the same.
pub fn dummy_verify(password: &str) {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yk1oiCc0xDrPy1eCYZlQH2+3BdWqoskA0Yk2rlyK3k4";
    let _ = verify(password, DUMMY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let h = hash("correcto-caballo-batería").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correcto-caballo-batería", &h));
        assert!(!verify("correcto-caballo-bateria", &h));
        assert_ne!(hash("correcto-caballo-batería").unwrap(), h, "a fresh salt each time");
    }

    #[test]
    fn a_broken_stored_hash_never_verifies() {
        assert!(!verify("x", ""));
        assert!(!verify("x", "$argon2id$garbage"));
        assert!(!verify("x", "plaintext-password"));
    }

    #[test]
    fn one_time_passwords_use_only_unambiguous_characters() {
        let p = one_time().unwrap();
        assert_eq!(p.len(), 16);
        assert!(p.bytes().all(|b| ALPHABET.contains(&b)), "{p}");
        assert!(!p.contains(['0', 'O', '1', 'l', 'I']));
        check_policy("admin", &p).unwrap();
    }

    #[test]
    fn the_policy_names_what_is_wrong_in_spanish() {
        assert_eq!(
            check_policy("ana", "corta").unwrap_err().to_string(),
            "la contraseña debe tener al menos 10 caracteres"
        );
        assert!(check_policy("administrador", "Administrador").is_err());
        check_policy("ana", "una frase larga").unwrap();
    }
}
