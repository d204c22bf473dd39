// The document view of the policoder workbench: render the text with its codings, turn a mouse
// selection into code-point offsets, apply codes, and show, change or remove codings.
// Every piece of document or codebook text reaches the page through textContent, never as HTML.
"use strict";

const workspace = document.getElementById("workspace");
const docId = Number(workspace.dataset.docId);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);

let doc = null;          // the document as /api/documents/{id} gives it
let codebook = null;     // codes in tree order
let selection = null;    // {start, end} in code points, or null
let chosen = new Set();  // codes picked with Shift+click, applied together
let shortcuts = [];      // the coder's most used codes, on keys 1–9
let review = null;       // a policy document's clause review, as /api/documents/{id}/instruments gives it
let codeMemos = [];      // memos on codes (the codebook is shared by every document)
let firstRender = true;

function el(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function say(text, isError) {
  const box = $("message");
  box.textContent = text;
  box.className = "message" + (isError ? " error" : "");
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

// --- code points: the database counts them, JavaScript strings count UTF-16 units ---------------

function codePoints(text) { let n = 0; for (const _ of text) n++; return n; }

function utf16Index(text) {
  // index[cp] = UTF-16 position of code point cp; index[length] = text.length
  const index = [0];
  let at = 0;
  for (const ch of text) { at += ch.length; index.push(at); }
  return index;
}

// --- rendering ---------------------------------------------------------------------------------

function colourOf(code, strength = 40) {
  // the codebook's colour, lightened so that the text on it stays readable
  const found = codebook.codes.find((c) => c.id === code);
  return `color-mix(in srgb, ${found ? found.color : "#999"} ${strength}%, white)`;
}

function render() {
  const text = doc.text;
  const index = utf16Index(text);
  const total = index.length - 1;
  const units = doc.units.slice().sort((a, b) => a.start - b.start);
  const cuts = new Set([0, total]);
  for (const u of units) { cuts.add(u.start); cuts.add(u.end); }
  for (const c of doc.codings) { cuts.add(c.start); cuts.add(c.end); }
  const points = [...cuts].filter((p) => p >= 0 && p <= total).sort((a, b) => a - b);
  const container = $("text");
  container.replaceChildren();
  let block = null, blockUnit;
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const unit = units.find((u) => u.start <= a && b <= u.end) || null;
    if (block === null || unit !== blockUnit) {
      block = document.createElement("div");
      block.className = unit ? "unit" : "gap";
      if (unit) {
        const label = document.createElement("div");
        label.className = "unit-label";
        label.textContent = unit.unit_id + (unit.speaker ? " · " + unit.speaker : "");
        label.title = "click: write a memo on this unit";
        label.addEventListener("click", () => { $("memo-target").value = "unit\t" + unit.unit_id; $("memo-text").focus(); });
        block.append(label);
        block.id = "u-" + unit.unit_id;
      }
      const body = document.createElement("div");
      body.className = "unit-text";
      block.append(body);
      container.append(block);
      blockUnit = unit;
    }
    const span = document.createElement("span");
    span.dataset.o = String(a);
    span.textContent = text.slice(index[a], index[b]);
    const covering = doc.codings.filter((c) => c.start <= a && b <= c.end);
    if (covering.length) {
      const colours = covering.map((c) => colourOf(c.code));
      span.className = "coded" + (covering.some((c) => c.coder !== doc.coder) ? " others" : "");
      span.style.background = colours.length === 1 ? colours[0]
        : `linear-gradient(${colours.map((c, k) => `${c} ${k * 100 / colours.length}% ${(k + 1) * 100 / colours.length}%`).join(", ")})`;
      span.title = covering.map((c) => `${c.code} (${c.coder})`).join(", ");
      span.dataset.codings = covering.map((c) => c.id).join(" ");
    }
    block.lastChild.append(span);
  }
  for (const memo of doc.memos) {
    const block = memo.target_kind === "unit" && document.getElementById("u-" + memo.target);
    if (block) block.querySelector(".unit-label").classList.add("has-memo");
  }
  renderReview();
  renderCodings();
  renderMemos();
  if (firstRender && location.hash.startsWith("#u-")) {  // a link from the agreement view
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) { target.classList.add("flash"); target.scrollIntoView({block: "center"}); }
  }
  firstRender = false;
}

// --- policy clause review: the machine's instruments, accepted or corrected by the coder -----------

