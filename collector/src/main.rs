fn main() -> std::process::ExitCode {
    centinela_collector::cli::main()
}
