// Shared by the admin pages: sign in once per browser tab with an admin token (kept in
// sessionStorage, sent as a bearer header, never put in a URL), and `Admin.api`, which asks
// the JSON API with it. A refused token signs the tab out and asks for another.
"use strict";

const Admin = (() => {
  const KEY = "vitrine.token";
  const $ = (id) => document.getElementById(id);
  const signIn = $("sign-in");
  const consoleEl = $("console");
  let started = false;
  let onStart = () => {};

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, { method = "GET", body, json, raw = false } = {}) {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body });
    } catch (err) {
      throw new ApiError(0, "network", "The server did not answer; is it running?");
    }
    if (response.ok) return raw ? response : response.json();
    let code = "http_" + response.status;
    let message = `${response.status} ${response.statusText}`;
    try {
      const error = (await response.json()).error;
      code = error.code;
      message = error.message;
    } catch (err) { /* not a JSON error body */ }
    if (response.status === 401 || response.status === 403) {
      signOut(`Signed out: ${message}`);
    }
    throw new ApiError(response.status, code, message);
  }

  function showSignIn(message) {
    consoleEl.hidden = true;
    $("who").hidden = true;
    signIn.hidden = false;
    $("sign-in-error").textContent = message || "";
    $("token").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    showSignIn(message);
  }

  async function check() {
    try {
      const who = await api("/api/admin/session");
      $("who-name").textContent = `Signed in as ${who.token}`;
      $("who").hidden = false;
      signIn.hidden = true;
      consoleEl.hidden = false;
      if (!started) {
        started = true;
        onStart();
      }
    } catch (err) {
      if (err.status !== 401 && err.status !== 403) showSignIn(err.message);
    }
  }

  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(KEY, token);
    $("token").value = "";
    check();
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));

  // A page's script calls this once: `start` runs after the token is accepted.
  function ready(start) {
    onStart = start;
    if (sessionStorage.getItem(KEY)) check();
    else showSignIn();
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

  // An element with text and attributes, children appended.
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  return { api, ready, signOut, when, el, ApiError };
})();
