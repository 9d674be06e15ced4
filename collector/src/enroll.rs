//! Onboarding a new Asterisk server: `centinela-collector agent enroll <id>` makes the agent's
//! broker credentials and prints, for the broker, the `mosquitto_passwd` line, and for the
//! server, the agent's config and password file. The password is shown once and stored nowhere
//! by the collector (the broker keeps only its hash).
//!
//! Invariants: the id is a valid [`AgentId`] that is not the collector's own broker user
//! ([`COLLECTOR_USER`]), so the ACL pattern `centinela/v1/%u/…` of
//! `packaging/mosquitto/centinela.acl` gives each agent exactly its own topics.

use centinela_shared::AgentId;

/// The broker user of the collector in `packaging/mosquitto/centinela.acl`.
pub const COLLECTOR_USER: &str = "centinela-collector";

/// What to print for a new agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub id: AgentId,
    pub password: String,
    /// The broker as the agent reaches it, e.g. `mqtts://broker.uact.local:8883`.
    pub broker_url: String,
}

/// Checks the id and makes a random password (24 letters and digits, about 143 bits).
pub fn enroll(id: &str, broker_url: &str) -> Result<Enrollment, String> {
    let id = AgentId::new(id).map_err(|e| e.to_string())?;
    if id.as_str() == COLLECTOR_USER {
        return Err(format!("«{COLLECTOR_USER}» is the collector's own broker user; choose another agent id"));
    }
    if !(broker_url.starts_with("mqtt://") || broker_url.starts_with("mqtts://")) {
        return Err(format!(
            "the broker URL {broker_url:?} must be mqtts://host:8883 (or mqtt:// for a test broker); pass --broker"
        ));
    }
    Ok(Enrollment { id, password: password(24)?, broker_url: broker_url.to_string() })
}

fn password(len: usize) -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut b = [0u8; 64];
        getrandom::fill(&mut b).map_err(|e| format!("cannot read random bytes from the OS: {e}"))?;
        // Rejection sampling: no bias toward the first letters of the alphabet.
        let limit = 256 - (256 % ALPHABET.len());
        out.extend(b.iter().filter(|&&x| (x as usize) < limit).map(|&x| ALPHABET[x as usize % ALPHABET.len()] as char));
    }
    out.truncate(len);
    Ok(out)
}

impl Enrollment {
    /// The agent's `/etc/centinela/agent.toml` lines for the broker.
    pub fn agent_config(&self) -> String {
        let tls = self.broker_url.starts_with("mqtts://");
        format!(
            "id = \"{id}\"\n\n[mqtt]\nurl = \"{url}\"\n{ca}username = \"{id}\"\npassword_file = \"/etc/centinela/mqtt-password\"\n",
            id = self.id,
            url = self.broker_url,
            ca = if tls { "ca_file = \"/etc/centinela/ca.pem\"\n" } else { "" },
        )
    }

    /// Everything the person enrolling the server needs, in order.
    pub fn instructions(&self) -> String {
        let id = &self.id;
        let pw = &self.password;
        format!(
            "Agente «{id}»: usuario MQTT «{id}», contraseña (se muestra una sola vez): {pw}\n\
             \n\
             1. En el broker (como root), cree el usuario y recargue Mosquitto:\n\
             \x20  mosquitto_passwd -b /etc/mosquitto/centinela.passwd {id} '{pw}'\n\
             \x20  systemctl reload mosquitto\n\
             \n\
             2. En el servidor Asterisk: apt install ./centinela-agent_*.deb, y luego:\n\
             \x20  install -m 0640 -g centinela-agent /dev/null /etc/centinela/mqtt-password\n\
             \x20  printf '%s\\n' '{pw}' > /etc/centinela/mqtt-password\n\
             \x20  (copie el certificado de la CA del broker a /etc/centinela/ca.pem)\n\
             \x20  y ponga en /etc/centinela/agent.toml:\n\
             \n{config}\n\
             3. systemctl restart centinela-agent; el servidor aparece en el tablero en segundos.\n",
            config = self.agent_config().lines().map(|l| format!("    {l}\n")).collect::<String>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrollment_prints_the_broker_line_and_the_agent_config_with_the_same_password() {
        let e = enroll("pbx-renta-01", "mqtts://broker.uact.local:8883").unwrap();
        assert_eq!(e.password.len(), 24);
        assert!(e.password.chars().all(|c| c.is_ascii_alphanumeric()));
        let text = e.instructions();
        assert!(
            text.contains(&format!(
                "mosquitto_passwd -b /etc/mosquitto/centinela.passwd pbx-renta-01 '{}'",
                e.password
            ))
        );
        assert!(text.contains("url = \"mqtts://broker.uact.local:8883\""));
        assert!(text.contains("username = \"pbx-renta-01\"") && text.contains("ca_file = \"/etc/centinela/ca.pem\""));
        let toml: toml::Value = toml::from_str(&e.agent_config()).expect("the config snippet is TOML");
        assert_eq!(toml["mqtt"]["password_file"].as_str(), Some("/etc/centinela/mqtt-password"));
        assert_ne!(enroll("pbx-renta-01", "mqtts://b:8883").unwrap().password, e.password, "random each time");
    }

    #[test]
    fn bad_ids_the_collectors_own_user_and_other_urls_are_refused_with_the_fix() {
        assert!(enroll("pbx/uno", "mqtts://b:8883").unwrap_err().contains("MQTT wildcards"));
        assert!(enroll("centinela-collector", "mqtts://b:8883").unwrap_err().contains("choose another agent id"));
        assert!(enroll("pbx-1", "http://b").unwrap_err().contains("pass --broker"));
        assert!(!enroll("pbx-1", "mqtt://127.0.0.1:1883").unwrap().agent_config().contains("ca_file"));
    }
}
