// smallfit app page: shows what the JSON API under /api/ says, and sends what the user does.
"use strict";

const state = { slug: null, project: null, model: null, events: null, versions: null };
const $ = (id) => document.getElementById(id);

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : response.statusText;
    throw new Error(detail);
  }
  return data;
}

function percent(value) { return (100 * value).toFixed(1) + "%"; }

function interval(estimate) {
  return estimate ? `${percent(estimate.value)} [${percent(estimate.low)}, ${percent(estimate.high)}]` : "n/a";
}

// -- projects ---------------------------------------------------------------------------
async function showProjects() {
  state.slug = null;
  if (state.events) state.events.close();
  $("project-view").hidden = true;
  $("projects-view").hidden = false;
  $("project-title").textContent = "";
  const projects = await api("GET", "/api/projects");
  const list = $("project-list");
  list.innerHTML = "";
  for (const project of projects) {
    const count = Object.values(project.classes).reduce((sum, c) => sum + c.count, 0);
    const item = document.createElement("li");
    item.innerHTML = `<button type="button" class="open">${escapeHtml(project.name)}</button>
      ${count} examples, ${Object.keys(project.classes).length} classes
      <button type="button" class="rename" aria-label="Rename ${escapeHtml(project.name)}">Rename</button>
      <button type="button" class="delete" aria-label="Delete ${escapeHtml(project.name)}">Delete</button>`;
    item.querySelector(".open").onclick = () => openProject(project.slug);
    item.querySelector(".rename").onclick = async () => {
      const name = prompt("New name", project.name);
      if (name) { await api("PATCH", `/api/projects/${project.slug}`, { name }); showProjects(); }
    };
    item.querySelector(".delete").onclick = async () => {
      if (confirm(`Delete ${project.name} with its examples and models?`)) {
        await api("DELETE", `/api/projects/${project.slug}?confirm=${encodeURIComponent(project.slug)}`);
        showProjects();
      }
    };
    list.appendChild(item);
  }
}

async function openProject(slug, step = "gather") {
  state.slug = slug;
  $("projects-view").hidden = true;
  $("project-view").hidden = false;
  await refresh();
  showStep(step);
  follow();
}

let reads = 0;  // the project's reads: an answer overtaken by a later read is dropped

async function refreshExamples() {
  const read = ++reads;
  const project = await api("GET", `/api/projects/${state.slug}`);
  if (read !== reads) return;
  state.project = project;
  $("project-title").textContent = state.project.name;
  drawClasses();
}

async function refresh() {
  await refreshExamples();
  drawModels();
  const models = state.project.models;
  $("before-after").textContent = models.length > 1
    ? `Estimated accuracy before: ${interval(models[models.length - 2].estimate)}; now: ${interval(models[models.length - 1].estimate)}.`
    : "";
}

function showStep(step) {
  for (const section of document.querySelectorAll(".step")) section.hidden = section.id !== step;
  for (const button of document.querySelectorAll("nav button")) {
    if (button.dataset.step === step) button.setAttribute("aria-current", "step");
    else button.removeAttribute("aria-current");
  }
}

// -- gather -----------------------------------------------------------------------------
function drawClasses() {
  const cards = $("class-cards");
  cards.innerHTML = state.project.unlabeled
    ? `<p>${state.project.unlabeled} examples to label later (step 6).</p>` : "";
  const byClass = {};
  for (const item of state.project.items) (byClass[item.label] ||= []).push(item);
  for (const [label, counts] of Object.entries(state.project.classes)) {
    const card = document.createElement("div");
    card.className = "card";
    const shown = (byClass[label] || []).slice(0, 12).map((item) => {
      if (item.kind === "text") return `<p class="snippet">${escapeHtml(item.text.slice(0, 80))}</p>`;
      const url = `/api/projects/${state.slug}/items/${item.id}/file`;
      return state.project.modality === "sound"
        ? `<audio controls preload="none" src="${url}" aria-label="example of ${escapeHtml(label)}"></audio>`
        : `<img src="${url}" alt="example of ${escapeHtml(label)}">`;
    });
    card.innerHTML = `<h3>${escapeHtml(label)}</h3>
      <p>${counts.count} examples${counts.excluded ? `, ${counts.excluded} excluded <button type="button" class="restore">Restore them</button>` : ""}</p>
      <div class="thumbs">${shown.join("")}</div>
      <button type="button" class="rename-class">Rename or merge</button>`;
    const restore = card.querySelector(".restore");
    if (restore) {
      restore.onclick = async () => {
        const ids = (byClass[label] || []).filter((item) => item.excluded).map((item) => item.id);
        await api("PATCH", `/api/projects/${state.slug}/items`, { ids, excluded: false });
        refreshExamples();
      };
    }
    card.querySelector(".rename-class").onclick = async () => {
      const name = prompt(`New name for ${label} (an existing class's name merges them)`, label);
      if (name && name !== label) {
        await api("POST", `/api/projects/${state.slug}/classes/rename`, { old: label, new: name });
        refreshExamples();
      }
    };
    cards.appendChild(card);
  }
}

