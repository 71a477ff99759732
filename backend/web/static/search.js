// The search page: it asks the public JSON API (/api/search, /api/search/image,
// /api/products/<sku>/similar) and draws the answer. The query and filters live in the URL,
// so a search can be shared, reloaded and gone back to.
"use strict";

(() => {
  const pageSize = window.VITRINE.pageSize;
  const $ = (id) => document.getElementById(id);
  const els = {
    form: $("search"), q: $("q"), photo: $("photo"), status: $("status"), results: $("results"),
    card: $("card"), inStock: $("in-stock"), priceMin: $("price-min"), priceMax: $("price-max"),
    histogram: $("price-histogram"), category: $("facet-category"), brand: $("facet-brand"),
    clear: $("clear-filters"), pager: $("pager"), prev: $("prev"), next: $("next"),
    pageNumber: $("page-number"), dropHint: $("drop-hint"), toggle: $("toggle-filters"),
    panel: $("filter-panel"), main: $("main"),
  };

  const state = {
    q: "", similar: null, similarTitle: "", image: null, categories: [], brands: [],
    priceMin: "", priceMax: "", inStock: false, offset: 0,
  };
  let inFlight = null; // the request a newer one cancels

  // --- state <-> URL ---------------------------------------------------------------------
  function readUrl() {
    const params = new URLSearchParams(location.search);
    state.q = params.get("q") || "";
    state.similar = params.get("similar");
    state.similarTitle = params.get("like") || "";
    state.categories = params.getAll("category");
    state.brands = params.getAll("brand");
    state.priceMin = params.get("price_min") || "";
    state.priceMax = params.get("price_max") || "";
    state.inStock = params.get("in_stock") === "true";
    state.offset = Number(params.get("offset")) || 0;
    state.image = null;
  }

  function filterParams() {
    const params = new URLSearchParams();
    state.categories.forEach((c) => params.append("category", c));
    state.brands.forEach((b) => params.append("brand", b));
    if (state.priceMin !== "") params.set("price_min", state.priceMin);
    if (state.priceMax !== "") params.set("price_max", state.priceMax);
    if (state.inStock) params.set("in_stock", "true");
    params.set("limit", String(pageSize));
    params.set("offset", String(state.offset));
    return params;
  }

  function writeUrl() {
    if (state.image) return; // a photo cannot travel in a URL
    const params = filterParams();
    params.delete("limit");
    if (state.offset === 0) params.delete("offset");
    if (state.similar) {
      params.set("similar", state.similar);
      params.set("like", state.similarTitle);
    } else if (state.q) {
      params.set("q", state.q);
    }
    const url = params.toString() ? `?${params}` : location.pathname;
    if (url !== location.search) history.pushState(null, "", url);
  }

  function showState() {
    els.q.value = state.q;
    els.inStock.checked = state.inStock;
    els.priceMin.value = state.priceMin;
    els.priceMax.value = state.priceMax;
  }

  // --- asking the API --------------------------------------------------------------------
  async function search({ push = true } = {}) {
    if (push) writeUrl();
    showState();
    if (!state.q && !state.similar && !state.image) {
      setStatus("Type what you are looking for, or drop a photo.");
      els.results.replaceChildren();
      els.pager.hidden = true;
      return;
    }
    if (inFlight) inFlight.abort();
    const mine = new AbortController();
    inFlight = mine;
    const params = filterParams();
    let request;
    if (state.image) {
      const form = new FormData();
      form.append("image", state.image, state.image.name || "photo");
      for (const [key, value] of params) form.append(key, value);
      request = fetch("/api/search/image", { method: "POST", body: form, signal: mine.signal });
    } else if (state.similar) {
      const sku = encodeURIComponent(state.similar);
      request = fetch(`/api/products/${sku}/similar?${params}`, { signal: mine.signal });
    } else {
      params.set("q", state.q);
      request = fetch(`/api/search?${params}`, { signal: mine.signal });
    }
    setStatus("Searching…");
    els.main.setAttribute("aria-busy", "true");
    try {
      const response = await request;
      const answer = await response.json();
      if (!response.ok) {
        const why = answer.error ? answer.error.message : response.statusText;
        throw new Error(response.status === 503 ? `Search is unavailable right now: ${why}` : why);
      }
      render(answer);
    } catch (error) {
      if (error.name === "AbortError") return;
      setStatus(error.message, true);
      els.results.replaceChildren();
      els.pager.hidden = true;
    } finally {
      // an answer that a newer search replaced leaves the page busy for that newer one
      if (inFlight === mine) els.main.removeAttribute("aria-busy");
    }
  }

  function setStatus(text, isError = false) {
    els.status.textContent = text;
    els.status.classList.toggle("error", isError);
  }

  // --- drawing the answer ----------------------------------------------------------------
  function render(answer) {
    const results = answer.results;
    const page = Math.floor(state.offset / pageSize) + 1;
    const what = state.image ? "your photo"
      : state.similar ? `products like “${state.similarTitle || state.similar}”`
        : `“${state.q}”`;
    if (results.length === 0) {
      setStatus(state.offset ? `No more results for ${what}.` : `Nothing found for ${what}.`);
    } else {
      const first = state.offset + 1;
      setStatus(`Results ${first}–${state.offset + results.length} for ${what}`);
    }
    els.results.replaceChildren(...results.map(card));
    renderFacets(answer.facets || {});
    els.pager.hidden = state.offset === 0 && results.length < pageSize;
    els.prev.disabled = state.offset === 0;
    els.next.disabled = results.length < pageSize;
    els.pageNumber.textContent = `Page ${page}`;
  }

  function money(price, currency) {
    if (price === null || price === undefined) return "";
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(price);
    } catch {
      return `${price} ${currency}`;
    }
  }

  function card(result) {
    const product = result.product;
    const node = els.card.content.firstElementChild.cloneNode(true);
    node.dataset.sku = product.sku;
    const thumb = node.querySelector(".thumb");
    if (product.images.length) {
      thumb.src = product.images[0];
      thumb.alt = product.title;
    } else {
      thumb.remove();
    }
    node.querySelector(".title").textContent = product.title;
    const [lang, other] = Object.entries(product.titles || {})[0] || [];
    const otherTitle = node.querySelector(".other-title");
    if (other) {
      otherTitle.textContent = other;
      otherTitle.lang = lang;
    } else {
      otherTitle.remove();
    }
    node.querySelector(".price").textContent = money(product.price, product.currency);
    const stock = node.querySelector(".stock");
    stock.textContent = product.in_stock ? "In stock" : "Out of stock";
    stock.classList.add(product.in_stock ? "in" : "out");
    node.querySelector(".where").textContent =
      [product.category, product.brand].filter(Boolean).join(" · ");
    node.querySelector(".similar").addEventListener("click", () => {
      Object.assign(state, {
        similar: product.sku, similarTitle: product.title, q: "", image: null, offset: 0,
      });
      search();
      els.main.focus();
    });
    explain(node.querySelector(".explain"), result.explain);
    return node;
  }

  function explain(details, why) {
    if (!why || !why.signals) {
      details.remove();
      return;
    }
    const rows = Object.entries(why.signals).map(([name, signal]) => {
      const row = document.createElement("tr");
      const cells = signal
        ? [name, String(signal.rank), signal.score.toFixed(2), String(signal.weight ?? 1)]
        : [name, "not in its candidates", "", ""];
      cells.forEach((text, i) => {
        const cell = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) cell.scope = "row";
        cell.textContent = text;
        row.append(cell);
      });
      return row;
    });
    details.querySelector("tbody").replaceChildren(...rows);
    const notes = [];
    if (why.fusion) notes.push(`fused by ${why.fusion.toUpperCase()}`);
    if (why.exact_name) notes.push("its name is the query");
    if (why.matched && why.matched.length) notes.push(`matched: ${why.matched.join(", ")}`);
    details.querySelector(".matched").textContent = notes.join("; ");
  }

  function renderFacets(facets) {
    facetBoxes(els.category, facets.category || [], state.categories, "category");
    facetBoxes(els.brand, facets.brand || [], state.brands, "brand");
    histogram(facets.price || []);
  }

  function facetBoxes(container, counts, chosen, name) {
    const values = new Map(counts.map((c) => [c.value, c.count]));
    chosen.forEach((value) => { if (!values.has(value)) values.set(value, 0); });
    const boxes = [...values].map(([value, count]) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = name;
      box.value = value;
      box.checked = chosen.includes(value);
      box.addEventListener("change", () => {
        const list = name === "category" ? state.categories : state.brands;
        if (box.checked) list.push(value);
        else list.splice(list.indexOf(value), 1);
        state.offset = 0;
        search();
      });
      const text = document.createElement("span");
      text.textContent = value;
      const number = document.createElement("span");
      number.className = "count";
      number.textContent = String(count);
      label.append(box, text, number);
      return label;
    });
    container.replaceChildren(...boxes);
  }

  function histogram(buckets) {
    const most = Math.max(1, ...buckets.map((b) => b.count));
    const bars = buckets.map((bucket) => {
      const button = document.createElement("button");
      button.type = "button";
      const top = bucket.max === null ? "" : String(bucket.max);
      const range = bucket.max === null ? `${bucket.min}+` : `${bucket.min}–${bucket.max}`;
      button.setAttribute("aria-label", `Price ${range}: ${bucket.count} products`);
      button.title = `${range}: ${bucket.count}`;
      button.setAttribute("aria-pressed",
        String(state.priceMin === String(bucket.min) && state.priceMax === top));
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.height = `${Math.round((bucket.count / most) * 100)}%`;
      button.append(bar);
      button.addEventListener("click", () => {
        state.priceMin = String(bucket.min);
        state.priceMax = top;
        state.offset = 0;
        search();
      });
      return button;
    });
    els.histogram.replaceChildren(...bars);
  }

  // --- what the shopper does -------------------------------------------------------------
  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(state, { q: els.q.value.trim(), similar: null, image: null, offset: 0 });
    search();
  });

  function searchByPhoto(file) {
    if (!file || !file.type.startsWith("image/")) {
      setStatus("That is not a picture: drop or choose a PNG, JPEG, WebP or GIF.", true);
      return;
    }
    Object.assign(state, { image: file, q: "", similar: null, offset: 0 });
    history.pushState(null, "", location.pathname);
    search({ push: false });
  }

  els.photo.addEventListener("change", () => searchByPhoto(els.photo.files[0]));
  document.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) searchByPhoto(file);
  });
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    els.dropHint.hidden = false;
  });
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) els.dropHint.hidden = true;
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    els.dropHint.hidden = true;
    searchByPhoto(event.dataTransfer.files[0]);
  });

  els.inStock.addEventListener("change", () => {
    state.inStock = els.inStock.checked;
    state.offset = 0;
    search();
  });
  for (const [input, key] of [[els.priceMin, "priceMin"], [els.priceMax, "priceMax"]]) {
    input.addEventListener("change", () => {
      state[key] = input.value;
      state.offset = 0;
      search();
    });
  }
  els.clear.addEventListener("click", () => {
    Object.assign(state, { categories: [], brands: [], priceMin: "", priceMax: "", inStock: false });
    state.offset = 0;
    search();
  });
  els.prev.addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - pageSize);
    search();
    els.main.focus();
  });
  els.next.addEventListener("click", () => {
    state.offset += pageSize;
    search();
    els.main.focus();
  });
  els.toggle.addEventListener("click", () => {
    const open = els.toggle.getAttribute("aria-expanded") !== "true";
    els.toggle.setAttribute("aria-expanded", String(open));
    els.panel.classList.toggle("open", open);
  });
  window.addEventListener("popstate", () => {
    readUrl();
    search({ push: false });
  });

  readUrl();
  search({ push: false });
})();
