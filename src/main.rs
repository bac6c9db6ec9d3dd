use std::process::ExitCode;

fn main() -> ExitCode {
    liverec::cli::main()
}