async function uploadFiles(files, label) {
  const message = $("gather-message");
  const form = new FormData();
  form.append("label", label);
  for (const file of files) form.append("files", file);
  try {
    const result = await api("POST", `/api/projects/${state.slug}/files`, form);
    await refreshExamples();
    message.textContent = label ? `Added ${result.added} to ${label}.` : `Added ${result.added} to label later.`;
    message.className = "";
  } catch (error) {
    message.textContent = error.message;
    message.className = "error";
  }
}

// -- train ------------------------------------------------------------------------------
async function startFit() {
  const settings = { seed: Number($("train-seed").value || 0) };
  if ($("train-strategy").value) settings.strategy = $("train-strategy").value;
  if ($("train-preset").value) settings.preset = $("train-preset").value;
  if ($("train-budget").value) settings.time_budget = Number($("train-budget").value);
  try {
    drawFit(await api("POST", `/api/projects/${state.slug}/fit`, settings));
  } catch (error) {
    $("fit-state").textContent = error.message;
  }
}

function drawFit(fit) {
  const running = fit.state === "running" || fit.state === "cancelling";
  $("cancel-button").hidden = !running;
  $("train-button").disabled = running;
  let text = fit.state === "none" ? "Not trained yet."
    : `Fit ${fit.state}${fit.seconds !== undefined ? ` (${fit.seconds} s)` : ""}.`;
  if (running && fit.stage) {
    const left = fit.stage.seconds_left === null ? "" : `, about ${Math.ceil(fit.stage.seconds_left)} s left in this stage`;
    text += ` ${fit.stage.stage}: ${fit.stage.done}/${fit.stage.total}${left}.`;
  }
  $("fit-state").textContent = text;
  $("fit-leaderboard").innerHTML = (fit.leaderboard || []).length
    ? `<table><tr><th>candidate</th><th>accuracy [95%]</th></tr>${fit.leaderboard.map((r) => `<tr><th scope="row">${escapeHtml(r.candidate)}</th><td>${r.accuracy ? interval(r.accuracy) : "skipped"}</td></tr>`).join("")}</table>`
    : "";
  $("fit-log").textContent = fit.state === "failed" ? (fit.log || "") : "";
}

function follow() {
  // The server streams the project while the page shows it (server-sent events): the
  // fit's state, and versions of the examples and models, changed here, in another tab
  // or by a fit; the browser reconnects by itself after a server restart.
  if (state.events) state.events.close();
  state.versions = null;
  const slug = state.slug;
  const events = new EventSource(`/api/projects/${slug}/events`);
  state.events = events;
  events.onmessage = (message) => { if (state.slug === slug) drawFit(JSON.parse(message.data)); };
  events.addEventListener("project", async (message) => {
    if (state.slug !== slug) return;
    const seen = state.versions, now = JSON.parse(message.data);
    state.versions = now;
    if (!seen) return;  // the page has just read the project
    if (now.models !== seen.models) await refresh();
    else if (now.items !== seen.items) await refreshExamples();
  });
}

// -- understand -------------------------------------------------------------------------
function drawModels() {
  const select = $("model-select");
  const models = state.project.models;
  select.innerHTML = models.map((m) => `<option value="${m.stamp}">${m.stamp}: ${interval(m.estimate)}</option>`).reverse().join("");
  if (models.length) showModel(select.value);
  else $("model-details").innerHTML = "<p>No model yet: train one.</p>";
}

