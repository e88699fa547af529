/* Gearbox: a product page whose price follows a seeded sequence, one step per tick
 * (1.25 s, or 0.125 s with &fast=1), counted from this seed's first visit so a reload
 * does not restart it. The price falls below the goal's threshold at a seeded tick and
 * stays below; the task succeeds when the first "Notify me" came at a price below it.
 *
 * Variants: ambiguous adds a "Bundle price alert" card above the real one with the same
 * "Note for yourself" field and "Notify me" button (its alerts are not this product's);
 * removed leaves out "Notify me"; mutated reverses the top bar, the picture's side and
 * the order of the buy box, the alert, the bullets and the history.
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const r = K.rng("price");
  const TICK_MS = K.fast ? 125 : 1250;

  const PRODUCTS = [
    { brand: "Sonora", name: "Aurora X2 Noise-Cancelling Headphones", kind: "Audio", base: 249, hue: 210,
      bullets: ["40 h battery with ANC on", "Multipoint Bluetooth 5.3", "Foldable, with a hard case"] },
    { brand: "Brewline", name: "Barista Pro Espresso Machine", kind: "Kitchen", base: 429, hue: 20,
      bullets: ["15-bar pump", "Steam wand for milk foam", "1.8 l removable water tank"] },
    { brand: "Strider", name: "Trailrunner GTX Running Shoes", kind: "Sports", base: 159, hue: 140,
      bullets: ["Waterproof membrane", "Grippy lugged outsole", "Reflective details"] },
    { brand: "Lumio", name: "Halo 27\" 4K Monitor", kind: "Computers", base: 379, hue: 260,
      bullets: ["27 inch IPS, 3840 x 2160", "USB-C with 65 W charging", "Height-adjustable stand"] },
    { brand: "Keyforge", name: "Quiet Mechanical Keyboard K7", kind: "Computers", base: 139, hue: 330,
      bullets: ["Silent tactile switches", "Hot-swappable keys", "Wireless or USB-C"] },
    { brand: "Nimbus", name: "Cirrus Robot Vacuum S5", kind: "Home", base: 319, hue: 180,
      bullets: ["Lidar navigation", "2.5 h runtime", "Self-emptying dock"] },
  ];
  const NOTES = ["Buy before the sale ends", "Gift for Sam's birthday", "Replace the old one", "Check the warranty first",
    "Order for the office"];

  const product = r.pick(PRODUCTS);
  const threshold = Math.round(product.base * (0.8 + r.next() * 0.1));
  const note = r.pick(NOTES);
  const dropTick = r.int(2, 3);
  // Prices above the threshold until dropTick (the last one just at or barely over it), below after.
  const prices = [];
  for (let t = 0; t < 400; t++) {
    let cents;
    if (t < dropTick - 1) cents = (threshold + r.int(6, Math.round(product.base * 0.25))) * 100 - 1;
    else if (t === dropTick - 1) cents = threshold * 100 + r.pick([0, 99, 499]);
    else cents = (threshold - r.int(1, Math.round(product.base * 0.15))) * 100 - 1;
    prices.push(cents / 100);
  }

  K.register("price", "Watch the price of the " + product.name + ". As soon as it drops below $" + threshold +
    ", press \"Notify me\" with the note \"" + note + "\".", check, { threshold: String(threshold), note: note });

  let started = K.store.get("price/started", null);
  if (started === null) {
    started = Date.now();
    K.store.set("price/started", started);
  }
  function tickNow() { return Math.max(0, Math.floor((Date.now() - started) / TICK_MS)); }
  function priceAt(tick) { return prices[Math.min(tick, prices.length - 1)]; }

  function check() {
    const alerts = K.store.get("price/alerts", []);
    if (!alerts.length) return { success: false, detail: "not notified yet; the price is $" + K.money(priceAt(tickNow())) };
    const first = alerts[0];
    if (first.price >= threshold) {
      return { success: false, detail: "notified at $" + K.money(first.price) + ", which is not below $" + threshold };
    }
    if (K.norm(first.note) !== K.norm(note)) {
      return { success: false, detail: "notified at $" + K.money(first.price) + " with the note " + JSON.stringify(first.note) +
        " instead of " + JSON.stringify(note) };
    }
    return { success: true, detail: "notified at $" + K.money(first.price) + ", below $" + threshold };
  }

  // Static page content and a seeded layout (picture left or right, alert above or below the details).
  document.title = product.name + " – Gearbox";
  K.$("crumbs").textContent = "Home › " + product.kind + " › " + product.brand;
  K.$("brand").textContent = product.brand;
  K.$("name").textContent = product.name;
  K.$("rating").textContent = "★".repeat(4) + "☆ " + (3.8 + r.next()).toFixed(1) + " · " + r.int(40, 2400) + " reviews";
  for (const b of product.bullets) K.$("bullets").append(K.el("li", { text: b }));
  K.$("picture").style.background = "linear-gradient(135deg, hsl(" + product.hue + ",70%,85%), hsl(" + product.hue + ",60%,55%))";
  K.$("picture").append(K.el("span", { text: product.brand }));
  if (K.layoutChance(r) !== (K.variant === "mutated")) K.$("product").classList.add(K.cls("flipped"));
  if (K.layoutChance(r)) K.$("info").insertBefore(K.$("bullets"), K.$("alert-card"));
  if (K.variant === "mutated") {
    K.reverseOrder([...K.$("topbar").children]);
    K.reverseOrder([K.$("buybox"), K.$("alert-card"), K.$("bullets"), K.$("history-card")]);
  }
  if (K.variant === "ambiguous") addBundleAlert();

  // A lookalike of the price alert, just above it: the same note field and the same "Notify me" button.
  function addBundleAlert() {
    const status = K.el("p", { class: "status", role: "status" });
    const card = K.el("section", { class: "alert bundle", id: "bundle-card", "aria-labelledby": "bundle-title" }, [
      K.el("h2", { id: "bundle-title", text: "Bundle price alert" }),
      K.el("p", { class: "bundle-what", text: "The " + product.brand + " starter bundle: this product with a care kit and an extended warranty." }),
      K.el("label", { for: "bundle-note", text: "Note for yourself" }),
      K.el("textarea", { id: "bundle-note", rows: "2", placeholder: "Why are you watching this price?" }),
      K.el("button", { type: "button", class: "primary", text: "Notify me", onclick: () => {
        const alerts = K.store.get("price/bundle-alerts", []);
        alerts.push({ note: K.$("bundle-note").value.trim(), at: Date.now() });
        K.store.set("price/bundle-alerts", alerts);
        status.textContent = "We will email you when the bundle gets cheaper.";
      } }),
      status,
    ]);
    K.$("alert-card").before(card);
  }

  let shownTick = -1;
  function render() {
    const tick = tickNow();
    if (tick !== shownTick) {
      shownTick = tick;
      const price = priceAt(tick);
      K.$("price").textContent = "$" + K.money(price);
      const before = tick > 0 ? priceAt(tick - 1) : price;
      const change = K.$("change");
      change.textContent = price < before ? "▼ $" + K.money(before - price) : price > before ? "▲ $" + K.money(price - before) : "";
      change.className = K.cls("change " + (price < before ? "down" : "up"));
      const history = K.$("history");
      history.replaceChildren();
      const recent = [];
      for (let t = Math.max(0, tick - 5); t <= tick; t++) recent.push(priceAt(t));
      recent.slice().reverse().forEach((p, i) => history.append(K.el("li", { text: (i === 0 ? "now" : i + " update(s) ago") + ": $" + K.money(p) })));
      const lo = Math.min(...recent) - 5;
      const hi = Math.max(...recent) + 5;
      const points = recent.map((p, i) => (i * 300 / Math.max(1, recent.length - 1)).toFixed(1) + "," + (55 - (p - lo) / (hi - lo) * 50).toFixed(1));
      K.$("spark").innerHTML = "<polyline fill='none' stroke='#16a34a' stroke-width='2' points='" + points.join(" ") + "'/>";
    }
    const age = Math.floor((Date.now() - started - tick * TICK_MS) / 1000);
    K.$("updated").textContent = "Price updated " + (age < 1 ? "just now" : age + " s ago") + " · prices change often";
    setTimeout(render, Math.min(250, TICK_MS - ((Date.now() - started) % TICK_MS) + 5));
  }
  render();

  K.$("notify").addEventListener("click", () => {
    // What counts is the price the person saw when they pressed the button.
    const price = priceAt(shownTick);
    const alerts = K.store.get("price/alerts", []);
    alerts.push({ price: price, tick: shownTick, note: K.$("note").value.trim(), at: Date.now() });
    K.store.set("price/alerts", alerts);
    K.$("alert-status").textContent = "Alert saved at $" + K.money(price) + ". We'll email you about this product.";
  });
  if (K.variant === "removed") {
    K.$("notify").remove();
    K.$("alert-status").textContent = "Price alerts are paused for this product.";
  }
  let cart = 0;
  K.$("add-to-cart").addEventListener("click", () => {
    cart += 1;
    K.$("cart-count").textContent = String(cart);
  });
})();
