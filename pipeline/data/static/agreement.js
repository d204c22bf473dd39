// The agreement view: record the consensus codes of a unit the coders disagree on.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;

for (const row of document.querySelectorAll(".disagreement")) {
  row.querySelector("button.record").addEventListener("click", async () => {
    const codes = [...row.querySelectorAll("input:checked")].map((input) => input.value);
    const message = document.getElementById("message");
    const response = await fetch("/api/consensus", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify({unit_id: row.dataset.unit, codes}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      message.textContent = data.error || `${response.status} ${response.statusText}`;
      message.className = "message error";
      return;
    }
    location.reload();
  });
}