async function showModel(stamp) {
  const model = await api("GET", `/api/projects/${state.slug}/models/${stamp}`);
  state.model = model;
  const rows = model.leaderboard.map((r) => `<tr><th scope="row">${escapeHtml(r.candidate)}</th><td>${r.accuracy ? interval(r.accuracy) : escapeHtml(r.skipped || "")}</td></tr>`).join("");
  const classes = model.classes || [];
  const matrix = (model.confusion_matrix || []).map((row, i) => `<tr><th scope="row">${escapeHtml(classes[i])}</th>${row.map((n, j) => `<td><button type="button" class="cell" data-actual="${escapeHtml(classes[i])}" data-predicted="${escapeHtml(classes[j])}" aria-label="${n} ${escapeHtml(classes[i])} predicted as ${escapeHtml(classes[j])}">${n}</button></td>`).join("")}</tr>`).join("");
  const perClass = Object.entries(model.per_class || {}).map(([name, m]) => `<tr><th scope="row">${escapeHtml(name)}</th><td>${percent(m.precision.value ?? m.precision)}</td><td>${percent(m.recall.value ?? m.recall)}</td><td>${m.support}</td></tr>`).join("");
  const mistakes = model.mistakes.map((m) => `<li>${escapeHtml(m.name || m.text || "")}: labelled ${escapeHtml(m.label)}, predicted ${escapeHtml(m.predicted)} (${percent(m.confidence)})</li>`).join("");
  $("model-details").innerHTML = `
    <p>Estimated accuracy: <span class="estimate">${interval(model.estimate)}</span> (95% interval; ${escapeHtml(model.estimate_method)})</p>
    ${model.why ? `<p>Chosen: ${escapeHtml(model.why)}</p>` : ""}
    <h3>Candidates</h3><table><tr><th>candidate</th><th>accuracy [95%]</th></tr>${rows}</table>
    <h3>Confusion matrix (rows: true class, columns: predicted)</h3>
    <table><tr><th scope="col">true class</th>${classes.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("")}</tr>${matrix}</table>
    <div id="cell-items" aria-live="polite"></div>
    <h3>Map of the examples</h3>
    <p>Each example placed by its embedding (its first two principal components), coloured by class; a ring marks an out-of-fold mistake. Click one to see it and move it to another class.</p>
    <div id="map"></div><div id="map-item" aria-live="polite"></div>
    <h3>Per class</h3><table><tr><th>class</th><th>precision</th><th>recall</th><th>examples</th></tr>${perClass}</table>
    ${model.label_more ? `<h3>Should I label more?</h3><p>${escapeHtml(model.label_more)}</p>` : ""}
    <h3>Data doctor</h3>${drawFindings(model.findings)}
    <h3>Most confident mistakes</h3><ul>${mistakes || "<li>none</li>"}</ul>
    <p><a href="/api/projects/${state.slug}/models/${stamp}/report" target="_blank">The full report</a></p>`;
  for (const fix of document.querySelectorAll("div.fix")) {
    const button = fix.querySelector("button.exclude");
    button.onclick = () => excludeItem(fix.dataset.id, button);
    fix.querySelector("button.relabel").onclick = () => relabelItem(fix);
  }
  for (const cell of document.querySelectorAll("button.cell")) {
    cell.onclick = () => showCell(stamp, cell.dataset.actual, cell.dataset.predicted);
  }
  drawUse(stamp);
  drawMap(stamp);
}

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

async function drawMap(stamp) {
  let map;
  try {
    map = await api("GET", `/api/projects/${state.slug}/models/${stamp}/map`);
  } catch (error) {
    $("map").innerHTML = `<p>${escapeHtml(error.message)}</p>`;
    return;
  }
  const classes = Object.keys(state.project.classes);
  const xs = map.points.map((p) => p.x), ys = map.points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => 20 + 460 * (x - x0) / ((x1 - x0) || 1), sy = (y) => 20 + 260 * (y1 - y) / ((y1 - y0) || 1);
  const dots = map.points.map((p, k) => {
    const colour = PALETTE[classes.indexOf(p.now) % PALETTE.length] || "#000";
    const wrong = p.predicted && p.predicted !== p.label;
    return `<circle class="point" data-k="${k}" tabindex="0" role="button" cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="6" fill="${colour}" ${wrong ? 'stroke="#111" stroke-width="2.5"' : ""} aria-label="example of ${escapeHtml(p.now)}${wrong ? `, predicted ${escapeHtml(p.predicted)}` : ""}"><title>${escapeHtml(p.now)}</title></circle>`;
  }).join("");
  const legend = classes.map((c, i) => `<span><span style="color:${PALETTE[i % PALETTE.length]}" aria-hidden="true">&#9679;</span> ${escapeHtml(c)}</span>`).join(" ");
  $("map").innerHTML = `<svg width="500" height="300" role="group" aria-label="map of the examples" style="background:#fff;border:1px solid #cbd5e1">${dots}</svg><p>${legend}</p>`;
  for (const dot of $("map").querySelectorAll("circle.point")) {
    const open = () => showPoint(map.points[Number(dot.dataset.k)], classes);
    dot.onclick = open;
    dot.onkeydown = (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); } };
  }
}

