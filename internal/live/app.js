// The live view's page: it shows what /events streams and posts the
// buttons' actions. Whatever the run sends (images, messages, colours from
// profiles) goes into the page as text nodes, never as markup, and a colour
// is used only if it is a colour name or #rgb/#rrggbb.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const palette = { blue: "#4c8dff", green: "#3fb68b", red: "#e5484d", yellow: "#f5d90a", orange: "#f5a524", purple: "#9e6bff", black: "#6b7785" };
  const colors = { stable: palette.blue, canary: palette.green };
  const names = { stable: "stable", canary: "canary" };
  const phases = new Set(["Successful", "Failed", "Error", "Inconclusive"]);
  const logLimit = 1000; // lines, as the server keeps the latest 1000 events
  let weight = 0, failedTotal = 0, dots = [];
  const measurements = new Map();

  // el makes an element holding text (never markup).
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  // cssColor is a profile's colour as the page draws it, or null when it is
  // neither a colour name nor #rgb/#rrggbb (the scenario loader checks the
  // same; this is the second line).
  function cssColor(value) {
    if (typeof value !== "string" || !/^(#[0-9a-f]{3}|#[0-9a-f]{6}|[a-z]+)$/i.test(value)) return null;
    if (!CSS.supports("color", value)) return null;
    return palette[value.toLowerCase()] || value;
  }
  function legendItem(color, label) {
    const dot = el("i", "dot");
    dot.style.background = color;
    const item = el("span");
    item.append(dot, label);
    return item;
  }

  function setColors(state) {
    for (const v of ["stable", "canary"]) {
      const color = state.colors ? cssColor(state.colors[v]) : null;
      if (color) colors[v] = color;
      if (state.images && typeof state.images[v] === "string") names[v] = state.images[v];
    }
    $("legend").replaceChildren(
      legendItem(colors.stable, `stable: ${names.stable}`),
      legendItem(colors.canary, `canary: ${names.canary}`),
      legendItem("var(--bad)", "failed"));
    $("bar-stable").style.background = colors.stable;
    $("bar-canary").style.background = colors.canary;
  }

  function onHello(h) {
    // A reconnect replays the history from its start: show it afresh.
    $("title").textContent = "canarylab live · " + h.scenario;
    $("description").textContent = h.description || "";
    $("log").replaceChildren();
    $("measurements").replaceChildren();
    measurements.clear();
    failedTotal = 0;
    $("result").className = "";
    $("result").textContent = "";
    // Only the buttons of what this scenario's controller has.
    const offered = new Set([...(h.actions || []), ...(h.faults || [])]);
    for (const button of document.querySelectorAll("button[data-body]")) {
      const body = JSON.parse(button.dataset.body);
      button.hidden = !offered.has(body.action || body.fault);
    }
  }
  function onState(state) {
    setColors(state);
    weight = Number(state.canaryWeight) || 0;
    $("weight-canary").textContent = weight;
    $("bar-stable").style.flexBasis = (100 - weight) + "%";
    $("bar-stable").textContent = weight < 100 ? `stable ${100 - weight}%` : "";
    $("bar-canary").style.flexBasis = weight + "%";
    $("bar-canary").textContent = weight > 0 ? `canary ${weight}%` : "";
    $("step").textContent = state.steps ? `${Math.min(state.step + 1, state.steps)}/${state.steps}` + (state.step >= state.steps ? " (done)" : "") : "–";
    $("phase").textContent = state.phase;
    $("detail-box").hidden = !state.detail;
    $("detail").textContent = state.detail || "";
    $("clock").textContent = Number(state.atSeconds).toFixed(0) + "s";
    failedTotal += (state.failed.stable || 0) + (state.failed.canary || 0);
    $("failed").textContent = failedTotal;
    spawn(state);
  }
  // Up to 40 bubbles a second, in proportion to each version's requests.
  function spawn(state) {
    const total = (state.requests.stable || 0) + (state.requests.canary || 0);
    if (!total) return;
    const scale = Math.min(1, 40 / total);
    for (const v of ["stable", "canary"]) {
      const n = Math.round((state.requests[v] || 0) * scale);
      const bad = Math.round((state.failed[v] || 0) * scale);
      for (let i = 0; i < n; i++) dots.push({ v, x: -Math.random() * 200, lane: v === "stable" ? 0.3 : 0.75, jitter: Math.random() - 0.5, failed: i < bad });
    }
  }
  function draw() {
    const canvas = $("traffic"), ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#93a4b5"; ctx.font = "13px sans-serif";
    ctx.fillText("gateway", 8, h / 2); ctx.fillText("stable", w - 60, h * 0.3 - 30); ctx.fillText("canary", w - 60, h * 0.75 - 30);
    dots = dots.filter(d => d.x < w);
    for (const d of dots) {
      d.x += 6;
      const split = Math.min(1, Math.max(0, d.x / (w * 0.45)));
      const y = h / 2 + (d.lane * h - h / 2) * split + d.jitter * 26;
      ctx.beginPath(); ctx.arc(d.x, y, 5, 0, Math.PI * 2);
      if (d.failed && d.x > w * 0.6) { ctx.strokeStyle = "#e5484d"; ctx.lineWidth = 2; ctx.stroke(); }
      else { ctx.fillStyle = colors[d.v]; ctx.fill(); }
    }
    requestAnimationFrame(draw);
  }
  function onEvent(e) {
    const parts = [];
    if (e.canaryWeight !== undefined) parts.push(`canary ${e.canaryWeight}%`);
    for (const k of ["image", "metric", "phase", "value", "fault", "action", "message"]) if (e[k]) parts.push(e[k]);
    const line = el("div");
    line.append(el("span", "t", Number(e.atSeconds).toFixed(1) + "s"), el("b", "", e.type), " " + parts.join(" · "));
    const log = $("log");
    log.prepend(line);
    while (log.childElementCount > logLimit) log.lastElementChild.remove();
    if (e.type === "MeasurementTaken") {
      measurements.set(e.analysisRun + " / " + e.metric, e);
      $("measurements").replaceChildren(...[...measurements].map(([key, m]) => {
        const row = el("tr");
        row.append(el("td", "", key), el("td", phases.has(m.phase) ? m.phase : "", m.phase || ""), el("td", "", m.value || m.message || ""));
        return row;
      }));
    }
  }
  function onResult(r) {
    const box = $("result");
    box.className = r.passed ? "pass" : "fail";
    box.textContent = `${r.passed ? "PASSED" : "FAILED"}: ${r.outcome.result} at ${r.outcome.atSeconds}s — ` +
      r.assertions.map(a => `${a.passed ? "✓" : "✗"} ${a.name}: ${a.detail}`).join("; ");
  }
  async function send(body) {
    let response;
    try {
      response = await fetch("/actions", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    } catch (err) {
      $("notice").textContent = `not sent: ${err.message}`;
      return;
    }
    const text = await response.text();
    let answer;
    try { answer = JSON.parse(text); } catch { answer = { error: text.trim() }; }
    $("notice").textContent = response.ok ? `sent: ${answer.accepted}` : `refused: ${answer.error}`;
  }

  const source = new EventSource("/events");
  source.addEventListener("hello", m => onHello(JSON.parse(m.data)));
  source.addEventListener("state", m => onState(JSON.parse(m.data)));
  source.addEventListener("event", m => onEvent(JSON.parse(m.data)));
  source.addEventListener("result", m => onResult(JSON.parse(m.data)));
  for (const button of document.querySelectorAll("button[data-body]")) {
    button.addEventListener("click", () => send(button.dataset.body));
  }
  requestAnimationFrame(draw);
})();
