// Recyclab pages: small progressive enhancements; every page works without them.
"use strict";

// Live dashboard: poll the JSON endpoint every second and patch the values in place. The polls
// say they are the page's own (X-Recyclab-Background): they keep no idle login alive.
(function liveDashboard() {
  const grid = document.getElementById("live-grid");
  if (!grid) return;
  const note = document.getElementById("live-note");
  const url = grid.dataset.liveUrl;
  const staleAfterMs = Number(grid.dataset.staleAfterS) * 1000;
  let busy = false;
  let lastUpdate = Date.now();
  // No update for the stale limit: whether data still comes in is unknown here, so nothing is
  // called running and no age is given (a reading's time stays). An alarm stays shown, marked
  // as without recent data, as the server marks one whose readings stopped.
  function staleAll() {
    grid.querySelectorAll("[data-live-state]").forEach((badge) => {
      const inAlarm = badge.classList.contains("alarm");
      if (!inAlarm) {
        badge.className = "badge stale";
        badge.textContent = grid.dataset.staleLabel;
      }
      const staleBadge = grid.querySelector(`[data-live-stale-installation="${CSS.escape(badge.dataset.liveState)}"]`);
      if (staleBadge) staleBadge.hidden = !inAlarm;
    });
    grid.querySelectorAll("tr[data-sensor]").forEach((row) => {
      if (row.className === "ok") row.className = "stale";
      row.querySelector("[data-live-age]").textContent = "";
      row.querySelector("[data-live-stale]").hidden = row.className !== "alarm";
    });
  }
  async function tick() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json", "X-Recyclab-Background": "1" }, cache: "no-store",
        // a request that hangs (a cut network, a stuck server) counts as failed
        signal: AbortSignal.timeout(5000),
      });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      for (const [inst, info] of Object.entries(data.installations)) {
        const badge = grid.querySelector(`[data-live-state="${CSS.escape(inst)}"]`);
        if (badge) {
          badge.className = "badge " + info.badge;
          badge.textContent = info.label;
        }
        const staleBadge = grid.querySelector(`[data-live-stale-installation="${CSS.escape(inst)}"]`);
        if (staleBadge) staleBadge.hidden = !info.stale;
        for (const [sensor, s] of Object.entries(info.sensors)) {
          const row = grid.querySelector(`[data-sensor="${CSS.escape(inst + "/" + sensor)}"]`);
          if (!row) continue;
          row.className = s.state;
          row.querySelector("[data-live-value]").textContent = s.display;
          const time = row.querySelector("[data-live-time]");
          time.textContent = s.time;
          time.dataset.ts = s.ts || "";
          row.querySelector("[data-live-age]").textContent = s.age;
          // An alarm says nothing of whether data still comes in; a stale row says it already.
          row.querySelector("[data-live-stale]").hidden = !(s.stale && s.state === "alarm");
        }
      }
      const storeError = document.getElementById("store-error");
      storeError.hidden = !data.store_error;
      storeError.querySelector("[data-store-error]").textContent = data.store_error || "";
      document.getElementById("alarm-count").textContent = data.active_alarms;
      document.getElementById("ingest-status").replaceChildren(...data.ingesters.map((i) => {
        const badge = document.createElement("span");
        badge.className = "badge " + i.badge;
        badge.dataset.ingester = i.ingester;
        badge.textContent = i.text;
        return badge;
      }));
      note.textContent = note.dataset.ok;
      note.classList.remove("lost");
      lastUpdate = Date.now();
    } catch (err) {
      note.textContent = note.dataset.lost;
      note.classList.add("lost");
      if (Date.now() - lastUpdate > staleAfterMs) staleAll();
    } finally {
      busy = false;
    }
  }
  setInterval(tick, 1000);
})();

// Worksheet: ask the server how a value compares with the specification while it is typed.
(function specFlags() {
  const inputs = document.querySelectorAll("input[data-evaluate]");
  inputs.forEach((input) => {
    const row = input.closest("tr");
    const flag = document.getElementById(input.dataset.flag);
    let timer = null;
    let asked = 0;
    async function ask() {
      const value = input.value.trim();
      if (!value) { flag.textContent = ""; flag.className = "flag"; return; }
      const params = new URLSearchParams({ value });
      const unit = row.querySelector('input[name^="unit-"]');
      const uncertainty = row.querySelector('input[name^="uncertainty-"]');
      if (unit) params.set("unit", unit.value);
      if (uncertainty && uncertainty.value.trim()) params.set("uncertainty", uncertainty.value.trim());
      const mine = ++asked;
      try {
        const response = await fetch(`${input.dataset.evaluate}?${params}`, { headers: { Accept: "application/json" } });
        const data = await response.json();
        if (mine !== asked) return; // a newer keystroke has asked since
        // What the value means for the grade when the server says it, else the envelope's flag.
        const shown = data.reach || data;
        flag.className = "flag " + (shown.flag || data.evaluation || "");
        flag.textContent = shown.label || "";
        flag.title = shown.why || "";
        // Each message in its own field's slot, replacing what the server showed there for the
        // fields this check covers (a refusal of the whole row stays).
        const errors = data.errors || {};
        row.querySelectorAll('[data-error-for="value"], [data-error-for="unit"], [data-error-for="uncertainty"]').forEach((slot) => {
          slot.textContent = (errors[slot.dataset.errorFor] || []).join("; ");
        });
        // A field is invalid while one of the slots describing it says why, so that a screen
        // reader on the field says so too.
        row.querySelectorAll("[aria-describedby]").forEach((field) => {
          const said = field.getAttribute("aria-describedby").split(" ").some((id) => document.getElementById(id)?.textContent.trim());
          if (said) field.setAttribute("aria-invalid", "true");
          else field.removeAttribute("aria-invalid");
        });
      } catch (err) {
        flag.textContent = "";
      }
    }
    row.querySelectorAll("input").forEach((el) => el.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(ask, 150);
    }));
    if (input.value) ask();
  });
})();

