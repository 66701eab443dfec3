// Refreshes the moderator's status page from GET /v1/status every second.
// Every value goes in with textContent: deployment names, URLs and reasons
// are data, never markup.
"use strict";

const byId = (id) => document.getElementById(id);

function setText(element, value) {
  if (element) element.textContent = String(value);
}

function ago(ms) {
  if (ms < 1000) return "just now";
  return `${(ms / 1000).toFixed(1)} s ago`;
}

function lagText(lag) {
  if (!lag) return "no peer";
  const link = lag.connected ? "connected" : "not connected";
  return `${lag.changes} changes, ${lag.seconds.toFixed(1)} s, ${link}`;
}

function renderCard(card, deployment, probe, now, activeName) {
  const field = (name, value) => setText(card.querySelector(`[data-field="${name}"]`), value);
  const health = deployment.health;
  card.dataset.up = String(deployment.up);
  card.dataset.active = String(deployment.name === activeName);
  field("name", deployment.name);
  field("role", deployment.role + (deployment.name === activeName ? " · active" : ""));
  field("state", deployment.up ? "up" : "down");
  field("reachability", probe ? probe.reachability.replace("_", " ") : "unknown");
  field("failures", probe ? probe.consecutive_failures : "?");
  field("last", probe && probe.last_answer ? ago(now - probe.last_answer) : "never");
  field("ready", health ? (health.ready ? "yes" : "no") : "?");
  field("draining", health ? (health.draining ? "yes" : "no") : "?");
  field("lag", health ? lagText(health.lag) : "?");
  field("url", deployment.url);
  field("version", health ? health.version : "?");
}

function renderHistory(history) {
  const body = byId("history");
  const rows = history
    .slice()
    .reverse()
    .map((failover) => {
      const row = document.createElement("tr");
      const cells = [
        new Date(failover.at).toLocaleString(),
        failover.epoch,
        failover.from,
        failover.to,
        failover.manual ? "manual" : "automatic",
        failover.reason,
      ];
      for (const value of cells) {
        const cell = document.createElement("td");
        cell.textContent = String(value);
        row.appendChild(cell);
      }
      return row;
    });
  if (rows.length === 0) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 6;
    cell.className = "muted";
    cell.textContent = "none yet";
    row.appendChild(cell);
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

function render(status) {
  const active = status.active;
  setText(byId("active"), active.active);
  setText(byId("active-url"), active.url);
  setText(byId("epoch"), active.epoch);
  setText(byId("held"), active.held ? "held by an administrator" : "chosen automatically");
  const drain = status.drain;
  setText(
    byId("drain"),
    drain
      ? `${drain.deployment} → ${drain.to} since ${ago(status.now - drain.since)}, ` +
          `${drain.clients === null ? "?" : drain.clients} clients left`
      : "none",
  );
  active.deployments.forEach((deployment, index) => {
    const card = document.querySelector(`[data-index="${index}"]`);
    if (card) renderCard(card, deployment, status.probes[index], status.now, active.active);
  });
  renderHistory(status.history);
}

async function refresh() {
  const indicator = byId("fetch");
  try {
    const response = await fetch("/v1/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    indicator.className = "ok";
    setText(indicator, `live, updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    indicator.className = "bad";
    setText(indicator, `moderator not answering (${error.message}); values below are stale`);
  }
}

refresh();
setInterval(refresh, 1000);
