//! Helpers for Twinline's process-level tests: start real relays and
//! moderators on free ports in temporary directories, kill them with SIGKILL,
//! restart them.
