//! The relay binary, rebuilt in this package so its integration tests can
//! start real relay processes (`CARGO_BIN_EXE_relay-under-test`).

fn main() -> std::process::ExitCode {
    twinline_relay::cli::main()
}
