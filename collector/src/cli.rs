//! Command line: `serve` runs the collector.

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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    centinela_agent::cli::init_logging();
    match cli.command {
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
            let opts = ServeOptions { local_agent, local_agent_interval: Some(local_agent_interval) };
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
