//! Command line: `run` (the daemon) and `check` (every probe once, as evidence).

use crate::config::Config;
use crate::host::HostPaths;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "centinela-agent",
    version,
    about = "Centinela agent: health of an Asterisk server, delivered over MQTT"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: sample every interval, store, and deliver to the broker.
    Run {
        /// The TOML config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run every probe once and print the sample (a technician's evidence).
    Check {
        /// The TOML config file (defaults apply without one).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Read /proc, /sys and /dev under DIR instead (fixture trees); sysinfo readings stay live.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
}

/// Structured logs to stderr (journald keeps them under systemd). `RUST_LOG` (for example
/// `debug` or `info,centinela_agent=debug`) overrides the level. `Targets` rather than `EnvFilter`:
/// the latter pulls in a regex engine, which costs the agent resident memory for nothing.
pub fn init_logging() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let default: Targets = "info,rumqttd=warn".parse().unwrap_or_default();
    let filter = std::env::var("RUST_LOG").ok().and_then(|s| s.parse::<Targets>().ok()).unwrap_or(default);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry().with(fmt).with(filter).try_init();
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => std::future::pending().await,
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Run { config } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("centinela-agent: {e}");
                    return ExitCode::from(2);
                }
            };
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("centinela-agent: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(crate::run(config, HostPaths::live(), shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("centinela-agent: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { config, json, root } => check(config, json, root),
    }
}

fn check(config: Option<PathBuf>, json: bool, root: Option<PathBuf>) -> ExitCode {
    let config = match config.map(|p| Config::load(&p)).unwrap_or_else(Config::defaults) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("centinela-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let paths = match &root {
        Some(r) if !r.is_dir() => {
            eprintln!(
                "centinela-agent: --root {}: not a directory; give a tree with proc/, sys/ and dev/",
                r.display()
            );
            return ExitCode::from(2);
        }
        Some(r) => HostPaths::under(r),
        None => HostPaths::live(),
    };
    let mut probes = crate::probes::ProbeSet::all();
    // CPU usage is a difference of two readings; give it a short window.
    std::thread::sleep(std::time::Duration::from_millis(250));
    let env = crate::runner::build_envelope(&config.id, config.interval, &mut probes, &paths, 0, Default::default());
    if json {
        match serde_json::to_string_pretty(&env) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("centinela-agent: cannot write JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", crate::check::render_table(&env));
    }
    ExitCode::SUCCESS
}