function showPoint(point, classes) {
  const url = `/api/projects/${state.slug}/items/${point.id}/file`;
  const shown = point.kind === "text" ? `<p class="snippet">${escapeHtml(point.text)}</p>`
    : state.project.modality === "sound" ? `<audio controls src="${url}"></audio>` : `<img src="${url}" alt="the example" style="max-width:160px">`;
  $("map-item").innerHTML = `<div class="card">${shown}<p>Class ${escapeHtml(point.now)}${point.predicted ? `; predicted out of fold: ${escapeHtml(point.predicted)}` : ""}</p>
    <label for="move-to">Move to</label> <select id="move-to">${classes.map((c) => `<option${c === point.now ? " selected" : ""}>${escapeHtml(c)}</option>`).join("")}</select>
    <button type="button" id="move-button">Move</button></div>`;
  $("move-button").onclick = async () => {
    const label = $("move-to").value;
    await api("PATCH", `/api/projects/${state.slug}/items`, { ids: [point.id], label });
    point.now = label;
    $("map-item").querySelector("p").textContent = `Moved to ${label}; train again to use it.`;
    state.project = await api("GET", `/api/projects/${state.slug}`);
    drawClasses();
  };
}

function drawFindings(findings) {
  if (!findings.length) return "<p>No duplicates, conflicting labels or likely label errors found.</p>";
  const classes = Object.keys(state.project.classes);
  return `<ul>${findings.map((f) => `<li>${escapeHtml(f.kind.replaceAll("_", " "))}: ${escapeHtml(f.detail)}
    ${f.suggestion ? `(${escapeHtml(f.suggestion)})` : ""}
    ${(f.ids || []).map((id, k) => id ? fixButtons(id, f.items[k], f.predicted[k], classes) : "").join("")}</li>`).join("")}</ul>`;
}

// Exclude an example named by a finding, or relabel it (offering the class the model saw).
function fixButtons(id, name, predicted, classes) {
  const options = classes.map((c) => `<option${c === predicted ? " selected" : ""}>${escapeHtml(c)}</option>`).join("");
  return `<div class="fix" data-id="${id}"><button type="button" class="exclude">Exclude ${escapeHtml(name)}</button>
    <label>Relabel ${escapeHtml(name)} as <select class="relabel-to">${options}</select></label>
    <button type="button" class="relabel">Relabel</button> <span class="fix-done" aria-live="polite"></span></div>`;
}

async function relabelItem(fix) {
  const label = fix.querySelector(".relabel-to").value;
  await api("PATCH", `/api/projects/${state.slug}/items`, { ids: [fix.dataset.id], label });
  fix.querySelector(".fix-done").textContent = `Relabelled as ${label}; train again to use it.`;
  state.project = await api("GET", `/api/projects/${state.slug}`);
  drawClasses();
}

async function excludeItem(id, button) {
  await api("PATCH", `/api/projects/${state.slug}/items`, { ids: [id], excluded: true });
  button.disabled = true;
  button.textContent = "Excluded (kept; restore it in Gather)";
  state.project = await api("GET", `/api/projects/${state.slug}`);
  drawClasses();
}

async function showCell(stamp, actual, predicted) {
  const query = `actual=${encodeURIComponent(actual)}&predicted=${encodeURIComponent(predicted)}`;
  const box = $("cell-items");
  try {
    const cell = await api("GET", `/api/projects/${state.slug}/models/${stamp}/cell?${query}`);
    const shown = cell.items.map((item) => {
      if (item.kind === "text") return `<p class="snippet">${escapeHtml(item.text.slice(0, 160))}</p>`;
      const url = `/api/projects/${state.slug}/items/${item.id}/file`;
      return state.project.modality === "sound"
        ? `<audio controls preload="none" src="${url}"></audio>`
        : `<img src="${url}" alt="${escapeHtml(actual)} predicted as ${escapeHtml(predicted)}">`;
    });
    box.innerHTML = `<h4>${cell.items.length} ${escapeHtml(actual)} predicted as ${escapeHtml(predicted)} (out of fold)</h4><div class="thumbs">${shown.join("")}</div>`;
  } catch (error) {
    box.innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
  }
}

