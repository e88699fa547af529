// traj recorder: capture-phase listeners that report a person's actions to Python.
//
// Every report carries a DOM snapshot taken synchronously *before* the action takes
// effect (capture listeners run before the page's own handlers), so the observation an
// action references is the state the decision was made in. A click is resolved and
// snapshotted at its pointerdown, before a page that reacts on mousedown has changed and
// before a checkbox has toggled. Keystrokes are coalesced into one TYPE with the field's
// final value; inputs that fire no beforeinput (date, time, color, range, number spinners,
// files) are recorded from their input/change events with the control shown as it was.
// Needs snapshot.js (window.__traj) first.
(() => {
  if (window.__trajRecorder || !window.__traj) return;
  const SCROLL_QUIET_MS = 300;
  const SETTLE_MS = 150;
  const USER_SCROLL_WINDOW_MS = 600;
  const ENTER_CLICK_MS = 100;
  const PRESS_SLOP_PX = 10;
  const SCROLL_KEYS = new Set(["PageDown", "PageUp", "ArrowDown", "ArrowUp", "Home", "End", " "]);
  // Input types whose value a person does not type: they are clicked (CLICK), not filled.
  const CLICKED_TYPES = new Set(["checkbox", "radio", "button", "submit", "reset", "image", "hidden"]);

  // Events the page's own scripts synthesize (dispatchEvent, el.click()) are the page's doing,
  // not the person's. Untrusted events from outside them (Playwright's select_option and
  // set_input_files run in another JavaScript world) stand for input, as a demonstrator means.
  const synthesized = new WeakSet();
  let pageClicking = 0;
  const dispatchEvent = EventTarget.prototype.dispatchEvent;
  EventTarget.prototype.dispatchEvent = function (event) {
    if (event !== null && typeof event === "object") synthesized.add(event);
    return dispatchEvent.call(this, event);
  };
  const elementClick = HTMLElement.prototype.click;
  HTMLElement.prototype.click = function () {
    pageClicking++;
    try {
      return elementClick.call(this);
    } finally {
      pageClicking--;
    }
  };
  const byPerson = (event) => event.isTrusted || (!pageClicking && !synthesized.has(event));

  // Time the page's main thread was busy (the page's own work, stretched by a loaded machine,
  // and in-page automation checks), sampled as the lateness of a 50 ms timer: reported with
  // each action as the busy part of the pause since the previous one, not the person waiting.
  const LAG_SAMPLE_MS = 50;
  const LAG_NOISE_MS = 15;
  let lags = []; // [when (performance.now()), how late]
  let lastActionPerf = 0;
  let expected = performance.now() + LAG_SAMPLE_MS;
  setInterval(() => {
    const now = performance.now();
    const late = now - expected;
    if (late > LAG_NOISE_MS) lags.push([now, late]); // timers are a few ms late on an idle page too
    expected = now + LAG_SAMPLE_MS;
  }, LAG_SAMPLE_MS);
  const busySince = (since, now) => {
    lags = lags.filter(([when]) => when > since);
    const pending = Math.max(0, now - expected); // the task running now and those before it
    return lags.reduce((busy, [, late]) => busy + late, 0) + pending;
  };

  let pendingType = null; // {el, captured, before}
  const reported = new WeakMap(); // field -> the value its last TYPE reported (a later change event repeats it)
  let pendingScroll = null; // {captured, timer}
  let pendingPress = null; // {el, captured, x, y, hit}: a pointer press whose click has not come yet
  let clickedThisTask = false;
  let selectBefore = new WeakMap(); // select -> captured before its value changed
  let mutations = 0;
  let lastUserScrollIntent = -Infinity;
  let lastEnterAt = -Infinity;
  let settleTimer = null;

  const send = (message) => {
    try {
      window.__trajRecord(message);
    } catch (_) {
      // the binding is gone (page closing): nothing left to report to
    }
  };

  // The element an event happened on (inside open shadow roots too).
  const elementOf = (event) => {
    const node = event.composedPath()[0];
    return node && node.nodeType === 1 ? node : null;
  };

  // The whole page's snapshotter: an action in a same-origin iframe is observed in the page.
  const pageTraj = () => {
    try {
      return (window.top && window.top.__traj) || window.__traj;
    } catch (_) {
      return window.__traj; // a cross-origin parent: this frame is all there is to see
    }
  };

  // The state before an action on `el`; `restore`: the control whose value the person just
  // changed, shown with the value the previous snapshot saw. The snapshot assigns agent ids.
  const capture = (el, restore) => {
    const snapshot = pageTraj().snapshotJSON({ markNew: true, restore: restore || null }); // a string crosses the binding ~40x faster
    const target = el ? el.getAttribute("data-agent-id") : null;
    const context = el ? window.__traj.contextOf(el) : "";
    const perf = performance.now();
    const busy = Math.round(busySince(lastActionPerf, perf));
    // `at` is when the decision was made; a TYPE is reported only when its field is left.
    return { snapshot, target, locators: el ? window.__traj.locators(el) : [], context, at: Date.now(), perf, busy };
  };

  const emit = (kind, value, captured) => {
    lastActionPerf = Math.max(lastActionPerf, captured.perf);
    send({ kind, value, mutations, ...captured });
    mutations = 0;
  };

  const isValueField = (el) =>
    !!el &&
    (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && !CLICKED_TYPES.has((el.type || "").toLowerCase())));

  const isTextField = (el) =>
    !!el &&
    (el.isContentEditable ||
      el.tagName === "TEXTAREA" ||
      (el.tagName === "INPUT" &&
        !["checkbox", "radio", "button", "submit", "reset", "file", "image", "range", "color"].includes(
          (el.type || "").toLowerCase(),
        )));

  const fieldValue = (el) => {
    if (el.isContentEditable) return el.innerText;
    if (el.type === "file") return [...(el.files || [])].map((file) => file.name).join(", ");
    return el.value;
  };

  const flushType = () => {
    if (!pendingType) return;
    const { el, captured, before } = pendingType;
    pendingType = null;
    const value = fieldValue(el);
    if (value === before) return; // keys that changed nothing are no decision
    reported.set(el, value);
    emit("TYPE", value, captured);
  };

  const flushScroll = () => {
    if (!pendingScroll) return;
    const { captured, timer } = pendingScroll;
    clearTimeout(timer);
    pendingScroll = null;
    emit("SCROLL", `${Math.round(window.scrollX)},${Math.round(window.scrollY)}`, captured);
  };

  const flushAll = () => {
    flushScroll();
    flushType();
  };

  const settleSoon = () => {
    clearTimeout(settleTimer);
    settleTimer = setTimeout(() => {
      try {
        window.__trajSettled(location.href);
      } catch (_) {}
    }, SETTLE_MS);
  };

  // Paused while the agent acts between the steps it hands to a person (its clicks are trusted too).
  let paused = false;
  const on = (type, handler) => window.addEventListener(type, (event) => paused || handler(event), true);

  // A click is decided at its pointerdown: resolve and snapshot it there, report it at the click.
  on("pointerdown", (event) => {
    if (!byPerson(event) || event.button !== 0) return;
    flushAll();
    const el = window.__traj.targetFor(event.composedPath());
    const captured = capture(el);
    pendingPress = { el, captured, x: event.clientX, y: event.clientY, hit: elementOf(event) };
    if (el && el.tagName === "SELECT") selectBefore.set(el, captured);
  });

  // A press whose element the page removed gets no click: the press was the click.
  on("pointerup", (event) => {
    const press = pendingPress;
    if (!press || !byPerson(event)) return;
    setTimeout(() => {
      if (pendingPress !== press) return; // its click came
      pendingPress = null;
      if (Math.hypot(event.clientX - press.x, event.clientY - press.y) <= PRESS_SLOP_PX) reportClick(press);
    }, 0);
  });

  on("click", (event) => {
    if (!byPerson(event)) return;
    // Enter in a form field "clicks" its submit button (detail 0): the decision was the Enter.
    if (event.detail === 0 && performance.now() - lastEnterAt < ENTER_CLICK_MS) return;
    // A label forwards its click to its control within the same task: one decision.
    if (clickedThisTask) return;
    clickedThisTask = true;
    setTimeout(() => (clickedThisTask = false), 0);
    let press = pendingPress;
    pendingPress = null;
    if (!press) {
      // No pointer press: keyboard activation, or a click from outside the page's scripts.
      flushAll();
      const el = window.__traj.targetFor(event.composedPath());
      press = { el, captured: capture(el, el), hit: elementOf(event), x: event.clientX, y: event.clientY };
    }
    reportClick(press);
  });

  const reportClick = ({ el, captured, hit, x, y }) => {
    if (el && el.tagName === "SELECT") return; // reported as SELECT on change
    if (el && el.tagName === "INPUT" && el.type === "range") return; // the value it set is the step (TYPE)
    emit("CLICK", null, { ...captured, warning: clickWarning(el, hit, x, y) });
    settleSoon();
  };

  const clickWarning = (el, hit, x, y) => {
    const where = `at (${Math.round(x)}, ${Math.round(y)})`;
    if (hit && hit.tagName === "CANVAS") {
      return `the click ${where} landed on a <canvas>, which draws its own controls: what was clicked there is not capturable, a replay clicks the canvas's centre`;
    }
    if (el) return "";
    const text = hit ? (hit.innerText || hit.textContent || "").trim().replace(/\s+/g, " ").slice(0, 60) : "";
    const tag = hit ? hit.tagName.toLowerCase() : "the page";
    return `the click ${where} on <${tag}>${text ? ` "${text}"` : ""} hit nothing the page reacts to (no link, button, role, listener or pointer cursor): recorded without a target`;
  };

  on("beforeinput", (event) => {
    if (!byPerson(event)) return;
    const el = elementOf(event) || document.activeElement;
    if (!isTextField(el)) return;
    if (pendingType && pendingType.el !== el) flushType();
    flushScroll();
    if (!pendingType) pendingType = { el, captured: capture(el), before: fieldValue(el) };
  });

  // A value set without beforeinput (a picker, slider, spinner, file chooser, Playwright's
  // fill of a date): the state before is the page now, with this control as it was.
  const valueChanged = (event) => {
    if (!byPerson(event)) return;
    const el = elementOf(event);
    if (!isValueField(el) || (pendingType && pendingType.el === el) || reported.get(el) === fieldValue(el)) return;
    if (pendingType) flushType();
    flushScroll();
    pendingType = { el, captured: capture(el, el), before: undefined };
  };
  on("input", valueChanged);

  on("focusout", (event) => {
    if (pendingType && elementOf(event) === pendingType.el) flushType();
  });

  on("keydown", (event) => {
    if (!event.isTrusted) return;
    if (SCROLL_KEYS.has(event.key) && !isTextField(document.activeElement)) lastUserScrollIntent = performance.now();
    if (event.key !== "Enter" || event.isComposing) return;
    lastEnterAt = performance.now();
    flushAll();
    const el = elementOf(event) || document.activeElement;
    emit("PRESS_ENTER", null, capture(el && el.nodeType === 1 && el !== document.body ? el : null));
    settleSoon();
  });

  on("focusin", (event) => {
    const el = elementOf(event);
    if (el && el.tagName === "SELECT" && !selectBefore.has(el)) selectBefore.set(el, capture(el));
  });

  on("change", (event) => {
    if (!byPerson(event)) return;
    const el = elementOf(event);
    if (!el || el.tagName !== "SELECT") return valueChanged(event);
    flushAll();
    const captured = selectBefore.get(el) || capture(el, el);
    selectBefore.delete(el);
    const option = el.selectedOptions[0];
    emit("SELECT", option ? option.text.trim() : el.value, captured);
    selectBefore.set(el, capture(el)); // the state before a next change of the same select
    settleSoon();
  });

  on("wheel", (event) => {
    if (event.isTrusted) lastUserScrollIntent = performance.now();
  });

  on("scroll", () => {
    // Scrolling caused by focus or scrollIntoView is not the person's decision.
    if (performance.now() - lastUserScrollIntent > USER_SCROLL_WINDOW_MS && !pendingScroll) return;
    if (!pendingScroll) pendingScroll = { captured: capture(null), timer: null };
    clearTimeout(pendingScroll.timer);
    pendingScroll.timer = setTimeout(flushScroll, SCROLL_QUIET_MS);
  });

  window.addEventListener("pagehide", flushAll, true);

  const OWN_ATTRIBUTES = new Set(["data-agent-id", "data-agent-frame"]);
  new MutationObserver((records) => {
    // The snapshotter's own id attributes are not the page changing.
    const changes = records.filter((r) => r.type !== "attributes" || !OWN_ATTRIBUTES.has(r.attributeName)).length;
    if (!changes) return;
    mutations += changes;
    settleSoon();
  }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });

  const setPaused = (value) => {
    paused = !!value;
    if (!paused) return;
    if (pendingScroll) clearTimeout(pendingScroll.timer);
    pendingScroll = null;
    pendingType = null;
  };

  window.__trajRecorder = { flush: flushAll, setPaused };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", settleSoon);
  } else {
    settleSoon();
  }
})();
