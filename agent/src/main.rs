fn main() -> std::process::ExitCode {
    centinela_agent::cli::main()
}
