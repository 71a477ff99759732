// Index inspection (/admin/index): what Qdrant's dashboard shows for the collection, a
// points browser with filters, and each point's payload, vectors and nearest neighbours.
"use strict";

(() => {
  const { api, el } = Admin;
  const $ = (id) => document.getElementById(id);
  const PAGE = 20;
  let after = null; // the next page's start
  let similarNames = new Set();

  function facts(target, pairs) {
    target.replaceChildren(...pairs.flatMap(([term, value]) =>
      [el("dt", { text: term }), el("dd", {}, value === null || value === undefined ? "—" : String(value))]));
  }

  function list(target, items, empty) {
    target.replaceChildren(...(items.length ? items : [empty]).map((text) => el("li", { text })));
  }

  async function overview() {
    let info;
    try {
      info = await api("/api/admin/index");
    } catch (err) {
      $("overview-error").textContent = `The index could not be read: ${err.message}`;
      return;
    }
    $("overview-error").textContent = "";
    const col = info.collection;
    const engine = info.engine || {};
    facts($("collection"), [
      ["Collection", info.collection_name], ["Version", col?.version], ["Engine", engine.engine],
      ["Location", engine.location], ["Points", col?.points],
      ["Encoders", Object.entries(info.encoders).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`).join(" · ")],
    ]);
    if (engine.dashboard) {
      $("dashboard-link").href = engine.dashboard;
      $("dashboard").hidden = false;
    }
    list($("versions"), (engine.versions || []).map((v) => (v === col?.version ? `${v} (in use)` : v)), "none");
    list($("aliases"), Object.entries(engine.aliases || {}).map(([a, v]) => `${a} → ${v}`), "none");

    const rows = [];
    for (const [name, v] of Object.entries(col?.vectors || {})) {
      rows.push(el("tr", {}, el("th", { scope: "row", text: name }),
        el("td", { text: v.multi ? "dense, multi" : "dense" }), el("td", { text: String(v.size) }),
        el("td", { text: v.distance || "—" }), el("td", { text: v.encoder || "—" }),
        el("td", { text: String(v.points) })));
    }
    for (const [name, v] of Object.entries(col?.sparse_vectors || {})) {
      rows.push(el("tr", {}, el("th", { scope: "row", text: name }), el("td", { text: "sparse" }),
        el("td", { text: "—" }), el("td", { text: "dot" }), el("td", { text: "keywords" }),
        el("td", { text: String(v.points) })));
    }
    $("vectors").tBodies[0].replaceChildren(...rows);
    similarNames = new Set(Object.keys(col?.vectors || {}).filter((n) => ["text", "image", "fused"].includes(n)));

    $("payload-indexes").tBodies[0].replaceChildren(...Object.entries(engine.payload_indexes || {})
      .map(([field, kind]) => el("tr", {}, el("td", { text: field }), el("td", { text: kind }))));
    const cat = info.catalog;
    facts($("state"), [
      ["Segments", engine.segments], ["Vectors in indexed segments", engine.indexed_vectors],
      ["Products in the catalog", cat.products], ["Indexed", cat.indexed],
      ["Pending indexing", cat.pending],
      ["Points beyond the indexed products", col ? Math.max(0, col.points - cat.indexed) : null],
    ]);
  }

  // --- points ----------------------------------------------------------------------------
  function filterParams() {
    const params = new URLSearchParams();
    const add = (key, id) => { const v = $(id).value.trim(); if (v) params.set(key, v); };
    add("category", "f-category");
    add("brand", "f-brand");
    add("price_min", "f-price-min");
    add("price_max", "f-price-max");
    if ($("f-in-stock").checked) params.set("in_stock", "true");
    params.set("limit", String(PAGE));
    return params;
  }

  async function points(start) {
    const params = filterParams();
    if (start) params.set("after", start);
    const status = $("points-status");
    let page;
    try {
      page = await api(`/api/admin/index/points?${params}`);
    } catch (err) {
      status.textContent = err.message;
      status.classList.add("error");
      return;
    }
    status.classList.remove("error");
    status.textContent = `${page.count} point${page.count === 1 ? "" : "s"} match.`;
    $("points").tBodies[0].replaceChildren(...page.points.map((p) => {
      const pl = p.payload;
      return el("tr", {},
        el("td", { text: pl.sku }), el("td", { text: pl.title || "" }),
        el("td", { text: pl.category || "" }), el("td", { text: pl.brand || "" }),
        el("td", { text: pl.price ?? "" }), el("td", { text: pl.in_stock ? "yes" : "no" }),
        el("td", {}, el("button", { type: "button", text: "Inspect", "aria-label": `Inspect ${pl.sku}`,
          onclick: () => inspect(pl.sku) })));
    }));
    after = page.next;
    $("points-next").disabled = !after;
    $("points-first").disabled = !start;
  }

  $("points-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    points(null);
  });
  $("points-next").addEventListener("click", () => points(after));
  $("points-first").addEventListener("click", () => points(null));

  async function inspect(sku) {
    const section = $("point");
    let point;
    try {
      point = await api(`/api/admin/index/points/${encodeURIComponent(sku)}`);
    } catch (err) {
      $("points-status").textContent = err.message;
      return;
    }
    $("point-title").textContent = `Point ${point.sku}`;
    const cat = point.catalog;
    $("point-current").textContent = `id ${point.id} · ` + (cat === null ? "no catalog product (an orphan)"
      : cat.current ? "current with the catalog" : "stale: the catalog changed since it was indexed")
      + (point.missing_vectors.length ? ` · no ${point.missing_vectors.join(", ")} vector` : "");
    $("point-vectors").tBodies[0].replaceChildren(...Object.entries(point.vectors).map(([name, v]) =>
      el("tr", {}, el("th", { scope: "row", text: name }),
        el("td", { text: v.rows ? `${v.rows} × ${v.size}` : String(v.size) }),
        el("td", { text: v.rows ? v.norms.join(", ") : String(v.norm) }),
        el("td", { class: "values", text: `[${v.head.join(", ")}, …]` }),
        el("td", {}, similarNames.has(name) ? el("button", { type: "button", text: "Find similar",
          "aria-label": `Find products similar to ${point.sku} by ${name}`,
          onclick: () => similar(point.sku, name) }) : ""))));
    $("point-payload").textContent = JSON.stringify(point.payload, null, 2);
    $("similar-title").textContent = "Nearest points";
    $("similar-hint").hidden = false;
    $("similar").replaceChildren();
    section.hidden = false;
    section.focus();
  }

  async function similar(sku, using) {
    const heading = $("similar-title");
    $("similar-hint").hidden = true;
    heading.textContent = `Nearest to ${sku} by ${using}`;
    let answer;
    try {
      answer = await api(`/api/products/${encodeURIComponent(sku)}/similar?using=${using}&limit=10`);
    } catch (err) {
      $("similar").replaceChildren(el("li", { class: "error", text: err.message }));
      return;
    }
    $("similar").replaceChildren(...answer.results.map((hit) => el("li", {},
      el("button", { type: "button", class: "link", text: `${hit.product.title} (${hit.product.sku})`,
        onclick: () => inspect(hit.product.sku) }),
      el("span", { class: "muted", text: ` ${hit.score.toFixed(3)}` }))));
  }

  Admin.ready(() => {
    overview();
    points(null);
  });
})();
