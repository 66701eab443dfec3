//! `twinline-relay`: parses the command line and hands over to [`twinline_relay::cli`].

fn main() -> std::process::ExitCode {
    twinline_relay::cli::main()
}
