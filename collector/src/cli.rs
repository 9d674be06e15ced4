//! Command line: `serve` runs the collector; `user`, `token` and `audit` work on the same
//! `--config`'s database (run them as the collector's user, e.g. `sudo -u centinela`).

use crate::config::Config;
use crate::{ServeOptions, serve};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "centinela-collector",
    version,
    about = "Centinela collector: stores agent samples and serves the UACT dashboard"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Ingest from MQTT, store in SQLite and serve the dashboard.
    Serve {
        /// The TOML config file. Without one: data in ./centinela-data, embedded broker on
        /// 127.0.0.1:1883, dashboard on http://127.0.0.1:8080/.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Also monitor this machine with an agent inside the collector process.
        #[arg(long)]
        local_agent: bool,
        /// The local agent's sampling interval.
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval)]
        local_agent_interval: std::time::Duration,
    },
    /// People: `user add NAME --role ROLE` prints a one-time password.
    User {
        #[command(subcommand)]
        command: UserCommand,
        /// The collector's TOML config file (its `data_dir` holds the database).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// API tokens for `Authorization: Bearer` (scripts, the service desk).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// Agents: `agent enroll ID` makes a new server's broker credentials and prints its config.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Creates a user and prints a one-time password, to be changed at the first login.
    Add {
        name: String,
        /// admin, jefe_uact, tecnico, jefe_centro or director.
        #[arg(long)]
        role: String,
        /// The person's full name, as shown on pages.
        #[arg(long, default_value = "")]
        full_name: String,
        /// A call center (id) a jefe_centro answers for; repeat for several.
        #[arg(long = "center", value_name = "ID")]
        centers: Vec<i64>,
    },
    /// Gives a user a new one-time password (forgotten password) and ends their sessions.
    Reset { name: String },
    /// Lists users and their roles.
    List,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Creates an API token for a user and prints it once.
    Create {
        name: String,
        /// What the token is for, e.g. "mesa de servicio".
        #[arg(long, default_value = "API")]
        label: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Makes the MQTT user (= the agent id) and password of a new Asterisk server and prints the
    /// broker line and the agent's config. The password is shown once and not stored here.
    Enroll {
        id: String,
        /// The broker as the agents reach it, e.g. mqtts://broker.uact.local:8883. Default: the
        /// collector's `[mqtt] url`.
        #[arg(long, value_name = "URL")]
        broker: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Checks the hash chain of the audit log; exits 1 and names the row if it was tampered with.
    Verify,
}

/// The actor recorded in the audit log for CLI changes: `cli:<unix user>`.
fn cli_actor() -> String {
    format!("cli:{}", std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "root".into()))
}

fn load(config: Option<PathBuf>) -> Result<Config, String> {
    match config {
        Some(path) => Config::load(&path),
        None => Config::defaults(PathBuf::from("centinela-data")),
    }
    .map_err(|e| e.to_string())
}

/// Runs an admin command on the configured database, in one IMMEDIATE transaction.
fn admin<R>(
    config: Option<PathBuf>,
    f: impl FnOnce(&rusqlite::Transaction, &str, i64) -> Result<R, String>,
) -> Result<R, String> {
    let config = load(config)?;
    let mut conn = crate::store::open_writer(&config.data_dir).map_err(|e| e.to_string())?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| format!("database: {e}"))?;
    let now = chrono::Utc::now().timestamp_millis();
    let out = f(&tx, &cli_actor(), now)?;
    tx.commit().map_err(|e| format!("database: {e}"))?;
    Ok(out)
}

