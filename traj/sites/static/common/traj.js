/* Shared by every bundled demo site: the seed, seeded randomness, per-seed storage,
 * the page variant and window.traj (task, goal, params, success predicate) that traj's
 * success checker reads.
 *
 * Every random choice comes from rng(label): a mulberry32 stream seeded by (seed, label),
 * so two pages that ask for the same label (the inbox and the calendar, the trip planner
 * and both travel sites) derive the same world without talking to each other.
 *
 * ?variant= tests whether a recorded demonstration survives a changed page:
 *   mutated    every id and class renamed (stylesheets and id references follow), a
 *              cookie banner on top, and each app reorders what has no meaningful order;
 *   ambiguous  each app adds a lookalike form or section before the real one;
 *   removed    each app leaves out the control that completes its task;
 *   shuffled   the layout varies by seed (field, option and column order): the hard split of
 *              the learning benchmark. Otherwise a seed varies values and content only, as a
 *              person's form does not reshuffle itself between two reports.
 * Apps therefore look elements up through $(id), cls(), sel() and el(), never by raw id.
 */
(function () {
  "use strict";

  const params = new URLSearchParams(location.search);
  const parsed = parseInt(params.get("seed") || "0", 10);
  const seed = Number.isFinite(parsed) && parsed >= 0 ? parsed : 0;
  const fast = params.get("fast") === "1";
  const VARIANTS = ["mutated", "ambiguous", "removed", "shuffled"];
  const variant = VARIANTS.includes(params.get("variant")) ? params.get("variant") : null;
  const mutated = variant === "mutated";

  // Layout choices draw from the stream on every page (a seed's values stay the same) and apply
  // only in the shuffled variant.
  function layoutChance(stream) {
    return stream.chance(0.5) && variant === "shuffled";
  }
  function layoutShuffle(stream, items) {
    const shuffled = stream.shuffle(items);
    return variant === "shuffled" ? shuffled : items.slice();
  }

  function hash32(text) {
    // FNV-1a, then a final avalanche so nearby seeds give unrelated streams.
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return h >>> 0;
  }

  function mulberry32(a) {
    return function () {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function rng(label) {
    const next = mulberry32(hash32(seed + ":" + label));
    return {
      next: next,
      int(lo, hi) { return lo + Math.floor(next() * (hi - lo + 1)); },
      pick(items) { return items[Math.floor(next() * items.length)]; },
      chance(p) { return next() < p; },
      shuffle(items) {
        const out = items.slice();
        for (let i = out.length - 1; i > 0; i--) {
          const j = Math.floor(next() * (i + 1));
          [out[i], out[j]] = [out[j], out[i]];
        }
        return out;
      },
      sample(items, n) { return this.shuffle(items).slice(0, n); },
    };
  }

  // One localStorage namespace per seed: all sites share the origin, so the inbox can
  // read what the calendar saved, while seed 0 and seed 1 never see each other's state.
  const prefix = "traj/" + seed + "/";
  const store = {
    get(key, fallback) {
      try {
        const raw = localStorage.getItem(prefix + key);
        return raw === null ? fallback : JSON.parse(raw);
      } catch (e) {
        return fallback;
      }
    },
    set(key, value) { localStorage.setItem(prefix + key, JSON.stringify(value)); },
    clear() {
      for (let i = localStorage.length - 1; i >= 0; i--) {
        const key = localStorage.key(i);
        if (key && key.startsWith(prefix)) localStorage.removeItem(key);
      }
    },
  };
  if (params.get("reset") === "1") store.clear();

  // Links between pages keep the seed (and fast, and the variant), so a task never silently changes world.
  function carried() {
    return Object.assign({ seed: String(seed) }, fast ? { fast: "1" } : {}, variant ? { variant: variant } : {});
  }

  function link(path, extra) {
    const query = new URLSearchParams(carried());
    for (const [key, value] of Object.entries(extra || {})) query.set(key, value);
    return path + "?" + query.toString();
  }

  function keepSeedInLinks(root) {
    for (const a of (root || document).querySelectorAll("a[data-path]")) {
      a.href = link(a.dataset.path, a.dataset.query ? Object.fromEntries(new URLSearchParams(a.dataset.query)) : {});
    }
  }

  // A GET form that leads to another page of the site carries the same hidden values.
  function keepSeedInForm(form) {
    for (const [name, value] of Object.entries(carried())) {
      let input = form.elements[name];
      if (!input) {
        input = el("input", { type: "hidden", name: name });
        form.append(input);
      }
      input.value = value;
    }
  }

  // ------------------------------------------------------------------ names under the mutated variant

  // A renamed token looks like the output of a CSS-modules build: seeded hash, then the old name.
  function rename(name) {
    return mutated && name ? "m" + hash32(seed + "/" + name).toString(36).slice(0, 4) + "_" + name : name;
  }
  function id(name) { return rename(name); }
  function cls(names) { return String(names).split(/\s+/).filter(Boolean).map(rename).join(" "); }
  function sel(selector) {
    if (!mutated) return selector;
    // Attribute selectors are kept as they are; every .class and #id outside them is renamed.
    return selector.replace(/(\[[^\]]*\])|([.#])(-?[_a-zA-Z][\w-]*)/g,
      (all, attribute, sigil, name) => attribute || sigil + rename(name));
  }
  function $(name) { return document.getElementById(id(name)); }

  // Attributes that hold ids, so <label for>, aria-labelledby and <input list> keep pointing at their element.
  const ID_REFS = ["for", "list", "form", "aria-labelledby", "aria-describedby", "aria-controls", "aria-owns"];

  function mutateDocument() {
    for (const node of document.querySelectorAll("[id]")) node.id = rename(node.id);
    for (const node of document.querySelectorAll("[class]")) node.setAttribute("class", cls(node.getAttribute("class")));
    for (const name of ID_REFS) {
      for (const node of document.querySelectorAll("[" + name + "]")) node.setAttribute(name, cls(node.getAttribute(name)));
    }
    // Stylesheets are loaded before any script at the end of <body> runs, so their rules can follow the rename.
    for (const sheet of document.styleSheets) rewriteRules(sheet.cssRules);
  }
  function rewriteRules(rules) {
    for (const rule of rules) {
      if (rule.selectorText) rule.selectorText = sel(rule.selectorText);
      if (rule.cssRules && rule.cssRules.length) rewriteRules(rule.cssRules);
    }
  }

  // Swap the places of these elements (the first takes the last's place and so on); they need not be siblings.
  function reverseOrder(nodes) {
    const items = nodes.filter(Boolean);
    const marks = items.map((node) => {
      const mark = document.createComment("");
      node.before(mark);
      return mark;
    });
    items.slice().reverse().forEach((node, i) => marks[i].replaceWith(node));
  }

  function insertCookieBanner() {
    const banner = el("div", { class: "cookie-bar", role: "region", "aria-label": "Cookie notice" }, [
      el("p", { text: "We use cookies to remember your settings and to understand how this site is used." }),
      el("button", { type: "button", class: "accept", text: "Accept", onclick: () => banner.remove() }),
      el("button", { type: "button", text: "Dismiss", onclick: () => banner.remove() }),
    ]);
    document.body.prepend(banner);
  }

  const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"];

  // Dates are plain UTC days (ISO "YYYY-MM-DD"), so the browser's time zone never moves them.
  const dates = {
    WEEKDAYS: WEEKDAYS,
    MONTHS: MONTHS,
    iso(d) { return d.toISOString().slice(0, 10); },
    parse(text) {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
      if (!m) return null;
      const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
      return dates.iso(d) === text ? d : null;
    },
    addDays(d, n) { return new Date(d.getTime() + n * 86400000); },
    weekday(d) { return WEEKDAYS[d.getUTCDay()]; },
    short(d) { return WEEKDAYS[d.getUTCDay()].slice(0, 3) + ", " + MONTHS[d.getUTCMonth()].slice(0, 3) + " " + d.getUTCDate(); },
    long(d) { return WEEKDAYS[d.getUTCDay()] + ", " + MONTHS[d.getUTCMonth()] + " " + d.getUTCDate() + ", " + d.getUTCFullYear(); },
  };

  function minutes(hhmm) {
    const [h, m] = hhmm.split(":").map(Number);
    return h * 60 + m;
  }
  function hhmm(total) {
    return String(Math.floor(total / 60)).padStart(2, "0") + ":" + String(total % 60).padStart(2, "0");
  }
  function norm(text) { return String(text || "").trim().replace(/\s+/g, " ").toLowerCase(); }
  function money(value) { return value.toFixed(2); }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.setAttribute("class", cls(value));
      else if (key === "id") node.id = id(value);
      else if (ID_REFS.includes(key)) node.setAttribute(key, cls(value));
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of [].concat(children || [])) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // window.traj is what the success checker reads: page.evaluate("window.traj.check()").
  // params holds the goal's concrete values as strings, exactly as a person types or selects
  // them, so a replay can swap one seed's values for another's.
  function register(task, goal, check, values) {
    const strings = {};
    for (const [key, value] of Object.entries(values || {})) strings[key] = String(value);
    window.traj = {
      task: task,
      goal: goal,
      seed: seed,
      params: strings,
      variant: variant,
      check() {
        try {
          const result = check();
          return { success: !!result.success, detail: String(result.detail) };
        } catch (e) {
          return { success: false, detail: "check failed: " + e };
        }
      },
    };
    const banner = document.querySelector("[data-goal]");
    if (banner) banner.textContent = goal;
  }

  if (mutated) {
    mutateDocument();
    insertCookieBanner();
  }

  window.TrajKit = {
    seed, fast, variant, layoutChance, layoutShuffle, params, rng, hash32, store, link, keepSeedInLinks, keepSeedInForm, dates, minutes, hhmm, norm,
    money, el, register, $, id, cls, sel, reverseOrder,
  };
})();
