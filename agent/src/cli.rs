//! Command line: `run` (the daemon) and `check` (every probe once, as evidence).

use crate::config::Config;
use crate::host::HostPaths;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

// The agent parses its few arguments by hand: clap's code would be most of a megabyte of the
// agent's resident memory on every Asterisk server, for two subcommands and four flags.

pub const USAGE: &str = "\
centinela-agent: health of an Asterisk server, delivered over MQTT

Usage:
  centinela-agent run --config FILE [--root DIR]
      Run the daemon: sample every interval, store, and deliver to the broker.
  centinela-agent check [--config FILE] [--json] [--root DIR]
      Run every probe once and print the sample (a technician's evidence).
      --config FILE  the TOML config file (defaults apply without one)
      --json         print JSON instead of a table
      --root DIR     read /proc, /sys and /dev under DIR (fixture trees); sysinfo readings stay live
  centinela-agent --help | --version
";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run { config: PathBuf, root: Option<PathBuf> },
    Check { config: Option<PathBuf>, json: bool, root: Option<PathBuf> },
    Help,
    Version,
}

/// Parses the arguments after the program name. The error says what is wrong and how to see the
/// usage.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let sub = args.next().ok_or("a subcommand is required: run or check (see --help)")?;
    let mut config = None;
    let mut json = false;
    let mut root = None;
    let sub = sub.to_string_lossy().into_owned();
    match sub.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help),
        "-V" | "--version" => return Ok(Command::Version),
        "run" | "check" => {}
        other => return Err(format!("unknown subcommand {other:?}; use run or check (see --help)")),
    }
    while let Some(arg) = args.next() {
        let flag = arg.to_string_lossy().into_owned();
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(OsString::from(v))),
            None => (flag.clone(), None),
        };
        let mut value = |what: &str| -> Result<PathBuf, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs a {what}"))
        };
        match (sub.as_str(), name.as_str()) {
            (_, "-h" | "--help") => return Ok(Command::Help),
            (_, "--config") => config = Some(value("FILE")?),
            (_, "--root") => root = Some(value("DIR")?),
            ("check", "--json") if inline.is_none() => json = true,
            _ => return Err(format!("unexpected argument {flag:?} for {sub} (see --help)")),
        }
    }
    match sub.as_str() {
        "run" => Ok(Command::Run { config: config.ok_or("run needs --config FILE")?, root }),
        _ => Ok(Command::Check { config, json, root }),
    }
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
    let command = match parse_args(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("centinela-agent: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    match command {
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("centinela-agent {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Run { config, root } => {
            let paths = match root_paths(root.as_deref()) {
                Ok(p) => p,
                Err(code) => return code,
            };
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
            // Under systemd (`Type=notify`, `WatchdogSec=`): readiness, the watchdog and stopping.
            let notify = crate::sdnotify::Notify::from_env();
            match rt.block_on(crate::runner::run_notifying(config, paths, shutdown_signal(), &notify)) {
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

/// The host paths for `--root DIR` (fixture trees), or the live host.
fn root_paths(root: Option<&std::path::Path>) -> Result<HostPaths, ExitCode> {
    match root {
        Some(r) if !r.is_dir() => {
            eprintln!(
                "centinela-agent: --root {}: not a directory; give a tree with proc/, sys/ and dev/",
                r.display()
            );
            Err(ExitCode::from(2))
        }
        Some(r) => Ok(HostPaths::under(r)),
        None => Ok(HostPaths::live()),
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
    let paths = match root_paths(root.as_deref()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut probes = crate::probes::ProbeSet::new(&crate::probes::ProbeConfig::from_config(&config));
    // CPU usage is a difference of two readings; give it a short window.
    std::thread::sleep(std::time::Duration::from_millis(250));
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("centinela-agent: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let env = rt.block_on(crate::runner::build_envelope(
        &config.id,
        config.interval,
        &mut probes,
        &paths,
        0,
        Default::default(),
    ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn run_and_check_parse_with_their_flags() {
        assert_eq!(
            parse(&["run", "--config", "/etc/a.toml"]),
            Ok(Command::Run { config: "/etc/a.toml".into(), root: None })
        );
        assert_eq!(
            parse(&["run", "--config=/etc/a.toml", "--root", "/fx"]),
            Ok(Command::Run { config: "/etc/a.toml".into(), root: Some("/fx".into()) })
        );
        assert_eq!(
            parse(&["check", "--json", "--root", "/fx", "--config", "c.toml"]),
            Ok(Command::Check { config: Some("c.toml".into()), json: true, root: Some("/fx".into()) })
        );
        assert_eq!(parse(&["check"]), Ok(Command::Check { config: None, json: false, root: None }));
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert_eq!(parse(&["check", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn usage_mistakes_say_what_is_wrong() {
        assert!(parse(&[]).unwrap_err().contains("subcommand is required"));
        assert!(parse(&["start"]).unwrap_err().contains("unknown subcommand"));
        assert!(parse(&["run"]).unwrap_err().contains("run needs --config FILE"));
        assert!(parse(&["run", "--config"]).unwrap_err().contains("--config needs a FILE"));
        assert!(parse(&["run", "--config", "a", "--json"]).unwrap_err().contains("unexpected argument"));
        assert!(parse(&["check", "--root="]).unwrap_err().contains("--root needs a DIR"));
        assert!(parse(&["check", "--json=yes"]).unwrap_err().contains("unexpected argument"));
    }
}