// -- try --------------------------------------------------------------------------------
function drawPredictions(result) {
  const threshold = Number($("threshold").value || 0);
  $("try-results").innerHTML = result.predictions.map((p) => {
    const confidence = p.probabilities[p.label];
    const verdict = confidence < threshold ? `<span class="unsure">not sure</span> (best guess ${escapeHtml(p.label)})` : escapeHtml(p.label);
    const bars = result.classes.map((c) => `<div>${escapeHtml(c)} <span class="bar" style="width:${(200 * p.probabilities[c]).toFixed(0)}px"></span> ${percent(p.probabilities[c])}</div>`).join("");
    return `<div class="card"><h3>${escapeHtml(p.item)}</h3><p>${verdict}</p>${bars}</div>`;
  }).join("");
}

async function tryItems(kind) {
  const stamp = $("model-select").value;
  if (!stamp) { $("try-results").textContent = "Train a model first."; return; }
  try {
    let result;
    if (kind === "files") {
      const form = new FormData();
      for (const file of $("try-files").files) form.append("files", file);
      result = await api("POST", `/api/projects/${state.slug}/models/${stamp}/predict/files`, form);
    } else {
      const texts = $("try-texts").value.split("\n").filter((t) => t.trim());
      result = await api("POST", `/api/projects/${state.slug}/models/${stamp}/predict/texts`, { texts });
    }
    drawPredictions(result);
  } catch (error) {
    $("try-results").innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
  }
}

// -- label more -------------------------------------------------------------------------
const queue = { items: [], done: [] };

async function loadQueue() {
  try {
    const result = await api("GET", `/api/projects/${state.slug}/queue?n=20`);
    queue.items = result.items;
    queue.done = [];
    $("queue-state").textContent = result.items.length
      ? `${result.items.length} examples suggested by model ${result.model}.`
      : "Nothing left to label: upload examples without a class first.";
    drawQueue();
  } catch (error) {
    $("queue-state").textContent = error.message;
  }
}

function drawQueue() {
  const classes = Object.keys(state.project.classes);
  const item = queue.items[0];
  if (!item) {
    $("queue-card").innerHTML = queue.done.length ? `<p>Labelled ${queue.done.length}. Train again to see the difference.</p>` : "";
    $("queue-keys").innerHTML = "";
    return;
  }
  const url = `/api/projects/${state.slug}/items/${item.id}/file`;
  const shown = item.kind === "text" ? `<p class="snippet">${escapeHtml(item.text)}</p>`
    : state.project.modality === "sound" ? `<audio controls src="${url}"></audio>`
    : `<img src="${url}" alt="example to label" style="max-width:200px">`;
  $("queue-card").innerHTML = `<div class="card">${shown}
    <p>The model guesses ${escapeHtml(item.guess)} (${percent(item.confidence)}); ${escapeHtml(item.reason)}</p></div>`;
  $("queue-keys").innerHTML = classes.slice(0, 9).map((c, i) => `<button type="button" data-label="${escapeHtml(c)}">${i + 1} ${escapeHtml(c)}</button>`).join(" ")
    + ` <button type="button" id="skip-button">S skip</button> <button type="button" id="undo-button">U undo</button>`;
  for (const button of $("queue-keys").querySelectorAll("button[data-label]")) button.onclick = () => labelCurrent(button.dataset.label);
  $("skip-button").onclick = skipCurrent;
  $("undo-button").onclick = undoLast;
}

async function labelCurrent(label) {
  const item = queue.items.shift();
  if (!item) return;
  await api("PATCH", `/api/projects/${state.slug}/items`, { ids: [item.id], label });
  queue.done.push(item);
  $("queue-state").textContent = `Labelled ${item.kind === "text" ? "the text" : "the example"} as ${label}.`;
  drawQueue();
}

function skipCurrent() {
  const item = queue.items.shift();
  if (item) queue.items.push(item);
  drawQueue();
}

async function undoLast() {
  const item = queue.done.pop();
  if (!item) return;
  await api("PATCH", `/api/projects/${state.slug}/items`, { ids: [item.id], unlabel: true });
  queue.items.unshift(item);
  $("queue-state").textContent = "Undone.";
  drawQueue();
}

