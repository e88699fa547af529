/* Shared by every bundled demo site: the seed, seeded randomness, per-seed storage and
 * window.traj (task, goal, success predicate) that traj's success checker reads.
 *
 * Every random choice comes from rng(label): a mulberry32 stream seeded by (seed, label),
 * so two pages that ask for the same label (the inbox and the calendar, the trip planner
 * and both travel sites) derive the same world without talking to each other.
 */
(function () {
  "use strict";

  const params = new URLSearchParams(location.search);
  const parsed = parseInt(params.get("seed") || "0", 10);
  const seed = Number.isFinite(parsed) && parsed >= 0 ? parsed : 0;
  const fast = params.get("fast") === "1";

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

  // Links between pages keep the seed (and fast), so a task never silently changes world.
  function link(path, extra) {
    const query = new URLSearchParams({ seed: String(seed) });
    if (fast) query.set("fast", "1");
    for (const [key, value] of Object.entries(extra || {})) query.set(key, value);
    return path + "?" + query.toString();
  }

  function keepSeedInLinks(root) {
    for (const a of (root || document).querySelectorAll("a[data-path]")) {
      a.href = link(a.dataset.path, a.dataset.query ? Object.fromEntries(new URLSearchParams(a.dataset.query)) : {});
    }
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
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of [].concat(children || [])) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // window.traj is what the success checker reads: page.evaluate("window.traj.check()").
  function register(task, goal, check) {
    window.traj = {
      task: task,
      goal: goal,
      seed: seed,
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

  window.TrajKit = { seed, fast, params, rng, hash32, store, link, keepSeedInLinks, dates, minutes, hhmm, norm, money, el, register };
})();
