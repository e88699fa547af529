// traj recorder: capture-phase listeners that report a person's actions to Python.
//
// Every report carries a DOM snapshot taken synchronously *before* the action takes
// effect (capture listeners run before the page's own handlers), so the observation an
// action references is the state the decision was made in. Keystrokes are coalesced into
// one TYPE with the field's final value; other keys are PRESS, drags DRAG (see their
// sections). A TYPE into a password field says so: Python stores it as a secret's name.
// Needs snapshot.js (window.__traj) first.
(() => {
  if (window.__trajRecorder || !window.__traj) return;
  const SCROLL_QUIET_MS = 300;
  const SETTLE_MS = 150;
  const USER_SCROLL_WINDOW_MS = 600;
  const KEY_CLICK_MS = 100;
  const SCROLL_KEYS = new Set(["PageDown", "PageUp", "ArrowDown", "ArrowUp", "Home", "End", " "]);

  let pendingType = null; // {el, captured}
  let pendingScroll = null; // {captured, timer}
  let selectBefore = new WeakMap(); // select -> captured before its value changed
  let mutations = 0;
  let lastUserScrollIntent = -Infinity;
  let lastKeyClickAt = -Infinity; // Enter pressed, Space released: the click it makes is that key
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
    if (value !== before) emit("TYPE", value, { ...captured, ...secretHint(el) }); // keys that changed nothing are no decision
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
    // Enter in a form field "clicks" its submit button (detail 0), Space "clicks" a focused
    // checkbox or button: the decision was the key. A drag's release clicks where it ended.
    if (event.detail === 0 && performance.now() - lastKeyClickAt < KEY_CLICK_MS) return;
    if (dragReleased) return;
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
    if (event.key !== "Enter" || event.isComposing || event.ctrlKey || event.altKey || event.metaKey) {
      pressKey(event);
      return;
    }
    lastKeyClickAt = performance.now();
    flushAll();
    const el = targetOf(event) || document.activeElement;
    emit("PRESS_ENTER", null, capture(el instanceof Element ? el : null));
    settleSoon();
  });

  // ---------------------------------------------------------------- keys (PRESS)
  // A key is a decision of its own when nothing else records its effect: text editing ends in
  // TYPE's final value, a select's arrows in SELECT, the page's scroll keys in SCROLL, and plain
  // Enter is PRESS_ENTER. Everything else (Tab, Escape, arrows on a slider, Space on a checkbox,
  // Backspace outside a field, shortcuts) is PRESS with the chord as Playwright spells it.
  const MODIFIER_KEYS = new Set(["Shift", "Control", "Alt", "Meta", "AltGraph", "CapsLock", "NumLock", "ScrollLock", "Fn", "OS"]);
  const F_KEYS = Array.from({ length: 12 }, (_, i) => `F${i + 1}`);
  const NAMED_KEYS = new Set([
    ...["Enter", "Tab", "Escape", "Backspace", "Delete", "Insert", "Home", "End", "PageUp", "PageDown"],
    ...["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "ContextMenu", ...F_KEYS],
  ]);
  const FIELD_KEYS = new Set(["Tab", "Escape", "Enter", ...F_KEYS]); // in a text field, their effect is no TYPE
  const LIST_KEYS = new Set(["ArrowUp", "ArrowDown", "PageUp", "PageDown"]); // move in a combobox's suggestions

  const keyName = (event) =>
    event.key === " " ? "Space" : event.key.length === 1 || NAMED_KEYS.has(event.key) ? event.key : null;

  // Modifiers in Python's order (traj.prompt.normalize_key); Shift only where the key does not
  // already show it (an upper-case letter is the key itself).
  const chordOf = (event, key) => {
    const mods = [];
    if (event.ctrlKey) mods.push("Control");
    if (event.altKey) mods.push("Alt");
    if (event.metaKey) mods.push("Meta");
    if (event.shiftKey && key.length > 1) mods.push("Shift");
    return [...mods, key].join("+");
  };

  const isCombobox = (el) =>
    el.tagName === "INPUT" &&
    (el.getAttribute("role") === "combobox" || ["aria-autocomplete", "list", "aria-controls", "aria-owns"].some((a) => el.hasAttribute(a)));

  const pressWorthy = (event, el, key) => {
    if (isTextField(el)) return FIELD_KEYS.has(key) || (LIST_KEYS.has(key) && isCombobox(el));
    if (el.tagName === "SELECT") return FIELD_KEYS.has(key);
    if (el === document.body || el === document.documentElement) {
      return !SCROLL_KEYS.has(event.key) || event.ctrlKey || event.altKey || event.metaKey;
    }
    return true;
  };

  const pressKey = (event) => {
    if (MODIFIER_KEYS.has(event.key) || event.isComposing) return;
    const focused = event.composedPath()[0];
    const key = keyName(event);
    if (!key || !(focused instanceof Element) || !pressWorthy(event, focused, key)) return;
    flushAll();
    const { captured } = captureEvent(event);
    emit("PRESS", chordOf(event, key), captured);
    if (key === "Space") spacePressed = true;
    settleSoon();
  };

  let spacePressed = false;
  on("keyup", (event) => {
    if (!event.isTrusted || event.key !== " " || !spacePressed) return;
    spacePressed = false;
    lastKeyClickAt = performance.now(); // the click Space makes on release is the PRESS
  });

  // ---------------------------------------------------------------- drags (DRAG)
  // HTML5 drag and drop (dragstart ... drop) and pointer drags (pressed on one element, released
  // over another) are one DRAG of the element picked up onto the element it was dropped on,
  // decided in the state before the drag: captured at the pointer press for a draggable
  // element, else at the first move past DRAG_MIN_PX (before the page's own move handlers).
  const DRAG_MIN_PX = 8;
  let pointerStart = null; // {x, y, path, captured} while the primary button is down
  let html5Drag = null; // the pointerStart an HTML5 drag began from
  let dragReleased = false; // within the task of a pointer drag's release, which clicks where it ended

  const firstWithId = (nodes) => nodes.find((node) => node instanceof Element && node.hasAttribute("data-agent-id")) || null;
  const isField = (el) => !!el && (["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName) || el.isContentEditable);

  const startCapture = (start) => {
    if (start.captured) return;
    start.captured = capture(null);
    const el = firstWithId(start.path);
    start.el = el;
    if (el) Object.assign(start.captured, { target: el.getAttribute("data-agent-id"), locators: window.__traj.locators(el), context: window.__traj.contextOf(el) });
  };

  // The element dropped on: the first one with an agent id under the pointer that is not the
  // dragged element (which may follow the pointer) nor inside it.
  // Elements under a point, topmost first, looking into open shadow roots (which the
  // document's own hit test reports as their host).
  const elementsAt = (root, x, y) =>
    root.elementsFromPoint(x, y).flatMap((el) =>
      el.shadowRoot && el.shadowRoot !== root ? [...elementsAt(el.shadowRoot, x, y).filter((e) => e !== el), el] : [el],
    );

  const dropTargetAt = (x, y, source) => {
    for (const node of elementsAt(document, x, y)) {
      const el = window.__traj.interactiveFor(node);
      if (el && el !== source && !(source && (source.contains(el) || el.contains(source)))) {
        window.__traj.agentIdOf(el);
        return el;
      }
    }
    return null;
  };

  // Dropped where the snapshot sees no element: still a DRAG (not a click where it ended), with
  // no drop target, which Python warns about.
  const emitDrag = (start, dropEl) => {
    if (!start.captured || !start.el) return;
    const drop = dropEl ? { dropLocators: window.__traj.locators(dropEl), dropContext: window.__traj.contextOf(dropEl) } : {};
    emit("DRAG", dropEl ? dropEl.getAttribute("data-agent-id") : null, { ...start.captured, ...drop });
    settleSoon();
  };

  on("pointerdown", (event) => {
    if (!event.isTrusted || event.button !== 0 || !event.isPrimary) return;
    pointerStart = { x: event.clientX, y: event.clientY, path: event.composedPath(), captured: null, el: null };
    const source = firstWithId(pointerStart.path);
    if (source && source.closest('[draggable="true"]')) {
      flushAll();
      startCapture(pointerStart);
    }
  });

  on("pointermove", (event) => {
    const start = pointerStart;
    if (!event.isTrusted || !start || start.captured || !(event.buttons & 1)) return;
    if (Math.hypot(event.clientX - start.x, event.clientY - start.y) < DRAG_MIN_PX) return;
    const source = firstWithId(start.path);
    if (!source || isField(source)) return; // a slider's thumb, a text selection: not a drag
    flushAll();
    startCapture(start);
  });

  on("pointerup", (event) => {
    const start = pointerStart;
    pointerStart = null;
    if (!event.isTrusted || !start || !start.captured || html5Drag || !start.el) return;
    const box = start.el.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (inside || Math.hypot(event.clientX - start.x, event.clientY - start.y) < DRAG_MIN_PX) return; // a click that shook
    dragReleased = true;
    setTimeout(() => (dragReleased = false), 0);
    emitDrag(start, dropTargetAt(event.clientX, event.clientY, start.el));
  });

  on("dragstart", (event) => {
    if (!event.isTrusted) return;
    const start = pointerStart || { x: event.clientX, y: event.clientY, path: event.composedPath(), captured: null, el: null };
    flushAll();
    startCapture(start);
    html5Drag = start;
  });

  on("drop", (event) => {
    const start = html5Drag;
    html5Drag = null;
    pointerStart = null;
    if (!event.isTrusted || !start) return;
    const onto = firstWithId(event.composedPath());
    emitDrag(start, onto && onto !== start.el ? onto : dropTargetAt(event.clientX, event.clientY, start.el));
  });

  on("dragend", () => {
    html5Drag = null; // dropped nowhere: nothing was done
    pointerStart = null;
  });

  // ---------------------------------------------------------------- secrets
  // What a password field receives is a secret: Python stores its name, never the value.
  const secretHint = (el) =>
    el.tagName === "INPUT" && (el.type || "").toLowerCase() === "password"
      ? { password: true, field: el.getAttribute("name") || el.id || el.getAttribute("autocomplete") || "" }
      : {};

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