// Filters that apply as soon as they change (the CSP allows no inline handlers).
document.querySelectorAll("[data-autosubmit]").forEach((el) => {
  el.addEventListener("change", () => el.form.submit());
});

// Worksheets: Enter moves to the next value, as in a spreadsheet (and as a balance or scanner
// that ends its input with Enter expects); only the button submits the sheet.
document.querySelectorAll("form[data-worksheet]").forEach((sheet) => {
  sheet.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.target.tagName !== "INPUT") return;
    event.preventDefault();
    const values = Array.from(sheet.querySelectorAll("input[data-evaluate]"));
    const row = event.target.closest("tr");
    const next = values.find((v) => row.compareDocumentPosition(v) & Node.DOCUMENT_POSITION_FOLLOWING && !row.contains(v));
    if (next) next.focus();
  });
});

// Register lot: offer only the materials the chosen installation's programme line makes (the
// server refuses any other; without this script the options are grouped by line).
document.querySelectorAll("select[data-line-of]").forEach((materials) => {
  const installation = materials.form.elements[materials.dataset.lineOf];
  function offer() {
    const line = installation.selectedOptions[0]?.dataset.line;
    materials.querySelectorAll("optgroup").forEach((group) => {
      const fits = !line || group.dataset.line === line;
      group.hidden = !fits;
      group.disabled = !fits;
    });
    if (materials.selectedOptions[0]?.closest("optgroup")?.disabled) materials.value = "";
  }
  installation.addEventListener("change", offer);
  offer();
});

// "Tick all" boxes in table headers.
document.querySelectorAll("input[data-check-all]").forEach((box) => {
  box.addEventListener("change", () => {
    document.querySelectorAll(`input[name="${box.dataset.checkAll}"]`).forEach((el) => { el.checked = box.checked; });
  });
});

// Scan forms (receiving by barcode): the scanner types an ID and Enter, and the next label may
// be scanned before the answer to this one is back. So the form's values are taken at Enter, the
// ID field is emptied for the next scan at once, and the scans are sent one after another from
// the log (hx-sync queue all; sent from the form, htmx would check the now empty field), each
// answer added on top of it.
document.querySelectorAll("form[data-scan]").forEach((form) => {
  const field = form.elements[form.dataset.scan];
  const log = document.getElementById(form.dataset.scanLog);
  const line = `#${log.id} > li[data-answer]`;
  log.setAttribute("hx-sync", "this:queue all");
  form.addEventListener("submit", (event) => {
    if (!window.htmx) return;  // not loaded yet: the form posts and the page shows the answer
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    field.value = "";
    field.focus();
    htmx.ajax("POST", form.action, { source: log, values, target: log, swap: "afterbegin", select: line });
  });
  // An answer that is not the receive page's (an expired form, a busy database, no answer at
  // all) holds no line for the log: say that the scan did not go in rather than drop it unseen.
  log.addEventListener("htmx:afterRequest", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status === 401) return;  // the page reloads into the login
    const answer = xhr.status ? new DOMParser().parseFromString(xhr.responseText, "text/html") : null;
    if (answer?.querySelector(line)) return;
    const code = event.detail.requestConfig.formData.get(form.dataset.scan);
    const title = answer?.querySelector("h1")?.textContent.trim() || xhr.statusText;
    const text = xhr.status
      ? form.dataset.scanRefused.replace("{answer}", `${xhr.status} ${title}`)
      : form.dataset.scanNoAnswer;
    const message = document.createElement("span");
    message.setAttribute("role", "alert");
    message.textContent = text.replace("{code}", code);
    const item = document.createElement("li");
    item.className = "flash error";
    item.append(message);
    log.prepend(item);
  });
});

// A background request answered 401 means the session ended: reload into the login page
// instead of swapping a login prompt into a chart or panel.
document.body.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.xhr.status === 401) {
    event.detail.shouldSwap = false;
    window.location.reload();
  }
});

// The account menu closes as other menus do: on a click elsewhere or on Escape.
(function accountMenu() {
  const menu = document.querySelector("details.account");
  if (!menu) return;
  document.addEventListener("click", (event) => { if (!menu.contains(event.target)) menu.open = false; });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") menu.open = false; });
})();

// A table wider than the screen scrolls inside its .table-wrap: without a tab stop, a keyboard
// user could not scroll it to the columns on the right (WCAG 2.1.1). Only a wrap that overflows
// gets one, so narrow tables add no stop; it is checked again as the window or the content changes.
(function scrollableTables() {
  function mark(wrap) {
    if (wrap.scrollWidth > wrap.clientWidth) wrap.tabIndex = 0;
    else wrap.removeAttribute("tabindex");
  }
  const observer = new ResizeObserver((entries) => entries.forEach((entry) => mark(entry.target)));
  function watch(root) { root.querySelectorAll(".table-wrap").forEach((wrap) => { mark(wrap); observer.observe(wrap); }); }
  watch(document);
  document.body.addEventListener("htmx:afterSettle", (event) => watch(event.detail.elt));
})();