fn run_user(command: UserCommand, config: Option<PathBuf>) -> Result<(), String> {
    use crate::auth::{Role, password, store};
    match command {
        UserCommand::Add { name, role, full_name, centers } => {
            let role = Role::parse(&role).ok_or_else(|| {
                format!("--role {role:?}: use one of admin, jefe_uact, tecnico, jefe_centro, director")
            })?;
            let (user, otp) = admin(config, |tx, actor, now| {
                store::create_user(tx, actor, now, &name, role, &full_name, &centers).map_err(|e| e.to_string())
            })?;
            println!("Usuario «{}» creado ({}).", user.username, role.label());
            println!("Contraseña de un solo uso: {otp}");
            println!("Debe cambiarla al iniciar sesión por primera vez.");
        }
        UserCommand::Reset { name } => {
            let otp = admin(config, |tx, actor, now| {
                let (user, _, _) = store::find_user(tx, &name)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("no existe el usuario «{name}»"))?;
                let otp = password::one_time().map_err(|e| e.to_string())?;
                let hash = password::hash(&otp).map_err(|e| e.to_string())?;
                store::set_password(tx, actor, now, &user, &hash, true).map_err(|e| e.to_string())?;
                store::delete_other_sessions(tx, user.id, None).map_err(|e| e.to_string())?;
                Ok(otp)
            })?;
            println!("Nueva contraseña de un solo uso para «{name}»: {otp}");
            println!("Debe cambiarla al iniciar sesión; sus sesiones abiertas se cerraron.");
        }
        UserCommand::List => {
            let users = admin(config, |tx, _, _| store::list_users(tx).map_err(|e| e.to_string()))?;
            for (u, active) in users {
                let state = if active { "" } else { " (desactivado)" };
                println!("{:<24} {:<12} {}{state}", u.username, u.role.as_str(), u.full_name);
            }
        }
    }
    Ok(())
}

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    centinela_agent::config::parse_duration(
        "--local-agent-interval",
        s,
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(3600),
    )
    .map_err(|e| e.to_string())
}

/// `agent enroll`: the credentials, printed; who enrolled which id goes to the audit log.
fn enroll(id: &str, broker: Option<String>, config: Option<PathBuf>) -> Result<(), String> {
    let broker = match broker {
        Some(b) => b,
        None => match &load(config.clone())?.broker {
            crate::config::Broker::External(m) => m.url.to_string(),
            crate::config::Broker::Embedded { .. } => {
                return Err("this collector uses its embedded broker, which has no users; \
                     pass --broker mqtts://HOST:8883 for the Mosquitto of packaging/mosquitto/"
                    .into());
            }
        },
    };
    let e = crate::enroll::enroll(id, &broker)?;
    admin(config, |tx, actor, now| {
        let entry = crate::audit::Entry {
            actor,
            action: "agent.enroll",
            object: &format!("server:{}", e.id),
            old: None,
            new: Some(&e.broker_url),
        };
        crate::audit::append(tx, now, &entry).map(|_| ()).map_err(|e| format!("database: {e}"))
    })?;
    print!("{}", e.instructions());
    Ok(())
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("centinela-collector: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    centinela_agent::cli::init_logging();
    match cli.command {
        Command::User { command, config } => report(run_user(command, config)),
        Command::Token { command: TokenCommand::Create { name, label }, config } => report(
            admin(config, |tx, actor, now| {
                crate::auth::store::create_token(tx, actor, now, &name, &label).map_err(|e| e.to_string())
            })
            .map(|token| {
                println!("Token para «{name}» ({label}), se muestra una sola vez:");
                println!("{token}");
                println!("Úselo en la cabecera: Authorization: Bearer {token}");
            }),
        ),
        Command::Agent { command: AgentCommand::Enroll { id, broker }, config } => report(enroll(&id, broker, config)),
        Command::Audit { command: AuditCommand::Verify, config } => {
            let checked = load(config).and_then(|c| {
                let conn = crate::store::open_reader(&c.data_dir).map_err(|e| e.to_string())?;
                crate::audit::verify(&conn).map_err(|e| e.to_string())
            });
            match checked {
                Ok(n) => {
                    println!("Registro de auditoría íntegro: {n} entradas verificadas.");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("centinela-collector: REGISTRO DE AUDITORÍA ALTERADO: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { config, local_agent, local_agent_interval } => {
            let config = match config {
                Some(path) => Config::load(&path),
                None => Config::defaults(PathBuf::from("centinela-data")),
            };
            let config = match config {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("centinela-collector: {e}");
                    return ExitCode::from(2);
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("centinela-collector: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            // Under systemd (`Type=notify`, `WatchdogSec=`): readiness, the watchdog and stopping.
            let notify = Some(std::sync::Arc::new(centinela_agent::sdnotify::Notify::from_env()));
            let opts = ServeOptions { local_agent, local_agent_interval: Some(local_agent_interval), notify };
            match rt.block_on(serve(config, opts, centinela_agent::cli::shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("centinela-collector: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
