//! Tracing one schedule: what chosen clients were told and did, with the
//! world's faults and the moderator's switches between them, one line each
//! on the virtual clock.
//!
//! `TWINLINE_SIM_TRACE` names what to trace: clients by name (`visitor-0`,
//! `operator-0`, ... `visitor-N` and `operator-N` are chat N's two sides),
//! `world` for faults and switches only, or `all`; several with commas. A
//! name the world does not have is an error, never a silent empty trace.
//! Heartbeats (`ping`/`pong`) and `persist` are left out: they would drown
//! everything else.

use twinline_core::protocol::{ClientFrame, ServerFrame};
use twinline_core::session::{Action, Input};

/// A client's name in traces and reports: `visitor-N` or `operator-N`.
pub fn client_name(client: usize) -> String {
    let side = if client % 2 == 0 {
        "visitor"
    } else {
        "operator"
    };
    format!("{side}-{}", client / 2)
}

/// What to trace and where the lines go.
#[derive(Debug)]
pub struct Trace {
    all: bool,
    world: bool,
    clients: Vec<usize>,
    to_stdout: bool,
    /// Every line written, when not printed.
    pub lines: Vec<String>,
}

impl Trace {
    /// Parses a `TWINLINE_SIM_TRACE` value for a world of `chats` chats.
    pub fn parse(spec: &str, chats: usize) -> Result<Trace, String> {
        let mut trace = Trace {
            all: false,
            world: false,
            clients: Vec::new(),
            to_stdout: false,
            lines: Vec::new(),
        };
        for name in spec.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => trace.all = true,
                "world" => trace.world = true,
                _ => match (0..chats * 2).find(|&c| client_name(c) == name) {
                    Some(client) => trace.clients.push(client),
                    None => {
                        let names: Vec<String> = (0..chats * 2).map(client_name).collect();
                        return Err(format!(
                            "TWINLINE_SIM_TRACE: no {name:?} here; trace one of {}, world or all",
                            names.join(", ")
                        ));
                    }
                },
            }
        }
        if !trace.all && !trace.world && trace.clients.is_empty() {
            return Err(format!(
                "TWINLINE_SIM_TRACE={spec:?} names nothing to trace"
            ));
        }
        Ok(trace)
    }

    /// Prints lines as they come (for `--nocapture`) instead of keeping them.
    pub fn printed(mut self) -> Trace {
        self.to_stdout = true;
        self
    }

    pub fn wants(&self, client: usize) -> bool {
        self.all || self.clients.contains(&client)
    }

    pub fn wants_world(&self) -> bool {
        self.all || self.world || !self.clients.is_empty()
    }

    #[expect(
        clippy::disallowed_macros,
        reason = "the trace is this test's output, read with --nocapture"
    )]
    fn write(&mut self, line: String) {
        if self.to_stdout {
            println!("{line}");
        } else {
            self.lines.push(line);
        }
    }

    pub fn world(&mut self, now: u64, what: &str) {
        if self.wants_world() {
            self.write(format!("{now:>6} world     {what}"));
        }
    }

    pub fn input(&mut self, now: u64, client: usize, input: &Input) {
        let noise = matches!(
            input,
            Input::Frame {
                frame: ServerFrame::Pong { .. },
                ..
            }
        );
        if self.wants(client) && !noise {
            self.write(format!("{now:>6} {:<10}← {input:?}", client_name(client)));
        }
    }

    pub fn action(&mut self, now: u64, client: usize, action: &Action) {
        let noise = matches!(
            action,
            Action::Persist
                | Action::Send {
                    frame: ClientFrame::Ping { .. },
                    ..
                }
        );
        if self.wants(client) && !noise {
            self.write(format!("{now:>6} {:<10}→ {action:?}", client_name(client)));
        }
    }
}
