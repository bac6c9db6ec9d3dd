use std::process::ExitCode;

fn main() -> ExitCode {
    liverec::allocator::tune();
    liverec::cli::main()
}
