// traj recorder: capture-phase listeners that report a person's actions to Python.
//
// Every report carries a DOM snapshot taken synchronously *before* the action takes
// effect (capture listeners run before the page's own handlers), so the observation an
// action references is the state the decision was made in. Keystrokes are coalesced into
// one TYPE with the field's final value. Needs snapshot.js (window.__traj) first.
(() => {
  if (window.__trajRecorder || !window.__traj) return;
  const SCROLL_QUIET_MS = 300;
  const SETTLE_MS = 150;
  const USER_SCROLL_WINDOW_MS = 600;
  const ENTER_CLICK_MS = 100;
  const SCROLL_KEYS = new Set(["PageDown", "PageUp", "ArrowDown", "ArrowUp", "Home", "End", " "]);

  let pendingType = null; // {el, captured}
  let pendingScroll = null; // {captured, timer}
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

  const targetOf = (event) => {
    for (const node of event.composedPath()) {
      if (node instanceof Element && node.hasAttribute("data-agent-id")) return node;
    }
    return null;
  };

  const capture = (el) => {
    const snapshot = window.__traj.snapshotJSON({ markNew: true }); // a string crosses the binding ~40x faster
    const target = el ? el.getAttribute("data-agent-id") : null;
    const context = el ? window.__traj.contextOf(el) : "";
    // `at` is when the decision was made; a TYPE is reported only when its field is left.
    return { snapshot, target, locators: el ? window.__traj.locators(el) : [], context, at: Date.now() };
  };

  // The acted element and the state before the action. The snapshot assigns ids, so an
  // element that appeared since the last snapshot is found once it has been taken.
  const captureEvent = (event) => {
    const el = targetOf(event);
    if (el) return { el, captured: capture(el) };
    const captured = capture(null);
    const late = targetOf(event);
    if (late) {
      const more = { target: late.getAttribute("data-agent-id"), locators: window.__traj.locators(late) };
      Object.assign(captured, more, { context: window.__traj.contextOf(late) });
    }
    return { el: late, captured };
  };

  const emit = (kind, value, captured) => {
    send({ kind, value, mutations, ...captured });
    mutations = 0;
  };

  const isTextField = (el) =>
    !!el &&
    (el.isContentEditable ||
      el.tagName === "TEXTAREA" ||
      (el.tagName === "INPUT" &&
        !["checkbox", "radio", "button", "submit", "reset", "file", "image", "range", "color"].includes(
          (el.type || "").toLowerCase(),
        )));

  const fieldValue = (el) => (el.isContentEditable ? el.innerText : el.value);

  const flushType = () => {
    if (!pendingType) return;
    const { el, captured, before } = pendingType;
    pendingType = null;
    const value = fieldValue(el);
    if (value !== before) emit("TYPE", value, captured); // keys that changed nothing are no decision
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

  on("pointerdown", (event) => {
    if (!event.isTrusted) return;
    const path = event.composedPath();
    if (!path.some((node) => node instanceof Element && node.tagName === "SELECT")) return;
    const { el, captured } = captureEvent(event);
    if (el && el.tagName === "SELECT") selectBefore.set(el, captured);
  });

  on("click", (event) => {
    if (!event.isTrusted) return;
    // Enter in a form field "clicks" its submit button (detail 0): the decision was the Enter.
    if (event.detail === 0 && performance.now() - lastEnterAt < ENTER_CLICK_MS) return;
    flushAll();
    const { el, captured } = captureEvent(event);
    if (el && el.tagName === "SELECT") return; // reported as SELECT on change
    emit("CLICK", null, captured);
    settleSoon();
  });

  on("beforeinput", (event) => {
    if (!event.isTrusted) return;
    const el = targetOf(event) || document.activeElement;
    if (!isTextField(el)) return;
    if (pendingType && pendingType.el !== el) flushType();
    flushScroll();
    if (!pendingType) pendingType = { el, captured: capture(el), before: fieldValue(el) };
  });

  on("focusout", (event) => {
    if (pendingType && event.target === pendingType.el) flushType();
  });

  on("keydown", (event) => {
    if (!event.isTrusted) return;
    if (SCROLL_KEYS.has(event.key) && !isTextField(document.activeElement)) lastUserScrollIntent = performance.now();
    if (event.key !== "Enter" || event.isComposing) return;
    lastEnterAt = performance.now();
    flushAll();
    const el = targetOf(event) || document.activeElement;
    emit("PRESS_ENTER", null, capture(el instanceof Element ? el : null));
    settleSoon();
  });

  on("focusin", (event) => {
    const el = targetOf(event);
    if (el && el.tagName === "SELECT" && !selectBefore.has(el)) selectBefore.set(el, capture(el));
  });

  on("change", (event) => {
    if (!event.isTrusted) return;
    const el = targetOf(event);
    if (!el || el.tagName !== "SELECT") return;
    flushAll();
    const captured = selectBefore.get(el) || capture(el);
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
