// traj recorder: capture-phase listeners that report a person's actions to Python.
//
// Every report carries a DOM snapshot taken synchronously *before* the action takes
// effect (capture listeners run before the page's own handlers), so the observation an
// action references is the state the decision was made in. A click is resolved and
// snapshotted at its pointerdown, before a page that reacts on mousedown has changed and
// before a checkbox has toggled. Keystrokes are coalesced into one TYPE with the field's
// final value; inputs that fire no beforeinput (date, time, color, range, number spinners,
// files) are recorded from their input/change events with the control shown as it was;
// other keys are PRESS, drags DRAG (see their sections). A TYPE into a password field says
// so: Python stores it as a secret's name.
// Needs snapshot.js (window.__traj) first.
(() => {
  if (!window.__traj) return;
  if (window.__trajRecorder) {
    window.__trajRecorder.watch(document); // a window kept across a navigation (see on())
    return;
  }
  const SCROLL_QUIET_MS = 300;
  const SETTLE_MS = 150;
  const SELECT_OPEN_MS = 2000;
  const USER_SCROLL_WINDOW_MS = 600;
  const KEY_CLICK_MS = 100;
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
  // Within the task of an input: a label's forwarded click, a key's own value change, a drag's
  // release click are that input's effects. Reset by a timer, and by the next input: the browser
  // runs queued input before timers, so a quick series of inputs can come before the timer.
  let clickedThisTask = false;
  let keyEffect = null; // the control a recorded PRESS changes right after (an arrow key on a slider)
  let dragReleased = false; // within the task of a pointer drag's release, which clicks where it ended
  let selectBefore = new WeakMap(); // select -> captured before its value changed
  let mutations = 0;
  let lastUserScrollIntent = -Infinity;
  let lastKeyClickAt = -Infinity; // Enter pressed, Space released: the click it makes is that key
  let settleTimer = null;
  let inputSinceRest = false; // the person gave input since the page was last reported at rest
  let openSelect = null; // {el, at}: a select whose options popup a press opened, when (see settleSoon)

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

  // An iframe under a parent of another origin (a payment provider's widget): the page's
  // snapshotter cannot see into it, so an action here is observed in this frame alone and its
  // locators name no frame. Every such step is recorded with this warning.
  const crossOriginFrame = (() => {
    if (window.top === window) return "";
    try {
      void window.top.document;
      return "";
    } catch (_) {
      return `the step was done inside a cross-origin iframe (${location.origin}): its observation shows that frame alone, and a replay or an agent cannot reach into it`;
    }
  })();

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

  // The state before a key or other event: the element with an agent id it happened in (ids are
  // assigned by the snapshot, so one that just appeared has one once it is taken).
  const captureEvent = (event) => {
    const captured = capture(null);
    const el = firstWithId(event.composedPath());
    if (el) Object.assign(captured, { target: el.getAttribute("data-agent-id"), locators: window.__traj.locators(el), context: window.__traj.contextOf(el) });
    return { el, captured };
  };

  const emit = (kind, value, captured) => {
    lastActionPerf = Math.max(lastActionPerf, captured.perf);
    const warning = [captured.warning, crossOriginFrame].filter(Boolean).join("; ");
    send({ kind, value, mutations, ...captured, warning });
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
    emit("TYPE", value, { ...captured, ...secretHint(el) });
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

  // The page is at rest SETTLE_MS after its last change and the person's last input (see below):
  // Python then snapshots and screenshots it, never in the middle of a burst of input, where the
  // screenshot would slow the page's response to the next key and show a half-typed value.
  // A <select> a press opened lists its options in a popup of the browser's own: the keys typed
  // there never reach the page, so they cannot postpone the rest. While it is open (until its
  // value changes, focus leaves it, a key reaches the page, or at most SELECT_OPEN_MS) the
  // person is still choosing: not at rest.
  const settleSoon = () => {
    clearTimeout(settleTimer);
    settleTimer = setTimeout(() => {
      if (openSelect && performance.now() - openSelect.at < SELECT_OPEN_MS) return settleSoon();
      openSelect = null;
      inputSinceRest = false;
      try {
        window.__trajSettled(location.href);
      } catch (_) {}
    }, SETTLE_MS);
  };

  // Paused while the agent acts between the steps it hands to a person (its clicks are trusted too).
  // Each handler's own time is kept (the recorder's cost to the page, per event type: see timings()).
  let paused = false;
  const HANDLER_TIMES_KEPT = 2000;
  let handlerTimes = []; // [event type, ms]
  const on = (type, handler, where = window) =>
    where.addEventListener(
      type,
      (event) => {
        if (paused) return;
        // A window keeps its object, listeners and this script's state across its first
        // navigation (a popup's initial about:blank to its page), and Chromium does not run this
        // script again there: the window's first event of a new document has it watched, in time
        // for the document's own listeners to see that same event.
        if (where === window) watch(document);
        const start = performance.now();
        try {
          handler(event);
        } finally {
          if (handlerTimes.length >= HANDLER_TIMES_KEPT) handlerTimes = handlerTimes.slice(HANDLER_TIMES_KEPT / 2);
          handlerTimes.push([type, performance.now() - start]);
        }
      },
      true,
    );
  // Registered first, so the input's own handlers below see the state reset (not through on():
  // no work worth timing).
  for (const type of ["pointerdown", "keydown"]) {
    window.addEventListener(
      type,
      (event) => {
        if (!event.isTrusted) return;
        clickedThisTask = false;
        keyEffect = null;
        dragReleased = false;
        if (type === "keydown") openSelect = null; // keys reach the page: no popup has them
      },
      true,
    );
  }

  // The snapshot a pointerdown was resolved in: a drag starting at the same press reuses it (a
  // second snapshot would cost the page as much again and see every new element as seen).
  let pressCapture = null; // {event, captured}

  // A click is decided at its pointerdown: resolve and snapshot it there, report it at the click.
  on("pointerdown", (event) => {
    if (!byPerson(event) || event.button !== 0) return;
    flushAll();
    const el = window.__traj.targetFor(event.composedPath());
    const captured = capture(el);
    pressCapture = { event, captured };
    const value = el && el.tagName === "INPUT" ? el.value : undefined;
    pendingPress = { el, captured, value, x: event.clientX, y: event.clientY, hit: elementOf(event) };
    if (el && el.tagName === "SELECT") selectBefore.set(el, captured);
    openSelect = el && el.tagName === "SELECT" && !el.multiple && el.size <= 1 ? { el, at: performance.now() } : null;
  });

  // A press the page saw went past the window's capture listeners. One that did not was swallowed
  // there: Playwright's hit-target check swallows a press that landed on something else (the
  // layout moved under the pointer) and presses again, so that press was never a decision.
  // A click is reported where the page sees it, at the document, for the same reason (see watch()).
  const pressReached = (event) => {
    if (pendingPress && pressCapture && pressCapture.event === event) pendingPress.reached = true;
  };

  // A press whose element the page removed gets no click: the press was the click (unless it
  // was a drag, reported as DRAG, or a press the page never saw).
  on("pointerup", (event) => {
    const press = pendingPress;
    if (!press || !byPerson(event)) return;
    setTimeout(() => {
      if (pendingPress !== press) return; // its click came
      pendingPress = null;
      if (dragReleased || !press.reached) return; // a drag's release, reported as DRAG
      if (Math.hypot(event.clientX - press.x, event.clientY - press.y) <= PRESS_SLOP_PX) reportClick(press);
    }, 0);
  });

  const clicked = (event) => {
    if (!byPerson(event)) return;
    // Enter in a form field "clicks" its submit button (detail 0), Space "clicks" a focused
    // checkbox or button: the decision was the key. A drag's release clicks where it ended.
    if (event.detail === 0 && performance.now() - lastKeyClickAt < KEY_CLICK_MS) return;
    if (dragReleased) {
      pendingPress = null;
      return;
    }
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
    // The second click of a double-click, where the page listens for one, is CLICK "double"
    // (replayed with a click count of 2: two plain clicks fire no dblclick). Elsewhere a
    // habitual double-click is the two clicks it was.
    const double = event.detail === 2 && window.__traj.listensFor("dblclick", event.composedPath());
    reportClick(press, double ? "double" : null);
  };

  const reportClick = ({ el, captured, value, hit, x, y }, button = null) => {
    if (el && el.tagName === "SELECT") return; // reported as SELECT on change
    if (el && el.type === "range" && el.value !== value) return; // a click that moved a slider: its TYPE is the step
    emit("CLICK", button, { ...captured, warning: clickWarning(el, hit, x, y) });
    settleSoon();
  };

  // A right-click the page answers (its own context menu) is CLICK "right", observed before the
  // page's handler opens the menu; one only the browser's menu answers is no step.
  on("contextmenu", (event) => {
    if (!byPerson(event) || event.button !== 2 || !window.__traj.listensFor("contextmenu", event.composedPath())) return;
    flushAll();
    const el = window.__traj.targetFor(event.composedPath());
    reportClick({ el, captured: capture(el, el), hit: elementOf(event), x: event.clientX, y: event.clientY }, "right");
  });

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
    if (el === keyEffect) return; // what a recorded PRESS did (an arrow key on a slider)
    if (pendingType) flushType();
    flushScroll();
    pendingType = { el, captured: capture(el, el), before: undefined };
  };
  on("input", valueChanged);

  on("focusout", (event) => {
    if (pendingType && elementOf(event) === pendingType.el) flushType();
    if (openSelect && elementOf(event) === openSelect.el) openSelect = null;
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
    const el = elementOf(event) || document.activeElement;
    emit("PRESS_ENTER", null, capture(el && el.nodeType === 1 && el !== document.body ? el : null));
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
    keyEffect = focused; // the value change the key makes right after is its effect, not a TYPE
    setTimeout(() => (keyEffect = null), 0);
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

  const firstWithId = (nodes) => nodes.find((node) => node instanceof Element && node.hasAttribute("data-agent-id")) || null;
  const isField = (el) => !!el && (["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName) || el.isContentEditable);

  const startCapture = (start, event) => {
    if (start.captured) return;
    const taken = event && pressCapture && pressCapture.event === event ? pressCapture.captured : null;
    start.captured = taken ? { ...taken } : capture(null);
    const el = firstWithId(start.path);
    start.el = el;
    start.box = el ? el.getBoundingClientRect() : null; // where it was: a dragged element follows the pointer
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

  // What stood at (x, y) when the drag started (the boxes of the snapshot taken then), other
  // than the dragged element: where a sortable list makes room as the item moves, the pointer
  // ends over a gap the page opened, and the item that stood there is what it was dropped on.
  // The smallest box wins (the item, not its list).
  const stoodAt = (start, x, y) => {
    let found = null;
    let area = Infinity;
    for (const element of JSON.parse(start.captured.snapshot).elements) {
      const b = element.bbox;
      if (!element.visible || x < b.x || x > b.x + b.width || y < b.y || y > b.y + b.height || b.width * b.height >= area) continue;
      const el = window.__traj.elementByAgentId(element.agent_id);
      if (!el || el === start.el || el.contains(start.el) || start.el.contains(el)) continue;
      found = el;
      area = b.width * b.height;
    }
    return found;
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
      startCapture(pointerStart, event);
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
    const box = start.box;
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (inside || Math.hypot(event.clientX - start.x, event.clientY - start.y) < DRAG_MIN_PX) return; // a click that shook
    dragReleased = true;
    setTimeout(() => (dragReleased = false), 0);
    emitDrag(start, dropTargetAt(event.clientX, event.clientY, start.el) || stoodAt(start, event.clientX, event.clientY));
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
    const el = elementOf(event);
    if (el && el.tagName === "SELECT" && !selectBefore.has(el)) selectBefore.set(el, capture(el));
  });

  on("change", (event) => {
    if (!byPerson(event)) return;
    const el = elementOf(event);
    // A text field's change (on blur) repeats what its input already said, or what was typed
    // while the recorder was paused (the agent's own input): never a step of its own.
    if (!el || el.tagName !== "SELECT") return isTextField(el) ? undefined : valueChanged(event);
    flushAll();
    const captured = selectBefore.get(el) || capture(el, el);
    selectBefore.delete(el);
    const option = el.selectedOptions[0];
    emit("SELECT", option ? option.text.trim() : el.value, captured);
    selectBefore.set(el, capture(el)); // the state before a next change of the same select
    if (openSelect && openSelect.el === el) openSelect = null;
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

  // The person's input postpones the rest, and what it changed on screen is in the next one.
  for (const type of ["pointerdown", "keydown", "wheel"]) {
    on(type, (event) => {
      if (!event.isTrusted) return;
      inputSinceRest = true;
      settleSoon();
    });
  }

  const OWN_ATTRIBUTES = new Set(["data-agent-id", "data-agent-frame"]);
  const changed = new MutationObserver((records) => {
    // The snapshotter's own id attributes are not the page changing.
    const changes = records.filter((r) => r.type !== "attributes" || !OWN_ATTRIBUTES.has(r.attributeName)).length;
    if (!changes) return;
    mutations += changes;
    settleSoon();
  });

  // What is listened to on the document itself: presses and clicks the page saw, and its changes.
  const watched = new WeakSet();
  const watch = (doc) => {
    if (watched.has(doc)) return;
    watched.add(doc);
    on("pointerdown", pressReached, doc);
    on("click", clicked, doc);
    changed.observe(doc, { subtree: true, childList: true, attributes: true, characterData: true });
    if (doc.readyState === "loading") {
      doc.addEventListener("DOMContentLoaded", settleSoon);
    } else {
      settleSoon();
    }
  };

  const setPaused = (value) => {
    paused = !!value;
    if (!paused) return;
    if (pendingScroll) clearTimeout(pendingScroll.timer);
    pendingScroll = null;
    pendingType = null;
  };

  // The recorder's handlers' own times since the last call, [[event type, ms], ...]: what it costs
  // the page per input (bench/record.py reports them).
  const timings = () => {
    const taken = handlerTimes;
    handlerTimes = [];
    return taken;
  };

  // When the pointer last moved: a page that changed just after it (a submenu opening on hover)
  // was steered by the person, not waited for (see the rest snapshot in Python).
  let pointerMovedAt = -Infinity;
  window.addEventListener("pointermove", (event) => { if (event.isTrusted) pointerMovedAt = performance.now(); }, true);
  const pointerStillFor = () => Math.min(performance.now() - pointerMovedAt, 1e9);

  window.__trajRecorder = { flush: flushAll, setPaused, timings, watch, inputSinceRest: () => inputSinceRest, pointerStillFor };
  watch(document);
})();