function labelName(id) {
  const label = review.labels.find((l) => l.id === id);
  return label ? label.name : id;
}

function instrumentChip(id, primary) {
  const chip = el("span", "instrument" + (primary ? " primary" : ""), (primary ? "★ " : "") + labelName(id));
  chip.title = id + (primary ? " (primary)" : "");
  return chip;
}

function sameLabel(a, b) {
  return a.primary === b.primary && [...a.labels].sort().join() === [...b.labels].sort().join();
}

function renderReview() {
  if (!review) return;
  for (const unit of review.units) {
    const block = document.getElementById("u-" + unit.unit_id);
    if (block) block.append(reviewBar(unit));
  }
}

function reviewBar(unit) {
  const bar = el("div", "review");
  bar.dataset.unit = unit.unit_id;
  const machine = el("div", "review-line");
  machine.append(el("span", "review-who", review.machine === "rules" ? "machine (rules)" : review.machine));
  for (const id of unit.labels) machine.append(instrumentChip(id, id === unit.primary));
  const accept = el("button", "accept", "✓ Accept");
  accept.type = "button";
  accept.addEventListener("click", () => labelUnit(unit, unit.labels.filter((l) => l !== unit.primary), unit.primary));
  const correct = el("button", "correct", "Correct…");
  correct.type = "button";
  machine.append(accept, correct);
  bar.append(machine);
  if (unit.cues.length) {
    const cues = el("div", "review-line cues", "cues: ");
    for (const cue of unit.cues) {
      const shown = el("span", "cue", (cue.in_lead_in ? "↑" : "") + cue.text);
      shown.title = `${labelName(cue.label)} (${cue.group})${cue.in_lead_in ? ", in the lead-in" : ""}`;
      cues.append(shown);
    }
    bar.append(cues);
  }
  if (unit.mine) {
    const mine = el("div", "review-line mine");
    mine.append(el("span", "review-who", "your label"));
    for (const id of unit.mine.labels) mine.append(instrumentChip(id, id === unit.mine.primary));
    mine.append(el("span", "review-state", sameLabel(unit.mine, unit) ? "accepted" : "corrected"));
    bar.append(mine);
  }
  const editor = el("div", "review-editor");
  editor.hidden = true;
  const current = unit.mine || unit;
  const flags = el("div", "review-line", "labels: ");
  const primaries = el("div", "review-line", "primary: ");
  for (const l of review.labels) {
    if (l.id !== "none") {
      const box = el("label", "pick");
      const input = el("input");
      Object.assign(input, {type: "checkbox", value: l.id, checked: current.labels.includes(l.id)});
      box.append(input, document.createTextNode(l.name));
      flags.append(box);
    }
    const choice = el("label", "pick");
    const radio = el("input");
    Object.assign(radio, {type: "radio", name: "primary-" + unit.unit_id, value: l.id, checked: current.primary === l.id});
    choice.append(radio, document.createTextNode(l.name));
    primaries.append(choice);
  }
  const save = el("button", "save", "Save label");
  save.type = "button";
  save.addEventListener("click", () => {
    const chosenPrimary = editor.querySelector('input[type="radio"]:checked');
    if (!chosenPrimary) { say("choose a primary instrument", true); return; }
    const flagged = [...flags.querySelectorAll("input:checked")].map((i) => i.value);
    labelUnit(unit, flagged.filter((l) => l !== chosenPrimary.value), chosenPrimary.value);
  });
  editor.append(flags, primaries, save);
  correct.addEventListener("click", () => { editor.hidden = !editor.hidden; });
  bar.append(editor);
  return bar;
}

async function labelUnit(unit, labels, primary) {
  try {
    const made = await api("POST", "/api/instruments", {unit_id: unit.unit_id, labels, primary});
    unit.mine = {labels: made.labels, primary: made.primary};
    document.querySelector(`.review[data-unit="${CSS.escape(unit.unit_id)}"]`).replaceWith(reviewBar(unit));
    say(`${unit.unit_id}: labelled ${made.labels.map(labelName).join(", ")} (primary ${labelName(made.primary)})`);
  } catch (error) { say(error.message, true); }
}

// --- memos on the document, its units and the codes -----------------------------------------------

function memoTargetName(memo) {
  if (memo.target_kind === "code") {
    const code = codebook.codes.find((c) => c.id === memo.target);
    return "code " + (code ? code.name : memo.target);
  }
  return memo.target_kind === "document" ? "this document" : `${memo.target_kind} ${memo.target}`;
}

