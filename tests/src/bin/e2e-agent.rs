//! The agent binary, built from the same entry point as `centinela-agent`.
fn main() -> std::process::ExitCode {
    centinela_agent::cli::main()
}
