//! The Centinela agent as a library: `main.rs` only parses arguments and calls [`cli::main`], so
//! the same entry point serves the packaged binary, the collector's `--local-agent` and the tests.

pub mod ami;
pub mod cdr;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod delivery;
pub mod events;
pub mod host;
pub mod mqtt;
pub mod outbox;
pub mod probes;
pub mod recordings;
pub mod runner;
pub mod sdnotify;

pub use config::Config;
pub use host::HostPaths;
pub use runner::run;
