// qdrant-mm search tuning page. Plain JS, no build step, talks to the service's own API.
"use strict";

(() => {
  const CHANNELS = ["blip", "clip", "interrogator"];
  const SHORT = { blip: "B", clip: "C", interrogator: "I" };
  const DEBOUNCE_MS = 150;

  const $ = (id) => document.getElementById(id);
  const state = {
    weights: { blip: 0.4, clip: 0.4, interrogator: 0.2 },
    defaults: { blip: 0.4, clip: 0.4, interrogator: 0.2 },
    profiles: [],
    imageFile: null,
    apiKey: null, // kept in memory for this page only
    maxBytes: null,
    seq: 0,
    controller: null,
    timer: null,
    lastKey: null, // what the previous ranking was for (query / image / filter)
    prevRanks: new Map(),
    qrelsQuery: null, // a query of the loaded labelled set shown in the grid: {id, text}
    listeners: [], // called with the weights and the query after every change (workbench.js)
  };

  function notify() {
    const w = { ...state.weights };
    for (const fn of state.listeners) fn(w, currentQuery());
  }

  function currentQuery() {
    if (state.qrelsQuery) return { qid: state.qrelsQuery.id };
    const q = $("q").value.trim();
    return q && !state.imageFile ? { q, filter: $("filter").value.trim() } : null;
  }

  // --- weights on the simplex -------------------------------------------------------------
  function setWeight(channel, value) {
    value = Math.min(1, Math.max(0, value));
    const others = CHANNELS.filter((c) => c !== channel);
    const restOld = others.reduce((s, c) => s + state.weights[c], 0);
    const restNew = 1 - value;
    for (const c of others) {
      state.weights[c] = restOld > 1e-9 ? (state.weights[c] * restNew) / restOld : restNew / 2;
    }
    state.weights[channel] = value;
    renderWeights();
  }

  function setAllWeights(w) {
    const total = CHANNELS.reduce((s, c) => s + Math.max(0, Number(w[c]) || 0), 0) || 1;
    for (const c of CHANNELS) state.weights[c] = Math.max(0, Number(w[c]) || 0) / total;
    renderWeights();
  }

  function renderWeights() {
    for (const c of CHANNELS) {
      $(`w-${c}`).value = String(Math.round(state.weights[c] * 1000));
      $(`w-${c}-value`).textContent = state.weights[c].toFixed(2);
    }
    updateProfileNote();
    notify();
  }

  function weightsParam() {
    return CHANNELS.map((c) => state.weights[c].toFixed(6)).join(",");
  }

  // --- profiles ------------------------------------------------------------------------------
  async function loadProfiles(select) {
    try {
      const resp = await fetch("/weights");
      if (!resp.ok) return;
      state.profiles = await resp.json();
    } catch (_) {
      return;
    }
    const sel = $("profile");
    const keep = select ?? sel.value;
    sel.replaceChildren(new Option("custom weights", ""));
    for (const p of state.profiles) {
      const label = `${p.name}  (${p.blip.toFixed(2)} / ${p.clip.toFixed(2)} / ${p.interrogator.toFixed(2)})`;
      sel.add(new Option(label, p.name));
    }
    sel.value = state.profiles.some((p) => p.name === keep) ? keep : "";
    updateProfileNote();
  }

  function selectedProfile() {
    return state.profiles.find((p) => p.name === $("profile").value) || null;
  }

  function updateProfileNote() {
    const p = selectedProfile();
    const note = $("profile-note");
    if (!p) {
      note.textContent = "";
      return;
    }
    const same = CHANNELS.every((c) => Math.abs(p[c] - state.weights[c]) < 0.005);
    note.textContent = same
      ? `updated ${p.updated_at.slice(0, 19).replace("T", " ")}`
      : "modified: save to update the profile";
  }

  // --- searching -------------------------------------------------------------------------------
  function scheduleSearch() {
    clearTimeout(state.timer);
    state.timer = setTimeout(search, DEBOUNCE_MS);
  }

  function rankingKey() {
    const img = state.imageFile ? `${state.imageFile.name}:${state.imageFile.size}` : "";
    const labelled = state.qrelsQuery ? state.qrelsQuery.id : "";
    return JSON.stringify([$("q").value.trim(), img, $("filter").value.trim(), $("limit").value, labelled]);
  }

  async function search() {
    clearTimeout(state.timer);
    const query = $("q").value.trim();
    if (!query && !state.imageFile && !state.qrelsQuery) {
      showStatus("Type a query or choose a photo.");
      $("results").replaceChildren();
      return;
    }
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const seq = ++state.seq;
    const limit = $("limit").value;
    const filter = $("filter").value.trim();
    const calibrate = $("calibrate").checked;

    let req;
    if (state.qrelsQuery) {
      const params = new URLSearchParams({ weights: weightsParam(), limit });
      req = fetch(`/evaluate/queries/${encodeURIComponent(state.qrelsQuery.id)}?${params}`, {
        signal: controller.signal,
      });
    } else if (state.imageFile) {
      const form = new FormData();
      form.append("image", state.imageFile);
      form.append("weights", weightsParam());
      form.append("limit", limit);
      if (filter) form.append("filter", filter);
      if (calibrate) form.append("calibrate", "true");
      req = fetch("/search", { method: "POST", body: form, signal: controller.signal });
    } else {
      const params = new URLSearchParams({ q: query, limit, weights: weightsParam() });
      if (filter) params.append("filter", filter);
      if (calibrate) params.append("calibrate", "true");
      req = fetch(`/search?${params}`, { signal: controller.signal });
    }
    $("results").classList.add("loading");
    const started = performance.now();
    let data;
    try {
      const resp = await req;
      data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
      if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
    } catch (err) {
      if (err.name === "AbortError" || seq !== state.seq) return;
      $("results").classList.remove("loading");
      showError(err.message);
      return;
    }
    if (seq !== state.seq) return; // a newer search was sent meanwhile
    $("results").classList.remove("loading");
    hideError();
    const key = rankingKey();
    const previous = key === state.lastKey ? state.prevRanks : null;
    renderResults(data.hits, data.offset || 0, previous);
    state.lastKey = key;
    state.prevRanks = new Map(data.hits.map((h, i) => [h.id, i]));
    const w = data.weights;
    const rtt = Math.round(performance.now() - started);
    if (state.qrelsQuery) {
      const found = data.hits.filter((h) => h.grade > 0).length;
      showStatus(
        `labelled query ${state.qrelsQuery.id} “${state.qrelsQuery.text}”: ${found} of ` +
          `${data.relevant} relevant products in the top ${data.hits.length} · weights ` +
          `${w.blip.toFixed(2)} / ${w.clip.toFixed(2)} / ${w.interrogator.toFixed(2)} · ${rtt} ms`
      );
      return;
    }
    showStatus(
      `${data.hits.length} results · weights ${w.blip.toFixed(2)} / ${w.clip.toFixed(2)} / ` +
        `${w.interrogator.toFixed(2)}${data.calibrated ? " · calibrated" : ""} · ` +
        `${data.took_ms.toFixed(1)} ms server, ${rtt} ms total`
    );
  }

  function renderResults(hits, offset, previous) {
    const grid = $("results");
    if (!hits.length) {
      grid.replaceChildren();
      showStatus("No results.");
      return;
    }
    // One scale for every bar on screen, so bars compare across products and channels.
    const values = hits.flatMap((h) => CHANNELS.map((c) => h.scores[c])).filter((v) => v !== null);
    const lo = Math.min(0, ...values);
    const hi = Math.max(...values, lo + 1e-6);
    const tpl = $("card-template");
    const cards = hits.map((hit, i) => {
      const card = tpl.content.firstElementChild.cloneNode(true);
      const p = hit.payload || {};
      card.dataset.id = hit.id;
      card.dataset.score = String(hit.score);
      showPhoto(card, hit, p.title || hit.id);
      card.querySelector(".rank").textContent = `#${offset + i + 1}`;
      if (hit.grade > 0) {
        const grade = card.querySelector(".grade");
        grade.textContent = `relevant · ${hit.grade}`;
        card.classList.add("relevant");
      }
      const move = card.querySelector(".move");
      if (previous) {
        const before = previous.get(hit.id);
        if (before === undefined) {
          move.textContent = "new";
          move.classList.add("new");
        } else if (before !== i) {
          move.textContent = before > i ? `▲${before - i}` : `▼${i - before}`;
          move.classList.add(before > i ? "up" : "down");
        }
      }
      card.querySelector(".title").textContent = p.title || hit.id;
      card.querySelector(".price").textContent =
        typeof p.price === "number" ? p.price.toFixed(2) : "";
      card.querySelector(".category").textContent = [p.category, p.brand].filter(Boolean).join(" · ");
      card.querySelector(".score").textContent = hit.score.toFixed(4);
      const bars = card.querySelector(".bars");
      for (const c of CHANNELS) {
        const v = hit.scores[c];
        const row = document.createElement("div");
        row.className = "bar" + (v === null ? " off" : "");
        row.title = `${c}: ${v === null ? "weight 0, not computed" : v.toFixed(4)}`;
        const name = document.createElement("span");
        name.textContent = SHORT[c];
        const track = document.createElement("div");
        track.className = "track";
        const fill = document.createElement("div");
        fill.className = `fill ${c}`;
        fill.style.width = v === null ? "0%" : `${(4 + (96 * (v - lo)) / (hi - lo)).toFixed(1)}%`;
        track.append(fill);
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = v === null ? "–" : v.toFixed(3);
        row.append(name, track, value);
        bars.append(row);
      }
      const link = card.querySelector(".pid");
      link.textContent = hit.id;
      link.href = `/products/${encodeURIComponent(hit.id)}`;
      return card;
    });
    grid.replaceChildren(...cards);
  }

  // The photo that matched (a product with several photos is found by its best one); a
  // placeholder, never a broken image, for a product without one or a photo that fails to load.
  function showPhoto(card, hit, name) {
    const img = card.querySelector(".thumb img");
    const note = card.querySelector(".photo-note");
    const refs = Array.isArray((hit.payload || {}).image_refs) ? hit.payload.image_refs : [];
    const at = hit.matched_image ? refs.indexOf(hit.matched_image) : -1;
    if (hit.text_only) {
      card.classList.add("text-only");
      note.textContent = "text only";
      note.classList.add("badge");
      note.title = "no photo: found by its title and description";
    } else if (refs.length > 1 && at >= 0) {
      note.textContent = `photo ${at + 1}/${refs.length}`;
      note.title = `photo ${at + 1} of ${refs.length} matched best`;
    }
    if (!hit.image_url) {
      img.replaceWith(placeholder(name, hit.text_only ? "no photo" : "no picture to show"));
      return;
    }
    img.alt =
      refs.length > 1 && at >= 0
        ? `${name}, photo ${at + 1} of ${refs.length} (the one that matched)`
        : `${name}, photo`;
    img.addEventListener("error", () => img.replaceWith(placeholder(name, "photo not available")), {
      once: true,
    });
    img.src = hit.image_url;
  }

  function placeholder(name, text) {
    const box = document.createElement("div");
    box.className = "no-photo";
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", `${name}: ${text}`);
    box.textContent = text;
    return box;
  }

  function showStatus(text) {
    $("status").textContent = text;
  }
  function showError(text) {
    const el = $("error");
    el.textContent = text;
    el.hidden = false;
  }
  function hideError() {
    $("error").hidden = true;
  }

  // --- save as profile ----------------------------------------------------------------------------
  function openSaveDialog() {
    const dialog = $("save-dialog");
    $("save-name").value = $("profile").value || "";
    $("save-key").value = state.apiKey || "";
    $("save-error").hidden = true;
    $("save-weights").textContent =
      `α ${state.weights.blip.toFixed(3)} · β ${state.weights.clip.toFixed(3)} · ` +
      `γ ${state.weights.interrogator.toFixed(3)}` +
      ($("calibrate").checked ? " · calibrated" : "");
    dialog.showModal();
    ($("save-name").value ? $("save-key") : $("save-name")).focus();
  }

  async function saveProfile(event) {
    event.preventDefault();
    const name = $("save-name").value.trim();
    const key = $("save-key").value;
    const body = { ...state.weights, calibrate: $("calibrate").checked };
    let resp;
    let data;
    try {
      resp = await fetch(`/weights/${encodeURIComponent(name)}`, {
        method: "PUT",
        headers: { "Content-Type": "application/json", "X-API-Key": key },
        body: JSON.stringify(body),
      });
      data = await resp.json().catch(() => ({}));
    } catch (err) {
      data = { error: err.message };
    }
    if (!resp || !resp.ok) {
      if (resp && resp.status === 401) state.apiKey = null;
      const el = $("save-error");
      el.textContent = data.error || `HTTP ${resp && resp.status}`;
      el.hidden = false;
      return;
    }
    state.apiKey = key;
    $("save-dialog").close();
    await loadProfiles(data.name);
    showStatus(`Saved profile ${data.name}.`);
  }

  // --- start-up -------------------------------------------------------------------------------------
  async function loadInfo() {
    try {
      const resp = await fetch("/info");
      const info = await resp.json();
      if (!resp.ok) throw new Error(info.error || `HTTP ${resp.status}`);
      $("collection").textContent = `${info.collection} · ${info.backend}`;
      state.defaults = info.default_weights;
      state.maxBytes = info.image_max_bytes;
      setAllWeights(info.default_weights);
      if (!info.profile_writes_enabled) {
        const btn = $("save-profile");
        btn.disabled = true;
        btn.title = "Profile changes are disabled: set QDRANT_MM_API_KEY on the service";
      }
      await loadProfiles(info.default_profile || "");
      notify();
    } catch (err) {
      showError(`cannot load /info: ${err.message}`);
    }
  }

  async function checkReady() {
    const pill = $("ready");
    try {
      const resp = await fetch("/readyz");
      const data = await resp.json();
      pill.textContent = resp.ok ? "ready" : "not ready";
      pill.className = `pill ${resp.ok ? "ok" : "bad"}`;
      pill.title = resp.ok ? "models loaded, collection ok" : data.error;
    } catch (err) {
      pill.textContent = "unreachable";
      pill.className = "pill bad";
    }
  }

  function wire() {
    for (const c of CHANNELS) {
      $(`w-${c}`).addEventListener("input", (e) => {
        setWeight(c, Number(e.target.value) / 1000);
        scheduleSearch();
      });
    }
    $("query-form").addEventListener("submit", (e) => {
      e.preventDefault();
      state.qrelsQuery = null;
      if ($("q").value.trim() && state.imageFile) clearImage(false);
      search();
      notify();
    });
    $("image").addEventListener("change", (e) => {
      const file = e.target.files[0];
      if (!file) return;
      if (state.maxBytes && file.size > state.maxBytes) {
        showError(`the image is ${file.size} bytes, over the service's limit of ${state.maxBytes}`);
        return;
      }
      state.imageFile = file;
      state.qrelsQuery = null;
      $("q").value = "";
      $("image-name").textContent = file.name;
      $("image-clear").hidden = false;
      const preview = $("image-preview");
      if (preview.src) URL.revokeObjectURL(preview.src);
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
      search();
      notify();
    });
    $("image-clear").addEventListener("click", () => clearImage(true));
    $("filter").addEventListener("change", () => {
      search();
      notify();
    });
    $("filter").addEventListener("keydown", (e) => {
      if (e.key === "Enter") search();
    });
    $("limit").addEventListener("change", search);
    $("calibrate").addEventListener("change", search);
    $("reset-weights").addEventListener("click", () => {
      setAllWeights(state.defaults);
      $("profile").value = "";
      updateProfileNote();
      search();
    });
    $("profile").addEventListener("change", () => {
      const p = selectedProfile();
      if (p) {
        setAllWeights(p);
        $("calibrate").checked = p.calibrate;
      }
      updateProfileNote();
      search();
      notify();
    });
    $("save-profile").addEventListener("click", openSaveDialog);
    $("save-form").addEventListener("submit", saveProfile);
    $("save-cancel").addEventListener("click", () => $("save-dialog").close());
  }

  function clearImage(rerun) {
    state.imageFile = null;
    $("image").value = "";
    $("image-name").textContent = "no image";
    $("image-clear").hidden = true;
    const preview = $("image-preview");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.removeAttribute("src");
    preview.hidden = true;
    if (rerun) search();
  }

  // What workbench.js (live metrics, simplex, tuning, sensitivity) uses of this page.
  window.qdrantMM = {
    weights: () => ({ ...state.weights }),
    setWeights: (w) => {
      setAllWeights(w);
      $("profile").value = "";
      updateProfileNote();
      scheduleSearch();
    },
    savedWeights: () => selectedProfile() || { ...state.defaults, name: null },
    onChange: (fn) => state.listeners.push(fn),
    showLabelledQuery: (id, text) => {
      state.qrelsQuery = { id, text };
      clearImage(false);
      $("q").value = "";
      search();
      notify();
    },
    labelledQuery: () => state.qrelsQuery,
    query: () => currentQuery(),
    loadProfiles,
  };

  document.addEventListener("DOMContentLoaded", async () => {
    wire();
    renderWeights();
    checkReady();
    await loadInfo();
    const q = new URLSearchParams(location.search).get("q");
    if (q) {
      $("q").value = q;
      search();
    }
  });
})();