document.addEventListener("keydown", (event) => {
  if ($("label").hidden || ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) return;
  const classes = Object.keys(state.project?.classes || {});
  const number = Number(event.key);
  if (number >= 1 && number <= Math.min(9, classes.length)) labelCurrent(classes[number - 1]);
  else if (event.key === "s" || event.key === "S") skipCurrent();
  else if (event.key === "u" || event.key === "U") undoLast();
});

// -- use --------------------------------------------------------------------------------
function drawUse(stamp) {
  const base = `${state.slug}/models/${stamp}`;
  $("use-details").innerHTML = `
    <p><a href="/api/projects/${base}/download">Download the model folder (zip)</a></p>
    <p><button type="button" id="onnx-button">Export to ONNX and download (zip)</button> <span id="onnx-state" role="status"></span></p>
    <p>Repeat this fit from the command line, in the workspace:</p>
    <pre>smallfit fit ${escapeHtml(state.slug)}/train.csv --out ${escapeHtml(state.slug)}/models/new</pre>
    <p>Use it from Python:</p>
    <pre>import smallfit
model = smallfit.load("${escapeHtml(base)}")
model.predict(["..."])</pre>
    <p>Serve it over HTTP:</p>
    <pre>smallfit serve ${escapeHtml(base)} --port 8000</pre>`;
  $("onnx-button").onclick = async () => {
    $("onnx-state").textContent = "Exporting...";
    const response = await fetch(`/api/projects/${base}/onnx`);
    if (!response.ok) {
      $("onnx-state").textContent = (await response.json()).detail;
      return;
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `${state.slug}-${stamp}-onnx.zip`;
    link.click();
    $("onnx-state").textContent = "Exported.";
  };
}

// -- wiring -----------------------------------------------------------------------------
$("home").onclick = (event) => { event.preventDefault(); showProjects(); };
$("new-project").onsubmit = async (event) => {
  event.preventDefault();
  const project = await api("POST", "/api/projects", { name: $("new-project-name").value });
  $("new-project-name").value = "";
  openProject(project.slug);
};
for (const button of document.querySelectorAll("nav button")) button.onclick = () => showStep(button.dataset.step);
$("upload-form").onsubmit = (event) => { event.preventDefault(); uploadFiles($("upload-files").files, $("upload-label").value.trim()); };
$("texts-form").onsubmit = async (event) => {
  event.preventDefault();
  const texts = $("texts-input").value.split("\n").filter((t) => t.trim());
  try {
    await api("POST", `/api/projects/${state.slug}/texts`, { label: $("texts-label").value.trim(), texts });
    $("texts-input").value = "";
    await refreshExamples();
    $("gather-message").textContent = `Added ${texts.length} texts.`;
  } catch (error) {
    $("gather-message").textContent = error.message;
  }
};
$("table-form").onsubmit = async (event) => {
  event.preventDefault();
  const form = new FormData();
  form.append("file", $("table-file").files[0]);
  try {
    const result = await api("POST", `/api/projects/${state.slug}/table`, form);
    await refreshExamples();
    $("gather-message").textContent = `Added ${result.added} texts from the table.`;
  } catch (error) {
    $("gather-message").textContent = error.message;
  }
};
$("import-form").onsubmit = async (event) => {
  event.preventDefault();
  try {
    const result = await api("POST", `/api/projects/${state.slug}/import`, { folder: $("import-folder").value.trim() });
    await refreshExamples();
    $("gather-message").textContent = `Imported ${result.added} examples (copied; the folder is left as it was).`;
  } catch (error) {
    $("gather-message").textContent = error.message;
  }
};
const drop = $("drop-zone");
drop.ondragover = (event) => { event.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (event) => { event.preventDefault(); drop.classList.remove("over"); uploadFiles(event.dataTransfer.files, $("upload-label").value.trim()); };
$("train-button").onclick = startFit;
$("queue-button").onclick = loadQueue;
$("cancel-button").onclick = () => api("DELETE", `/api/projects/${state.slug}/fit`).then(drawFit);
$("model-select").onchange = () => showModel($("model-select").value);
$("try-files-form").onsubmit = (event) => { event.preventDefault(); tryItems("files"); };
$("try-texts-form").onsubmit = (event) => { event.preventDefault(); tryItems("texts"); };
showProjects();
