//! The collector binary, built from the same entry point as `centinela-collector`.
fn main() -> std::process::ExitCode {
    centinela_collector::cli::main()
}