function renderMemos() {
  const all = [...doc.memos, ...codeMemos];
  $("memo-count").textContent = String(all.length);
  const list = $("memos");
  list.replaceChildren();
  for (const memo of all) {
    const item = el("li");
    item.append(el("span", "memo-target", memoTargetName(memo)), el("span", "who", memo.coder),
                el("div", "memo-text", memo.text));
    list.append(item);
  }
  const select = $("memo-target");
  const kept = select.value;
  select.replaceChildren();
  const add = (value, text) => { const option = el("option", "", text); option.value = value; select.append(option); };
  add("document\t" + docId, "this document");
  for (const unit of doc.units) add("unit\t" + unit.unit_id, "unit " + unit.unit_id);
  for (const code of codebook.codes) add("code\t" + code.id, "code " + code.name);
  if ([...select.options].some((o) => o.value === kept)) select.value = kept;
}

$("memo-save").addEventListener("click", async () => {
  const [target_kind, target] = $("memo-target").value.split("\t");
  const text = $("memo-text").value;
  if (!text.trim()) { say("write the memo first", true); return; }
  try {
    const made = await api("POST", "/api/memos", {target_kind, target, text});
    $("memo-text").value = "";
    say(`memo #${made.id} on ${target_kind} ${target}`);
    codeMemos = await api("GET", "/api/memos?target_kind=code");
    await reload();
  } catch (error) { say(error.message, true); }
});

function renderCodings() {
  const list = $("codings");
  list.replaceChildren();
  const sorted = doc.codings.slice().sort((a, b) => a.start - b.start || a.id - b.id);
  $("coding-count").textContent = String(sorted.length);
  for (const c of sorted) {
    const item = document.createElement("li");
    item.dataset.id = String(c.id);
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = colourOf(c.code, 60);
    const code = codebook.codes.find((k) => k.id === c.code);
    chip.textContent = code ? code.name : c.code;
    chip.title = c.code_path || c.code;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = c.coder;
    const excerpt = document.createElement("div");
    excerpt.className = "excerpt";
    excerpt.textContent = (c.text || "").slice(0, 80);
    item.append(chip, who, excerpt);
    item.addEventListener("click", () => showDetail(c));
    list.append(item);
  }
}

function renderCodes() {
  const box = $("codes");
  box.replaceChildren();
  const query = $("code-search").value.trim().toLowerCase();
  for (const code of codebook.codes) {
    const haystack = `${code.id} ${code.name} ${code.definition || ""}`.toLowerCase();
    if (query && !haystack.includes(query)) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "code" + (code.codable ? "" : " container") + (chosen.has(code.id) ? " chosen" : "");
    button.style.paddingLeft = `${0.4 + code.depth * 1.1}em`;
    button.style.borderLeftColor = code.color;
    button.disabled = !code.codable;
    button.dataset.code = code.id;
    const key = shortcuts.indexOf(code.id);
    button.textContent = (key >= 0 ? `${key + 1} ` : "") + code.name;
    button.title = code.definition || code.id;
    button.addEventListener("click", (event) => pick(code.id, event.shiftKey || event.ctrlKey || event.metaKey));
    box.append(button);
  }
  const many = $("apply-many");
  many.hidden = chosen.size < 2;
  many.textContent = `apply ${chosen.size} codes`;
}

// --- selection → offsets -----------------------------------------------------------------------

function segmentOf(node) {
  const element = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
  return element && element.closest("#text span[data-o]");
}

function textNodes() {
  return [...$("text").querySelectorAll("span[data-o]")].map((span) => span.firstChild).filter(Boolean);
}

function pointToOffset(node, offset) {
  const segment = segmentOf(node);
  if (segment && node.nodeType === Node.TEXT_NODE) {
    return Number(segment.dataset.o) + codePoints(node.data.slice(0, offset));
  }
  // an element boundary (a label, a block): the next text segment's start, or the end of the text
  const nodes = textNodes();
  const boundary = document.createRange();
  boundary.setStart(node, offset);
  for (const text of nodes) {
    if (boundary.comparePoint(text, 0) >= 0) return Number(text.parentElement.dataset.o);
  }
  const last = nodes[nodes.length - 1];
  return last ? Number(last.parentElement.dataset.o) + codePoints(last.data) : 0;
}

