//! A real moderator process (`relay-under-test moderator`) watching two test
//! relays, and the HTTP calls tests make to it.

use crate::process::{RelayProcess, relay_binary};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use twinline_core::moderation::ModeratorStatus;
use twinline_core::protocol::ActiveDeployment;

/// A running (or killed) moderator.
#[derive(Debug)]
pub struct ModeratorProcess {
    child: Option<Child>,
    port: u16,
}

impl ModeratorProcess {
    /// Starts a moderator for `primary` and `redundant` with the test admin
    /// token and `extra` flags (default timings unless overridden).
    pub fn start(
        primary: &RelayProcess,
        redundant: &RelayProcess,
        extra: &[&str],
    ) -> ModeratorProcess {
        ModeratorProcess::start_at(
            (primary.name(), &primary.url()),
            (redundant.name(), &redundant.url()),
            extra,
        )
    }

    /// Like [`ModeratorProcess::start`], with each deployment given as
    /// (name, URL), e.g. to reach one through a [`crate::link::Link`].
    pub fn start_at(
        primary: (&str, &str),
        redundant: (&str, &str),
        extra: &[&str],
    ) -> ModeratorProcess {
        let mut child = Command::new(relay_binary())
            .arg("moderator")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--primary")
            .arg(format!("{}={}", primary.0, primary.1))
            .arg("--redundant")
            .arg(format!("{}={}", redundant.0, redundant.1))
            .args(["--admin-token", crate::ADMIN_TOKEN])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the moderator");
        let stdout = child.stdout.take().expect("moderator stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines
            .next()
            .and_then(Result::ok)
            .expect("the moderator exited before listening");
        let port = line
            .strip_prefix("twinline-moderator listening on http://")
            .and_then(|address| address.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the moderator: {line}"));
        std::thread::spawn(move || for _ in lines {});
        ModeratorProcess {
            child: Some(child),
            port,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait (at most 10 s) for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET /v1/active`, or None if it does not answer.
    pub async fn active(&self) -> Option<ActiveDeployment> {
        get_json(&format!("{}/v1/active", self.url())).await
    }

    /// `GET /v1/status`, or None if it does not answer.
    pub async fn status(&self) -> Option<ModeratorStatus> {
        get_json(&format!("{}/v1/status", self.url())).await
    }

    /// Polls `/v1/active` until `wanted` holds; returns that answer and the
    /// time it took. Panics after `limit`.
    pub async fn wait_active(
        &self,
        limit: Duration,
        what: &str,
        wanted: impl Fn(&ActiveDeployment) -> bool,
    ) -> (ActiveDeployment, Duration) {
        let start = Instant::now();
        loop {
            if let Some(answer) = self.active().await
                && wanted(&answer)
            {
                return (answer, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?}: {what}; last answer {:?}",
                self.active().await
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `POST /v1/admin/active` with a raw body and token: status and body.
    pub async fn admin(&self, token: Option<&str>, body: &str) -> (u16, String) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/v1/admin/active", self.url()))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the moderator answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Runs `relay-under-test switch --moderator URL --admin-token TOKEN ARGS`:
    /// success and its stdout.
    pub fn switch_cli(&self, token: &str, args: &[&str]) -> (bool, String) {
        let output = Command::new(relay_binary())
            .arg("switch")
            .args(["--moderator", &self.url(), "--admin-token", token])
            .args(args)
            .output()
            .expect("running switch");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }
}

impl Drop for ModeratorProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Option<T> {
    reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}
