// The admin console (/admin): upload a catalog with its images, watch the jobs, read a job's
// rejected rows and download them as CSV, cancel and resume, reconcile, manage tokens.
"use strict";

(() => {
  const { api, el, when } = Admin;
  const $ = (id) => document.getElementById(id);
  const ACTIVE = new Set(["queued", "running"]);
  let shownJob = null; // the job whose report is open
  let pollTimer = null;

  // --- upload ----------------------------------------------------------------------------
  const catalogInput = $("catalog-file");
  const imagesInput = $("images-file");
  const zone = $("drop-zone");

  function putFiles(files) {
    for (const file of files) {
      const target = /\.zip$/i.test(file.name) ? imagesInput : catalogInput;
      const list = new DataTransfer();
      list.items.add(file);
      target.files = list.files;
    }
  }
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    putFiles(event.dataTransfer.files);
  });

  // XMLHttpRequest, not fetch: it reports the bytes sent, for the progress bar.
  function send(form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/admin/uploads");
      xhr.setRequestHeader("Authorization", `Bearer ${sessionStorage.getItem("vitrine.token")}`);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { /* not JSON */ }
        if (xhr.status === 202) resolve(body);
        else reject(new Admin.ApiError(xhr.status, body?.error?.code,
          body?.error?.message || `${xhr.status} ${xhr.statusText}`));
      });
      xhr.addEventListener("error", () => reject(new Admin.ApiError(0, "network",
        "The upload did not reach the server.")));
      xhr.send(form);
    });
  }

  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = $("upload-status");
    const bar = $("upload-progress");
    const button = $("upload-button");
    if (!catalogInput.files.length) {
      status.textContent = "Choose a catalog file first.";
      return;
    }
    const form = new FormData();
    form.append("catalog", catalogInput.files[0]);
    if (imagesInput.files.length) form.append("images", imagesInput.files[0]);
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    status.classList.remove("error");
    status.textContent = "Uploading…";
    try {
      const job = await send(form, (share) => {
        bar.value = Math.round(share * 100);
        status.textContent = `Uploading… ${bar.value} %`;
      });
      status.textContent = `Uploaded; job ${job.job_id} is ${job.state}.`;
      event.target.reset();
      await refreshJobs();
      openJob(job.job_id);
    } catch (err) {
      status.classList.add("error");
      status.textContent = `The upload was refused: ${err.message}`;
    } finally {
      bar.hidden = true;
      button.disabled = false;
    }
  });

  // --- jobs ------------------------------------------------------------------------------
  function progressCell(job) {
    const { rows, total } = job.progress;
    const bar = el("progress", { max: String(total || 1), "aria-label": `Rows of ${job.source}` });
    if (total !== null) bar.value = Math.min(rows, total);
    else if (!ACTIVE.has(job.state)) bar.value = 1;
    else bar.removeAttribute("value"); // not counted yet: indeterminate
    const text = total !== null ? `${rows} / ${total}` : `${rows}`;
    return el("td", { class: "progress-cell" }, bar, el("span", { text }));
  }

  function actionsCell(job) {
    const cell = el("td", { class: "actions-cell" });
    cell.append(el("button", { type: "button", text: "Report", onclick: () => openJob(job.job_id),
      "aria-label": `Report of ${job.source}` }));
    if (ACTIVE.has(job.state)) {
      cell.append(el("button", { type: "button", text: "Cancel", "aria-label": `Cancel ${job.source}`,
        onclick: () => act(job, "cancel") }));
    }
    if (job.state === "cancelled") {
      cell.append(el("button", { type: "button", text: "Resume", "aria-label": `Resume ${job.source}`,
        onclick: () => act(job, "resume") }));
    }
    return cell;
  }

  function jobRow(job) {
    const c = job.counts;
    return el("tr", { "data-job": job.job_id },
      el("td", { text: job.source }),
      el("td", {}, el("span", { class: `state ${job.state}`, text: job.state })),
      progressCell(job),
      el("td", { text: String(c.created) }), el("td", { text: String(c.updated) }),
      el("td", { text: String(c.unchanged) }), el("td", { text: String(c.failed) }),
      el("td", { text: when(job.started_at) }),
      actionsCell(job));
  }

  async function refreshJobs() {
    clearTimeout(pollTimer);
    let jobs;
    try {
      jobs = (await api("/api/admin/uploads?limit=20")).jobs;
    } catch (err) {
      $("jobs-status").textContent = `Could not list the jobs: ${err.message}`;
      return;
    }
    $("jobs").tBodies[0].replaceChildren(...jobs.map(jobRow));
    const running = jobs.filter((job) => ACTIVE.has(job.state)).length;
    $("jobs-status").textContent = jobs.length === 0 ? "No uploads yet."
      : running ? `${running} job${running > 1 ? "s" : ""} in progress; updating live.` : "";
    if (shownJob && jobs.some((job) => job.job_id === shownJob)) await showJob(shownJob);
    // Poll while something moves; a quiet console asks nothing.
    if (running) pollTimer = setTimeout(refreshJobs, 1000);
  }

  async function act(job, verb) {
    try {
      await api(`${job.url}/${verb}`, { method: "POST" });
    } catch (err) {
      $("jobs-status").textContent = `Could not ${verb} ${job.source}: ${err.message}`;
    }
    await refreshJobs();
  }

  async function showJob(jobId) {
    const job = await api(`/api/admin/uploads/${encodeURIComponent(jobId)}`);
    const c = job.counts;
    $("job-title").textContent = `Report: ${job.source}`;
    $("job-summary").textContent = `${job.state} · ${c.received} rows received: ${c.created} created, ` +
      `${c.updated} updated, ${c.unchanged} unchanged, ${c.failed} rejected`;
    $("job-message").textContent = job.message || "";
    const rows = job.errors.map((e) => el("tr", {},
      el("td", { text: e.line ?? "" }), el("td", { text: e.sku ?? "" }), el("td", { text: e.reason })));
    $("job-errors").tBodies[0].replaceChildren(...rows);
    $("job-errors").hidden = rows.length === 0;
    $("job-csv").hidden = rows.length === 0;
    $("job-no-errors").hidden = rows.length > 0 || ACTIVE.has(job.state);
    $("job-csv").onclick = () => download(job.errors_csv, `upload-${job.job_id}-errors.csv`);
  }

  async function openJob(jobId) {
    shownJob = jobId;
    const section = $("job-detail");
    try {
      await showJob(jobId);
    } catch (err) {
      $("jobs-status").textContent = `Could not open the report: ${err.message}`;
      return;
    }
    section.hidden = false;
    section.focus();
  }

  // The CSV needs the token, so it is fetched and handed to the browser as a file.
  async function download(url, name) {
    const blob = await (await api(url, { raw: true })).blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // --- reconcile -------------------------------------------------------------------------
  async function reconcile(dryRun) {
    const out = $("reconcile-result");
    const repair = $("reconcile-repair");
    out.replaceChildren(el("p", { text: dryRun ? "Comparing…" : "Repairing…" }));
    repair.disabled = true;
    let report;
    try {
      report = await api(`/api/admin/reconcile?dry_run=${dryRun}`, { method: "POST" });
    } catch (err) {
      out.replaceChildren(el("p", { class: "error", text: err.message }));
      return;
    }
    const parts = [el("p", { text: report.summary })];
    for (const [label, skus] of [["Missing from the index", report.missing],
      ["Stale vectors", report.stale], ["Orphan points", report.orphans],
      ["Indexed but not marked", report.unmarked]]) {
      if (skus.length) {
        const shown = skus.slice(0, 20).join(", ") + (skus.length > 20 ? ", …" : "");
        parts.push(el("p", {}, el("strong", { text: `${label} (${skus.length}): ` }), shown));
      }
    }
    out.replaceChildren(...parts);
    repair.disabled = !(dryRun && !report.clean);
  }
  $("reconcile-check").addEventListener("click", () => reconcile(true));
  $("reconcile-repair").addEventListener("click", () => reconcile(false));

  // --- tokens ----------------------------------------------------------------------------
  async function refreshTokens() {
    const list = (await api("/api/admin/tokens")).tokens;
    const rows = list.map((t) => el("tr", {},
      el("td", { text: t.name + (t.current ? " (this tab)" : "") }),
      el("td", { text: when(t.created_at) }), el("td", { text: when(t.last_used_at) }),
      el("td", { text: t.active ? "active" : `revoked ${when(t.revoked_at)}` }),
      el("td", {}, t.active ? el("button", { type: "button", text: "Revoke",
        "aria-label": `Revoke ${t.name}`, onclick: () => revoke(t) }) : "")));
    $("tokens").tBodies[0].replaceChildren(...rows);
  }

  async function revoke(token) {
    const warning = token.current ? " This tab signs in with it and will be signed out." : "";
    if (!confirm(`Revoke the token ${token.name}?${warning}`)) return;
    try {
      await api(`/api/admin/tokens/${encodeURIComponent(token.name)}`, { method: "DELETE" });
      $("tokens-error").textContent = "";
      if (token.current) Admin.signOut(`Signed out: the token ${token.name} was revoked.`);
      else await refreshTokens();
    } catch (err) {
      $("tokens-error").textContent = err.message;
    }
  }

  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await api("/api/admin/tokens", { method: "POST", json: { name: $("token-name").value } });
      $("token-created-name").textContent = made.name;
      $("token-secret").value = made.token;
      $("token-created").hidden = false;
      $("tokens-error").textContent = "";
      event.target.reset();
      await refreshTokens();
      $("token-secret").select();
    } catch (err) {
      $("tokens-error").textContent = err.message;
    }
  });
  $("token-copy").addEventListener("click", () => navigator.clipboard?.writeText($("token-secret").value));

  Admin.ready(() => {
    refreshJobs();
    refreshTokens().catch((err) => { $("tokens-error").textContent = err.message; });
  });
})();