function readSelection() {
  const chosenRange = window.getSelection();
  if (!chosenRange.rangeCount || chosenRange.isCollapsed) return null;
  const range = chosenRange.getRangeAt(0);
  if (!$("text").contains(range.commonAncestorContainer)) return null;
  const start = pointToOffset(range.startContainer, range.startOffset);
  const end = pointToOffset(range.endContainer, range.endOffset);
  return end > start ? {start, end} : null;
}

document.addEventListener("selectionchange", () => {
  const found = readSelection();
  if (found) {
    selection = found;
    const index = utf16Index(doc.text);
    const shown = doc.text.slice(index[found.start], index[found.end]);
    $("selection").textContent = `${found.start}–${found.end}: ${shown.slice(0, 60)}${shown.length > 60 ? "…" : ""}`;
  }
});

// --- applying, changing and removing codes -----------------------------------------------------

async function apply(codes) {
  if (!selection) { say("select some text first", true); return; }
  try {
    const made = await api("POST", "/api/codings", {doc_id: docId, start: selection.start, end: selection.end, codes});
    say(`coded ${selection.start}–${selection.end} with ${codes.join(", ")} (#${made.ids.join(", #")})`);
    chosen.clear();
    selection = null;
    window.getSelection().removeAllRanges();
    await reload();
  } catch (error) { say(error.message, true); }
}

function pick(code, addToSet) {
  if (addToSet) {
    chosen.has(code) ? chosen.delete(code) : chosen.add(code);
    renderCodes();
  } else {
    apply([code]);
  }
}

function showDetail(coding) {
  const detail = $("detail");
  detail.hidden = false;
  detail.dataset.id = String(coding.id);
  $("detail-code").textContent = coding.code_path || coding.code;
  $("detail-coder").textContent = `#${coding.id} · ${coding.coder} · ${coding.start}–${coding.end}`;
  $("detail-text").textContent = coding.text || "";
  $("detail-memo").value = coding.memo || "";
  const recode = $("detail-recode");
  recode.replaceChildren();
  for (const code of codebook.codes.filter((c) => c.codable)) {
    const option = document.createElement("option");
    option.value = code.id;
    option.textContent = code.name;
    option.selected = code.id === coding.code;
    recode.append(option);
  }
  const mine = coding.coder === doc.coder;
  $("detail-save").disabled = !mine;
  $("detail-remove").disabled = !mine;
}

$("detail-save").addEventListener("click", async () => {
  const id = Number($("detail").dataset.id);
  const coding = doc.codings.find((c) => c.id === id);
  const body = {};
  if ($("detail-recode").value !== coding.code) body.code = $("detail-recode").value;
  if ($("detail-memo").value !== (coding.memo || "")) body.memo = $("detail-memo").value;
  if (!Object.keys(body).length) { say("nothing changed"); return; }
  try { await api("PATCH", `/api/codings/${id}`, body); say(`coding #${id} changed`); $("detail").hidden = true; await reload(); }
  catch (error) { say(error.message, true); }
});

$("detail-remove").addEventListener("click", async () => {
  const id = Number($("detail").dataset.id);
  try { await api("DELETE", `/api/codings/${id}`); say(`coding #${id} removed (kept in its history)`); $("detail").hidden = true; await reload(); }
  catch (error) { say(error.message, true); }
});

$("apply-many").addEventListener("click", () => apply([...chosen]));
$("code-search").addEventListener("input", renderCodes);
$("show-others").addEventListener("change", reload);

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select")) return;
  if (/^[1-9]$/.test(event.key) && shortcuts[Number(event.key) - 1]) {
    apply([shortcuts[Number(event.key) - 1]]);
  } else if (event.key === "Enter" && chosen.size) {
    apply([...chosen]);
  }
});

async function reload() {
  const scroll = window.scrollY;
  doc = await api("GET", `/api/documents/${docId}?others=${$("show-others").checked}`);
  const counts = new Map();
  for (const c of doc.codings) if (c.coder === doc.coder) counts.set(c.code, (counts.get(c.code) || 0) + 1);
  shortcuts = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 9).map((e) => e[0]);
  render();
  renderCodes();
  window.scrollTo(0, scroll);
}

(async () => {
  try {
    codebook = await api("GET", "/api/codebook");
    codeMemos = await api("GET", "/api/memos?target_kind=code");
    $("show-others").checked = workspace.dataset.blind !== "true";
    if (workspace.dataset.kind === "policy") review = await api("GET", `/api/documents/${docId}/instruments`);
    await reload();
  } catch (error) { say(error.message, true); }
})();
