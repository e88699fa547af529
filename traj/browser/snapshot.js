// traj's DOM snapshotter, installed as window.__traj.
//
// Injected with context.add_init_script (runs in every frame before the page's scripts) or
// evaluated later with page.evaluate; installing it twice is harmless. Everything here is
// synchronous so the recorder can call it inside event listeners.
//
//   __traj.snapshot({markNew: true}) -> {url, title, text, elements}; {restore: el} shows form
//                                       control el as the previous snapshot saw it
//   __traj.snapshotJSON(options)     -> the same as a JSON string (far cheaper to pass through
//                                       Playwright's protocol or a binding than the object)
//   __traj.locators(el)              -> [[strategy, value], ...] most specific first
//   __traj.locatorsFor(agentId)      -> the same for an element found by its agent id, or null
//   __traj.actionTarget(agentId, box)-> {locators, clickable, opensWindow}: see there
//   __traj.windowsOpened()           -> window.open calls since the last actionTarget
//   __traj.elementByAgentId(agentId) -> the element (open shadow roots and same-origin iframes), or null
//   __traj.agentIdOf(el)             -> the element's agent id, assigned now if it has none
//   __traj.interactiveFor(node)      -> the nearest interactive element at or above node, or null
//   __traj.targetFor(path)           -> the element pointer input on an event's composed path acted
//                                       on (listed in every later snapshot), or null: see there
//   __traj.markSecret(agentId)       -> mask that field's value from now on (snapshots and screen)
//   __traj.maskValues([value, ...])  -> the same for every field (open shadow roots too) holding one (or its start)
//
// Agent ids: elements of the top document get "1", "2", ... from a counter kept on the
// document, assigned once, in document order, on first sight; an element keeps its id for the
// life of the document and an element inserted later gets the next number. A same-origin
// iframe element gets data-agent-frame="f1" (nested: "f1-f2") and the elements of its document
// get "f1-1", "f1-2", ... so ids are unique across the whole top page.
//
// Accessible roles and names follow Playwright's roleUtils.ts (Apache-2.0), so that a
// ("role", 'button "Save"') locator checked unique here is what page.get_by_role("button",
// name="Save", exact=True) finds; text, label, placeholder, title, test id and CSS are checked
// with the rules of Playwright's selector engines too (CSS pierces open shadow roots and treats
// a shadow host as the parent of its shadow tree's top-level elements).
(() => {
  'use strict';
  const VERSION = 8;
  if (window.__traj && window.__traj.version === VERSION) return;

  const MAX_TEXT = 20000;
  const MAX_ELEMENT_TEXT = 200;
  const MAX_ATTR = 300;
  const MAX_LOCATOR_TEXT = 80;
  const PASSWORD_MASK = '********';
  const FRAME_SEPARATOR = ' >>> ';
  const XHTML = 'http://www.w3.org/1999/xhtml';
  // Taken before the page's scripts run (when installed as an init script), in case they replace it.
  const stringify = JSON.stringify;

  const INTERACTIVE_ROLES = new Set([
    'button', 'link', 'checkbox', 'radio', 'tab', 'menuitem', 'menuitemcheckbox', 'menuitemradio',
    'option', 'switch', 'combobox', 'textbox', 'slider', 'spinbutton', 'searchbox', 'treeitem',
  ]);
  const CANDIDATES =
    'a[href],area[href],button,input,select,textarea,summary,[contenteditable],[role],[onclick],[tabindex],[draggable="true"],[aria-grabbed],[aria-dropeffect]';
  const EDITABLE_ANCESTOR = '[contenteditable]:not([contenteditable="false" i])';

  // ---------------------------------------------------------------- listeners the page adds

  // Any element becomes clickable through a listener. Those registered with addEventListener
  // are seen when this script runs before the page's own (as an init script); `on*` handler
  // properties are read off the element. Listeners on html, body, document and window handle
  // the whole page and make no element clickable. (A removed listener is not tracked.)
  const POINTER_EVENTS = new Set(['click', 'dblclick', 'contextmenu', 'mousedown', 'mouseup', 'pointerdown', 'pointerup', 'touchstart', 'touchend']);
  const POINTER_PROPERTIES = ['onclick', 'ondblclick', 'oncontextmenu', 'onmousedown', 'onmouseup', 'onpointerdown', 'onpointerup'];
  const listened = window.__trajListened || new WeakSet();
  // Nodes (elements, documents, shadow roots) listening for a click a plain one is not: a
  // double-click can open a cell's editor, a right-click the page's own menu, so the recorder
  // records those as such (CLICK "double", CLICK "right"). Windows are left out: Playwright's
  // own injected script listens there for every pointer event.
  const OTHER_CLICKS = ['dblclick', 'contextmenu'];
  const otherClicked = window.__trajOtherClicked || Object.fromEntries(OTHER_CLICKS.map((type) => [type, new WeakSet()]));
  if (!window.__trajListened) {
    Object.defineProperty(window, '__trajListened', { value: listened });
    Object.defineProperty(window, '__trajOtherClicked', { value: otherClicked });
    const addListener = EventTarget.prototype.addEventListener;
    EventTarget.prototype.addEventListener = function addEventListener(type, listener, options) {
      if (listener && this && this.nodeType === 1 && POINTER_EVENTS.has(type)) listened.add(this);
      if (listener && this && this.nodeType && OTHER_CLICKS.includes(type)) otherClicked[type].add(this);
      return addListener.call(this, type, listener, options);
    };
  }

  // Whether an event on `path` (its composedPath) reaches a page's listener or `on<type>`
  // handler for `type` (dblclick or contextmenu).
  function listensFor(type, path) {
    return path.some((target) => target.nodeType && (otherClicked[type].has(target) || typeof target['on' + type] === 'function'));
  }
  // Elements a person's pointer input acted on (targetFor): listed in every later snapshot.
  const promoted = window.__trajPromoted || new WeakSet();
  if (!window.__trajPromoted) Object.defineProperty(window, '__trajPromoted', { value: promoted });

  // The set kept by the window of el's document (a same-origin iframe keeps its own).
  function setOf(el, name) {
    const view = el.ownerDocument && el.ownerDocument.defaultView;
    return (view && view[name]) || (name === '__trajListened' ? listened : promoted);
  }

  // ---------------------------------------------------------------- per-call caches

  let cache = null;

  // `generated: false` leaves CSS-generated content (::before/::after, mostly icon glyphs) out of
  // accessible names: what snapshots do, for speed and because innerText leaves it out too.
  // Locators use Playwright's full computation.
  function withCaches(fn, generated = true) {
    if (cache) return fn();
    cache = {
      generated,
      style: new Map(), before: new Map(), after: new Map(), pseudo: new Map(), pseudoBefore: new Map(),
      pseudoAfter: new Map(), hidden: new Map(), visibility: new Map(), role: new Map(), name: new Map(),
      text: new Map(), ranges: new Map(),
    };
    try {
      return fn();
    } finally {
      cache = null;
    }
  }

  function styleOf(el, pseudo) {
    const map = pseudo === '::before' ? cache.before : pseudo === '::after' ? cache.after : cache.style;
    let style = map.get(el);
    if (style === undefined) {
      const view = el.ownerDocument && el.ownerDocument.defaultView;
      style = view ? view.getComputedStyle(el, pseudo) : null;
      map.set(el, style);
    }
    return style;
  }

  // ---------------------------------------------------------------- DOM helpers

  function tagOf(el) {
    const name = el.tagName;
    return typeof name === 'string' ? name.toUpperCase() : '';
  }

  function parentOrHost(el) {
    if (el.parentElement) return el.parentElement;
    const parent = el.parentNode;
    if (parent && parent.nodeType === 11 && parent.host) return parent.host;
    return null;
  }

  function rootOf(el) {
    const root = el.getRootNode();
    return root.nodeType === 9 || root.nodeType === 11 ? root : null;
  }

  function enclosingHost(el) {
    while (el.parentElement) el = el.parentElement;
    return parentOrHost(el);
  }

  function closestCrossShadow(el, css) {
    while (el) {
      const found = el.closest(css);
      if (found) return found;
      el = enclosingHost(el);
    }
    return null;
  }

  function normalizeWS(text) {
    return text.replace(/[\u200b\u00ad]/g, '').trim().replace(/\s+/g, ' ');
  }

  function cap(text, max) {
    return text.length > max ? text.slice(0, max - 1) + '\u2026' : text;
  }

  // Every root Playwright's selector engines search from `doc`: the document and each open
  // shadow root under it (not iframes: those are other frames).
  function rootsOf(doc) {
    const roots = [doc];
    for (let i = 0; i < roots.length; i++) {
      const walker = doc.createTreeWalker(roots[i], NodeFilter.SHOW_ELEMENT);
      for (let el = walker.nextNode(); el; el = walker.nextNode()) if (el.shadowRoot) roots.push(el.shadowRoot);
    }
    return roots;
  }

  function queryDeep(roots, css) {
    const out = [];
    for (const root of roots) for (const el of root.querySelectorAll(css)) out.push(el);
    return out;
  }

  function frameDocument(el) {
    try {
      const doc = el.contentDocument;
      return doc && doc.documentElement ? doc : null;
    } catch (e) {
      return null;
    }
  }

  // ---------------------------------------------------------------- agent ids

  function docState(doc) {
    let state = doc.__trajState;
    if (!state) {
      // next: the next agent id number; owned: element -> the id we gave it; seen: the elements
      // of the last marking snapshot (kept on the top document only).
      state = { next: 1, nextFrame: 1, owned: new WeakMap(), seen: null };
      Object.defineProperty(doc, '__trajState', { value: state, configurable: true });
    }
    return state;
  }

  // "" for the top document, "f1-" for an iframe's, "f1-f2-" for one nested in it.
  function idPrefix(doc) {
    const frame = frameElementOf(doc);
    if (!frame) return '';
    return frameId(frame) + '-';
  }

  function frameElementOf(doc) {
    try {
      const view = doc.defaultView;
      return (view && view.frameElement) || null;
    } catch (e) {
      return null;
    }
  }

  function frameId(iframe) {
    let id = iframe.getAttribute('data-agent-frame');
    if (!id) {
      const doc = iframe.ownerDocument;
      const prefix = idPrefix(doc);
      id = prefix + 'f' + docState(doc).nextFrame++;
      iframe.setAttribute('data-agent-frame', id);
    }
    return id;
  }

  function assignIds(items) {
    // Elements keep the id we gave them; an id attribute we did not give (a cloned node, or
    // HTML re-rendered from a serialisation) is adopted when no element of ours holds it.
    const taken = new Set();
    const pending = [];
    for (const item of items) {
      const state = docState(item.el.ownerDocument);
      const id = item.el.getAttribute('data-agent-id');
      if (id && state.owned.get(item.el) === id && !taken.has(id)) {
        taken.add(id);
        item.id = id;
      } else {
        pending.push(item);
      }
    }
    for (const item of pending) {
      const doc = item.el.ownerDocument;
      const state = docState(doc);
      let id = item.el.getAttribute('data-agent-id');
      const prefix = idPrefix(doc);
      if (!id || taken.has(id) || !id.startsWith(prefix) || !/^\d+$/.test(id.slice(prefix.length)) || ownedElsewhere(doc, id, item.el)) {
        id = prefix + state.next++;
        item.el.setAttribute('data-agent-id', id);
      } else {
        state.next = Math.max(state.next, Number(id.slice(prefix.length)) + 1);
      }
      state.owned.set(item.el, id);
      taken.add(id);
      item.id = id;
    }
  }

  function ownedElsewhere(doc, id, el) {
    const owned = docState(doc).owned;
    return queryDeep(rootsOf(doc), `[data-agent-id="${CSS.escape(id)}"]`).some((e) => e !== el && owned.get(e) === id);
  }

  function agentIdOf(el) {
    const state = docState(el.ownerDocument);
    const id = el.getAttribute('data-agent-id');
    if (id && state.owned.get(el) === id) return id;
    const item = { el };
    assignIds([item]);
    return item.id;
  }

  function elementByAgentId(id) {
    id = String(id);
    let doc = topDocument();
    const parts = id.split('-');
    for (let i = 0; i < parts.length - 1; i++) {
      const frame = findDeep(doc, `[data-agent-frame="${parts.slice(0, i + 1).join('-')}"]`);
      doc = frame && frameDocument(frame);
      if (!doc) return null;
    }
    return findDeep(doc, `[data-agent-id="${CSS.escape(id)}"]`);
  }

  function topDocument() {
    try {
      return window.top.document;
    } catch (e) {
      return document;
    }
  }

  function findDeep(doc, css) {
    const direct = doc.querySelector(css);
    if (direct) return direct;
    for (const root of rootsOf(doc).slice(1)) {
      const found = root.querySelector(css);
      if (found) return found;
    }
    return null;
  }

  // ---------------------------------------------------------------- interactive elements

  function explicitRole(el) {
    const roles = (el.getAttribute('role') || '').toLowerCase().split(' ').map((r) => r.trim());
    return roles.find((r) => VALID_ROLES.has(r)) || null;
  }

  function isInteractive(el) {
    switch (tagOf(el)) {
      case 'A':
      case 'AREA':
        if (el.hasAttribute('href')) return true;
        break;
      case 'BUTTON':
      case 'SELECT':
      case 'TEXTAREA':
      case 'SUMMARY':
        return true;
      case 'INPUT':
        if ((el.getAttribute('type') || '').toLowerCase() !== 'hidden') return true;
        break;
    }
    if (el.hasAttribute('role') && INTERACTIVE_ROLES.has(explicitRole(el))) return true;
    if (el.hasAttribute('tabindex') && parseInt(el.getAttribute('tabindex'), 10) >= 0) return true;
    if (el.hasAttribute('contenteditable')) {
      const value = el.getAttribute('contenteditable').toLowerCase();
      if (value === '' || value === 'true' || value === 'plaintext-only') {
        const parent = parentOrHost(el);
        if (!parent || !parent.closest(EDITABLE_ANCESTOR)) return true;
      }
    }
    // Drag sources and drop targets (DRAG's two elements): draggable, or marked up with ARIA's drag roles.
    if (el.getAttribute('draggable') === 'true' || el.hasAttribute('aria-grabbed')) return true;
    if ((el.getAttribute('aria-dropeffect') || 'none').trim().toLowerCase() !== 'none') return true;
    return el.onclick != null;
  }

  // Clickable by the page's own means rather than by role: an element a person acted on, one
  // with a pointer listener or handler property, the element showing an item of a list that
  // listens for clicks (jQuery UI menus and autocompletes), or one where a `cursor: pointer`
  // region starts. Those found by listener or cursor must stand alone (no interactive element
  // inside or around them, not a whole app's root) to be listed.
  const LIST_TAGS = new Set(['UL', 'OL', 'MENU', 'DL']);
  const LIST_ROLES = new Set(['list', 'listbox', 'menu', 'menubar', 'tree', 'tablist', 'radiogroup']);
  const MAX_CLICKABLE_DESCENDANTS = 40;
  const MAX_ITEM_DEPTH = 4;

  function clickableWithoutRole(el) {
    if (setOf(el, '__trajPromoted').has(el)) return true;
    const tag = tagOf(el);
    if (tag === 'HTML' || tag === 'BODY' || tag === 'IFRAME' || tag === 'FRAME' || tag === 'OPTION') return false;
    if (tag === 'LABEL') return !!el.control && !shown(el.control); // the face of a hidden box (CSS toggles)
    if (hasPointerHandler(el)) return !isListLike(el) && standsAlone(el, true);
    const item = listItemOf(el);
    if (item) return itemElement(item) === el && standsAlone(el, false);
    return startsPointerRegion(el) && standsAlone(el, true);
  }

  function hasPointerHandler(el) {
    return setOf(el, '__trajListened').has(el) || POINTER_PROPERTIES.some((name) => el[name] != null);
  }

  function isListLike(el) {
    return LIST_TAGS.has(tagOf(el)) || LIST_ROLES.has(explicitRole(el) || '');
  }

  // A list whose items are clicked: it listens, or is itself focusable, and its items have no role.
  function isItemList(el) {
    return isListLike(el) && (hasPointerHandler(el) || isInteractive(el)) && !INTERACTIVE_ROLES.has(ariaRole(el) || '');
  }

  // The item (child of an item list) at or a few levels above `el`, or null.
  function listItemOf(el) {
    for (let depth = 0; el && depth < MAX_ITEM_DEPTH; depth++) {
      const parent = parentOrHost(el);
      if (parent && isItemList(parent)) return el;
      el = parent;
    }
    return null;
  }

  // The element that shows an item: down from it while a single child carries the item's whole
  // text (jQuery UI's li > div wrapper), so an item is named by its own text, not the list's.
  function itemElement(item) {
    const text = normalizeWS(item.textContent || '');
    let el = item;
    while (text) {
      const same = [...el.children].filter((child) => normalizeWS(child.textContent || '') === text);
      if (same.length !== 1) break;
      el = same[0];
    }
    return el;
  }

  function startsPointerRegion(el) {
    const style = styleOf(el);
    if (!style || style.cursor !== 'pointer') return false;
    const parent = parentOrHost(el);
    const above = parent && styleOf(parent);
    return !above || above.cursor !== 'pointer';
  }

  function standsAlone(el, checkAncestors) {
    if (el.getElementsByTagName('*').length > MAX_CLICKABLE_DESCENDANTS) return false;
    for (const inner of el.querySelectorAll(CANDIDATES)) if (isInteractive(inner)) return false;
    if (checkAncestors) for (let above = parentOrHost(el); above; above = parentOrHost(above)) if (isInteractive(above)) return false;
    return true;
  }

  // The element pointer input acted on, from the event's composed path (innermost first): the
  // nearest interactive element, where a label stands for its control (for the label itself
  // when the control is not shown, as in CSS toggles) and a list's item for the list; else the
  // nearest element clickable without a role (see clickableWithoutRole). The result is listed
  // in every later snapshot of its document, so a recording always names what was acted on.
  // Null when nothing on the path reacts to the pointer.
  function targetFor(path) {
    const els = path.filter((node) => node && node.nodeType === 1);
    // Inside a label, its parts styled as clickable (a toggle's knob) are the label's.
    const label = els.findIndex((el) => tagOf(el) === 'LABEL' && el.control);
    const found = withCaches(() => {
      for (let i = 0; i < els.length; i++) {
        const el = els[i];
        const tag = tagOf(el);
        if (tag === 'BODY' || tag === 'HTML') return null;
        if (i === label) return shown(el.control) ? el.control : el;
        if (i > 0 && isItemList(el)) return itemElement(els[i - 1]);
        if (isInteractive(el) || (i > label && clickableWithoutRole(el))) return el;
      }
      return null;
    });
    if (found) setOf(found, '__trajPromoted').add(found);
    return found;
  }

  function shown(el) {
    const rect = el.getBoundingClientRect();
    return rect.width > 1 && rect.height > 1 && el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
  }

  // Where an element sits, in words: the label or heading of its nearest form, dialog,
  // section or row. Two controls with the same name in different places differ here.
  const CONTAINERS =
    'form, fieldset, dialog, [role="dialog"], [role="form"], [role="region"], section, article, aside, nav, li, tr, [role="row"]';
  const CONTAINER_LABELS = 'legend, h1, h2, h3, h4, h5, h6, caption, [role="heading"]';

  function contextOf(el) {
    for (let box = el && el.closest(CONTAINERS); box; box = box.parentElement && box.parentElement.closest(CONTAINERS)) {
      const heading = box.querySelector(CONTAINER_LABELS);
      const label = box.getAttribute('aria-label') || (heading && heading.textContent) || box.getAttribute('name') || '';
      const text = label.replace(/\s+/g, ' ').trim();
      if (text) return text.slice(0, 80);
    }
    return '';
  }

  // What the replay ladder compares: identity, visibility and surroundings of elements.
  function brief(element) {
    const el = elementByAgentId(element.agent_id);
    return {
      agent_id: element.agent_id,
      tag: element.tag,
      role: element.role,
      name: element.name,
      text: element.text,
      visible: element.visible,
      disabled: element.attrs.disabled !== undefined,
      context: el ? contextOf(el) : '',
    };
  }

  // Interactive elements with this fingerprint: {tag, role, name (lower-cased), attrs: [[key, value], ...]}.
  // Only elements of the fingerprint's tag are described: a replay step costs a fraction of a snapshot.
  function matching(fp) {
    const norm = (text) => normalizeWS(text || '').toLowerCase();
    return withCaches(() => {
      const items = [];
      if (document.documentElement) collect(document, null, items);
      assignIds(items);
      // Tag and plain attributes first: accessible names are the expensive part of describe().
      const plain = (el) => fp.attrs.every(([k, v]) => cap(el.getAttribute(k) || '', MAX_ATTR) === v);
      return items
        .filter((item) => (item.el.localName || tagOf(item.el).toLowerCase()) === fp.tag && plain(item.el))
        .map(describe)
        .filter((e) => e.role === fp.role && norm(e.name) === fp.name && fp.attrs.every(([k, v]) => (e.attrs[k] || '') === v))
        .map(brief);
    }, false);
  }

  // brief() of each element, or null for one that is not interactive.
  function briefs(els) {
    const ids = els.map((el) => agentIdOf(el));
    const byId = new Map(snapshot({ markNew: false }).elements.map((e) => [e.agent_id, e]));
    return ids.map((id) => (byId.has(id) ? brief(byId.get(id)) : null));
  }

  function interactiveFor(node) {
    let el = node && node.nodeType === 1 ? node : node && node.parentElement;
    for (; el; el = parentOrHost(el)) if (isInteractive(el)) return el;
    return null;
  }

  // Interactive elements in document order; an open shadow root's after its host, a
  // same-origin iframe's after the iframe.
  function collect(root, frame, out) {
    const marked = new Set(root.querySelectorAll(CANDIDATES));
    // A TreeWalker visits a large DOM several times faster than iterating querySelectorAll('*').
    const walker = (root.ownerDocument || root).createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    for (let el = walker.nextNode(); el; el = walker.nextNode()) {
      if ((marked.has(el) && isInteractive(el)) || clickableWithoutRole(el)) out.push({ el, frame, id: '' });
      if (el.shadowRoot) collect(el.shadowRoot, frame, out);
      const tag = el.tagName;
      if (tag === 'IFRAME' || tag === 'FRAME') {
        const doc = frameDocument(el);
        if (doc) {
          frameId(el);
          collect(doc, frameGeometry(el, frame), out);
        }
      }
    }
  }

  function frameGeometry(iframe, parent) {
    const rect = iframe.getBoundingClientRect();
    const style = styleOf(iframe);
    const x = rect.left + iframe.clientLeft + (parseFloat(style.paddingLeft) || 0);
    const y = rect.top + iframe.clientTop + (parseFloat(style.paddingTop) || 0);
    const visible = (!parent || parent.visible) && rect.width > 0 && rect.height > 0 && iframe.checkVisibility({ opacityProperty: true, visibilityProperty: true });
    return { x: (parent ? parent.x : 0) + x, y: (parent ? parent.y : 0) + y, visible, iframe, parent };
  }

  // ---------------------------------------------------------------- snapshot

  // The value, checked state and selection each form control showed in the last snapshot, and
  // the control a snapshot shows that way (options.restore): a value the person just changed,
  // seen in the capture phase of its input event, before the page reacted to it.
  const lastValues = new WeakMap();
  let restoring = null;

  function snapshot(options) {
    const markNew = !options || options.markNew !== false;
    restoring = (options && options.restore) || null;
    try {
      return withCaches(() => {
        const items = [];
        if (document.documentElement) collect(document, null, items);
        assignIds(items);
        const state = docState(document);
        const previous = state.seen;
        const seen = new WeakSet();
        const elements = items.map((item) => {
          const element = describe(item);
          if (markNew) {
            element.new = previous !== null && !previous.has(item.el);
            seen.add(item.el);
          }
          return element;
        });
        if (markNew) state.seen = seen;
        const body = document.body;
        const text = body ? body.innerText || '' : '';
        return {
          url: location.href,
          title: document.title || '',
          text: text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text,
          elements,
        };
      }, false);
    } finally {
      restoring = null;
    }
  }

  function snapshotJSON(options) {
    return stringify(snapshot(options));
  }

  function describe(item) {
    const el = item.el;
    const tag = tagOf(el);
    const rect = el.getBoundingClientRect();
    const frame = item.frame;
    const styleVisible = el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
    if (styleVisible) cache.visibility.set(el, true);
    const visible = (!frame || frame.visible) && rect.width > 0 && rect.height > 0 && styleVisible;
    return {
      agent_id: item.id,
      tag: el.localName || tag.toLowerCase(),
      role: ariaRole(el) || '',
      name: cap(normalizeWS(accessibleName(el) || fieldLabel(el)), MAX_ELEMENT_TEXT),
      text: tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' ? '' : shortText(el),
      attrs: attributesOf(el, tag),
      bbox: {
        x: round((frame ? frame.x : 0) + rect.left),
        y: round((frame ? frame.y : 0) + rect.top),
        width: round(rect.width),
        height: round(rect.height),
      },
      visible,
      occluded: visible && (isOccluded(el, rect) || isFrameOccluded(frame, rect)),
      new: false,
    };
  }

  // A form field with no accessible name is named by the text a person reads as its label: the
  // header cell of its table row, or the short text right before it (a <label> without `for`, a
  // span ending in a colon), or before the box it alone sits in. Pages built without label
  // markup are common; without it their fields are all 'textbox ""' and a reordered form cannot
  // tell them apart.
  const FIELD_TAGS = new Set(['INPUT', 'SELECT', 'TEXTAREA']);
  const MAX_FIELD_LABEL = 60;
  const MAX_LABEL_WORDS = 6;

  function fieldLabel(el) {
    if (!FIELD_TAGS.has(tagOf(el)) || ['button', 'submit', 'reset', 'image', 'hidden'].includes(el.type)) return '';
    const cell = el.closest('td, [role="gridcell"], [role="cell"]');
    const row = cell && cell.closest('tr, [role="row"]');
    if (row) {
      const header = row.querySelector('th, [role="rowheader"]');
      if (header && !header.contains(el)) return labelText(header);
    }
    const alone = (box) => box && box.querySelectorAll('input, select, textarea').length === 1;
    for (let at = el, depth = 0; at && at !== document.body && depth < 3; at = at.parentElement, depth++) {
      const label = textBeside(at, 'previousSibling') ?? (at === el && alone(el.parentElement) ? textBeside(el, 'nextSibling') : null);
      if (label !== null) return label;
      if (!alone(at.parentElement)) break;
    }
    return '';
  }

  // The text of the nodes right beside `node` (its siblings in direction `step`, up to a form
  // field, a button or a line break); null when there is none.
  function textBeside(node, step) {
    let text = '';
    for (let sib = node[step]; sib && !text; sib = sib[step]) {
      if (sib.nodeType === Node.ELEMENT_NODE) {
        if (sib.matches('input, select, textarea, button, br') || sib.querySelector('input, select, textarea, button')) break;
        if (!shown(sib)) continue;
      } else if (sib.nodeType !== Node.TEXT_NODE) {
        continue;
      }
      text = normalizeWS(sib.textContent);
    }
    return text ? labelText({ textContent: text }) || null : null;
  }

  // A label names, it does not instruct: a few words, not a sentence.
  function labelText(node) {
    const text = normalizeWS(node.innerText !== undefined ? node.innerText : node.textContent).replace(/[:*\s]+$/, '');
    const words = text.split(' ').length;
    return text.length <= MAX_FIELD_LABEL && words <= MAX_LABEL_WORDS && !/[.!?]$/.test(text) ? text : '';
  }

  function shortText(el) {
    const full = elementText(el).full;
    return cap(normalizeWS(full.length > 20 * MAX_ELEMENT_TEXT ? full.slice(0, 20 * MAX_ELEMENT_TEXT) : full), MAX_ELEMENT_TEXT);
  }

  function round(n) {
    return Math.round(n * 10) / 10;
  }

  function attributesOf(el, tag) {
    const attrs = {};
    for (const attr of el.attributes) {
      const name = attr.name;
      if (name.startsWith('aria-') || name === 'type' || name === 'name' || name === 'placeholder' || name === 'href') {
        attrs[name] = cap(attr.value, MAX_ATTR);
      }
    }
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') {
      const value = el.value || '';
      const masked = (tag === 'INPUT' && el.type === 'password') || secretFields.has(el);
      attrs.value = masked ? (value ? PASSWORD_MASK : '') : cap(value, MAX_ATTR);
      if (el.disabled) attrs.disabled = 'true';
    } else if (tag === 'BUTTON' && el.disabled) {
      attrs.disabled = 'true';
    }
    if (tag === 'INPUT' && (el.type === 'checkbox' || el.type === 'radio')) attrs.checked = String(el.checked);
    if (tag === 'SELECT') {
      attrs.selected = cap([...el.selectedOptions].map((o) => normalizeWS(o.text)).join(', '), MAX_ATTR);
    }
    if (el.hasAttribute('contenteditable') && el.isContentEditable) attrs.contenteditable = 'true';
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') {
      const known = { value: attrs.value, checked: attrs.checked, selected: attrs.selected };
      if (el !== restoring) lastValues.set(el, known);
      else if (lastValues.has(el)) for (const [key, value] of Object.entries(lastValues.get(el))) if (value !== undefined) attrs[key] = value;
    }
    return attrs;
  }

  // Fields holding a secret typed outside a password field (traj record --secret): masked like one.
  const secretFields = new WeakSet();

  function markSecret(id) {
    const el = elementByAgentId(id);
    if (!el) return false;
    maskSecret(el);
    return true;
  }

  function maskSecret(el) {
    secretFields.add(el);
    el.style.setProperty('-webkit-text-security', 'disc', 'important');
  }

  // A field holding one of `values`, or 3+ characters of one being typed (its start).
  function maskValues(values) {
    const holds = (value) => values.some((v) => v.startsWith(value) && value.length >= Math.min(3, v.length));
    let masked = 0;
    for (const el of queryDeep(rootsOf(document), 'input, textarea')) {
      if (!secretFields.has(el) && el.value && holds(el.value)) {
        maskSecret(el);
        masked++;
      }
    }
    return masked;
  }

  function isOccluded(el, rect) {
    const view = el.ownerDocument.defaultView;
    const x = rect.left + rect.width / 2;
    const y = rect.top + rect.height / 2;
    if (!view || x < 0 || y < 0 || x >= view.innerWidth || y >= view.innerHeight) return false;
    const root = rootOf(el) || el.ownerDocument;
    const hit = root.elementFromPoint(x, y);
    if (!hit || hit === el || el.contains(hit)) return false;
    // A label over its own control (custom-styled checkboxes) forwards the click.
    const label = hit.closest('label');
    if (label && label.control === el) return false;
    return true;
  }

  // An element in an iframe is also hidden when something in a parent document covers the
  // iframe at the element's centre.
  function isFrameOccluded(frame, rect) {
    if (!frame) return false;
    const x = frame.x + rect.left + rect.width / 2;
    const y = frame.y + rect.top + rect.height / 2;
    for (let f = frame; f; f = f.parent) {
      const iframe = f.iframe;
      const view = iframe.ownerDocument.defaultView;
      const lx = x - (f.parent ? f.parent.x : 0);
      const ly = y - (f.parent ? f.parent.y : 0);
      if (!view || lx < 0 || ly < 0 || lx >= view.innerWidth || ly >= view.innerHeight) return false;
      const root = rootOf(iframe) || iframe.ownerDocument;
      if (root.elementFromPoint(lx, ly) !== iframe) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- locators

  function locatorsFor(id) {
    const el = elementByAgentId(id);
    return el ? locators(el) : null;
  }

  // The element the agent is about to act on, in one call: its locators (for the record) and
  // whether a click on it can go ahead without Playwright's waits. It can when the element is
  // in the top document, enabled and visible, still has `box` (the box the agent saw it in,
  // hundreds of milliseconds ago: it is stable) and nothing covers its centre, which is in the
  // viewport: the checks Playwright would retry until they pass. Null when no element has the id.
  // `opensWindow`: a click follows a link or submits a form into another browsing context.
  // It also restarts the count of window.open calls that `windowsOpened` reports.
  function actionTarget(id, box) {
    const el = elementByAgentId(id);
    if (!el) return null;
    windowOpens = 0;
    return { locators: locators(el), clickable: withCaches(() => clickable(el, box)), opensWindow: opensWindow(el) };
  }

  // Where a person points to show a hidden element: the face (first shown child) of its
  // innermost shown ancestor that is an item of a list, menu or tree, whose submenu opens on
  // hover; null when it has none.
  const REVEALING_ROLES = new Set(['menuitem', 'treeitem', 'listitem', 'option']);

  function revealPoint(el) {
    for (let up = el && parentOrHost(el); up && up !== document.body; up = parentOrHost(up)) {
      if (!shown(up) || !(tagOf(up) === 'LI' || REVEALING_ROLES.has(ariaRole(up) || ''))) continue;
      const face = [...up.children].find((child) => shown(child) && !child.contains(el)) || up;
      const box = face.getBoundingClientRect();
      return { x: box.left + box.width / 2, y: box.top + Math.min(box.height / 2, 12) };
    }
    return null;
  }

  function opensWindow(el) {
    const link = el.closest('a[href], area[href]');
    const form = link ? null : el.form && (el.type === 'submit' || el.type === 'image') ? el.form : null;
    const target = link ? link.target : form ? el.formTarget || form.target : '';
    return !!target && !['_self', '_parent', '_top'].includes(target.toLowerCase());
  }

  // Calls of window.open since the last actionTarget: a click whose handler opened a popup.
  let windowOpens = 0;
  const openWindow = window.open;
  if (typeof openWindow === 'function') {
    window.open = function open(...args) {
      windowOpens++;
      return openWindow.apply(this, args);
    };
  }

  function windowsOpened() {
    return windowOpens;
  }

  function clickable(el, box) {
    if (!box || el.ownerDocument !== document || el.matches(':disabled') || el.getAttribute('aria-disabled') === 'true') {
      return false;
    }
    const rect = el.getBoundingClientRect();
    const moved = ['x', 'y', 'width', 'height'].some((k, i) => Math.abs([rect.left, rect.top, rect.width, rect.height][i] - box[k]) > 0.5);
    if (moved || rect.width <= 0 || rect.height <= 0) return false;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return false;
    const x = rect.left + rect.width / 2;
    const y = rect.top + rect.height / 2;
    return x >= 0 && y >= 0 && x < window.innerWidth && y < window.innerHeight && !isOccluded(el, rect);
  }

  function locators(el) {
    return withCaches(() => {
      const doc = el.ownerDocument;
      const frame = frameElementOf(doc);
      let framePath = '';
      if (frame) {
        framePath = framePathOf(frame);
        if (framePath === null) return [];
      }
      const roots = rootsOf(doc);
      const found = ownLocators(el, roots);
      const out = [];
      for (const [strategy, value] of found) {
        if (framePath) out.push([strategy, framePath + FRAME_SEPARATOR + value]);
        else if (!value.includes(FRAME_SEPARATOR)) out.push([strategy, value]);
      }
      return out;
    });
  }

  // "sel" for an iframe of the top document, "outer >> inner" for nested ones: each a CSS
  // selector unique in its parent frame (the value the Python side hands to frame_locator).
  function framePathOf(iframe) {
    const doc = iframe.ownerDocument;
    const roots = rootsOf(doc);
    let selector = null;
    const tag = iframe.localName;
    const choices = [];
    if (goodId(iframe.id)) choices.push(`#${CSS.escape(iframe.id)}`);
    for (const attr of ['name', 'title']) {
      const value = iframe.getAttribute(attr);
      if (value) choices.push(`${tag}[${attr}=${cssString(value)}]`);
    }
    for (const choice of choices) {
      if (!choice.includes('>>') && cssUniqueFor(roots, parseChain(choice), iframe)) {
        selector = choice;
        break;
      }
    }
    if (!selector) selector = cssPath(iframe, roots);
    if (!selector || selector.includes('>>')) return null;
    const parent = frameElementOf(doc);
    if (!parent) return selector;
    const outer = framePathOf(parent);
    return outer === null ? null : outer + ' >> ' + selector;
  }

  function ownLocators(el, roots) {
    const out = [];
    const add = (strategy, value) => out.push([strategy, value]);
    const testId = el.getAttribute('data-testid');
    if (testId && queryDeep(roots, '[data-testid]').filter((e) => e.getAttribute('data-testid') === testId).length === 1) {
      add('test_id', testId);
    }
    const role = ariaRole(el);
    const hidden = isHiddenForAria(el);
    let roleName = null;
    if (role && !hidden) {
      roleName = normalizeWS(accessibleName(el));
      if (roleName && roleMatches(roots, role, roleName).length === 1) add('role', `${role} ${stringify(roleName)}`);
    }
    for (const label of labelsOf(el)) {
      if (label && labelMatches(roots, label).length === 1) {
        add('label', label);
        break;
      }
    }
    const placeholder = el.getAttribute('placeholder');
    if (placeholder && queryDeep(roots, '[placeholder]').filter((e) => e.getAttribute('placeholder') === placeholder).length === 1) {
      add('placeholder', placeholder);
    }
    const tag = tagOf(el);
    if (tag !== 'SELECT' && tag !== 'TEXTAREA' && !(tag === 'INPUT' && !isButtonInput(el)) && !el.isContentEditable) {
      const text = elementText(el).normalized;
      if (text && text.length <= MAX_LOCATOR_TEXT) {
        const matches = textMatches(roots, text);
        if (matches.length === 1 && matches[0] === el) add('text', text);
      }
    }
    const title = el.getAttribute('title');
    if (title && queryDeep(roots, '[title]').filter((e) => e.getAttribute('title') === title).length === 1) add('title', title);
    if (goodId(el.id)) {
      const css = `#${CSS.escape(el.id)}`;
      if (cssUniqueFor(roots, parseChain(css), el)) add('css_id', css);
    }
    if (role && !hidden && !roleName && roleMatches(roots, role, null).length === 1) add('role', role);
    const css = cssPath(el, roots);
    if (css) add('css', css);
    const xpath = xpathOf(el);
    if (xpath) add('xpath', xpath);
    return out;
  }

  function isButtonInput(el) {
    const type = el.type;
    return type === 'submit' || type === 'button' || type === 'reset';
  }

  // ---- role (Playwright's internal:role engine, include_hidden=False)

  const ROLE_TAGS = {
    link: 'a,area', button: 'button,input', checkbox: 'input', radio: 'input', slider: 'input',
    spinbutton: 'input', searchbox: 'input', textbox: 'input,textarea', combobox: 'input,select',
    listbox: 'select,datalist', option: 'option', heading: 'h1,h2,h3,h4,h5,h6', img: 'img,svg',
  };

  function roleMatches(roots, role, name) {
    const css = ROLE_TAGS[role] ? ROLE_TAGS[role] + ',[role]' : '*';
    return queryDeep(roots, css).filter((e) => {
      if (ariaRole(e) !== role || isHiddenForAria(e)) return false;
      return name === null || normalizeWS(accessibleName(e)) === name;
    });
  }

  // ---- label (Playwright's internal:label engine, exact)

  function labelsOf(el) {
    const labelledBy = labelledByElements(el);
    if (labelledBy) return labelledBy.map((l) => elementText(l).normalized);
    const ariaLabel = el.getAttribute('aria-label');
    if (ariaLabel !== null && ariaLabel.trim()) return [normalizeWS(ariaLabel)];
    if (isLabelable(el) && el.labels) return [...el.labels].map((l) => elementText(l).normalized);
    return [];
  }

  function isLabelable(el) {
    const tag = el.nodeName;
    if (tag === 'INPUT') return el.type !== 'hidden';
    return tag === 'BUTTON' || tag === 'METER' || tag === 'OUTPUT' || tag === 'PROGRESS' || tag === 'SELECT' || tag === 'TEXTAREA';
  }

  function labelMatches(roots, label) {
    const css = '[aria-label],[aria-labelledby],button,input,meter,output,progress,select,textarea';
    return queryDeep(roots, css).filter((e) => labelsOf(e).includes(label));
  }

  // ---- text (Playwright's internal:text engine, exact: the smallest elements whose text is it)

  // Playwright's elementText: {full, normalized}; `normalized` is computed on first use, since
  // the recursion needs only `full` of every descendant.
  class ElementText {
    constructor(full) {
      this.full = full;
      this.normalizedValue = undefined;
    }

    get normalized() {
      if (this.normalizedValue === undefined) this.normalizedValue = this.full ? normalizeWS(this.full) : '';
      return this.normalizedValue;
    }
  }

  function elementText(node) {
    let value = cache.text.get(node);
    if (value === undefined) {
      value = new ElementText(fullText(node));
      cache.text.set(node, value);
    }
    return value;
  }

  function fullText(node) {
    let full = '';
    if (!skipForText(node)) {
      if (node.nodeType === 1 && tagOf(node) === 'INPUT' && isButtonInput(node)) {
        full = node.value;
      } else {
        for (let child = node.firstChild; child; child = child.nextSibling) {
          if (child.nodeType === 3) full += child.nodeValue || '';
          else if (child.nodeType === 1) full += elementText(child).full;
        }
        if (node.shadowRoot) full += elementText(node.shadowRoot).full;
      }
    }
    return full;
  }

  function skipForText(node) {
    if (node.nodeType !== 1) return false;
    const name = node.nodeName;
    if (name === 'SCRIPT' || name === 'NOSCRIPT' || name === 'STYLE') return true;
    const head = node.ownerDocument.head;
    return !!head && head.contains(node);
  }

  function textMatches(roots, text) {
    // Any element whose text is `text` contains a text node whose own text is part of it:
    // climb from those text nodes instead of measuring every element of the page.
    const found = new Set();
    for (const root of roots) {
      const walker = (root.ownerDocument || root).createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const own = normalizeWS(node.nodeValue || '');
        if (!own || !text.includes(own)) continue;
        for (let el = node.parentElement || (node.parentNode && node.parentNode.host); el; el = parentOrHost(el)) {
          const normalized = elementText(el).normalized;
          if (normalized.length > text.length) break;
          if (normalized === text) found.add(el);
        }
      }
      for (const input of root.querySelectorAll('input')) {
        if (isButtonInput(input) && normalizeWS(input.value) === text) found.add(input);
      }
    }
    return [...found].filter((el) => {
      if (skipForText(el)) return false;
      for (let child = el.firstElementChild; child; child = child.nextElementSibling) {
        if (elementText(child).normalized === text) return false;
      }
      return !(el.shadowRoot && elementText(el.shadowRoot).normalized === text);
    });
  }

  // ---- CSS (Playwright's css engine: compound selectors matched natively, combinators by
  // Playwright, piercing open shadow roots)

  function cssString(value) {
    return '"' + value.replace(/["\\]/g, '\\$&').replace(/[\n\r\f]/g, (c) => `\\${c.charCodeAt(0).toString(16)} `) + '"';
  }

  // "a > b c" -> [{css: 'a', combinator: ''}, {css: 'b', combinator: '>'}, {css: 'c', combinator: ' '}];
  // only for selectors built here, whose compounds hold no spaces or '>' outside strings.
  function parseChain(selector) {
    const chain = [];
    let combinator = '';
    for (const token of splitCompounds(selector)) {
      if (token === '>') combinator = '>';
      else {
        chain.push({ css: token, combinator: chain.length ? combinator || ' ' : '' });
        combinator = '';
      }
    }
    return chain;
  }

  function splitCompounds(selector) {
    const tokens = [];
    let current = '';
    let quote = null;
    for (let i = 0; i < selector.length; i++) {
      const c = selector[i];
      if (quote) {
        current += c;
        if (c === '\\') current += selector[++i] || '';
        else if (c === quote) quote = null;
      } else if (c === '"' || c === "'") {
        quote = c;
        current += c;
      } else if (c === '\\') {
        current += c + (selector[++i] || '');
      } else if (c === ' ' || c === '>') {
        if (current) tokens.push(current);
        current = '';
        if (c === '>') tokens.push('>');
      } else {
        current += c;
      }
    }
    if (current) tokens.push(current);
    return tokens;
  }

  function chainMatches(el, chain, index) {
    if (!el.matches(chain[index].css)) return false;
    if (index === 0) return true;
    const combinator = chain[index].combinator;
    let parent = parentOrHost(el);
    if (combinator === '>') return !!parent && chainMatches(parent, chain, index - 1);
    for (; parent; parent = parentOrHost(parent)) if (chainMatches(parent, chain, index - 1)) return true;
    return false;
  }

  function cssUniqueFor(roots, chain, el) {
    try {
      const last = chain[chain.length - 1].css;
      const matches = queryDeep(roots, last).filter((e) => chainMatches(e, chain, chain.length - 1));
      return matches.length === 1 && matches[0] === el;
    } catch (e) {
      return false;
    }
  }

  function cssPath(el, roots) {
    const tag = cssTag(el);
    const leaves = [];
    const name = el.getAttribute('name');
    if (name && isFormControl(el)) leaves.push(`${tag}[name=${cssString(name)}]`);
    const classes = [...el.classList].filter(goodClass).slice(0, 2);
    if (classes.length) leaves.push(tag + classes.map((c) => '.' + CSS.escape(c)).join(''));
    leaves.push(tag);
    for (const leaf of leaves) if (cssUniqueFor(roots, parseChain(leaf), el)) return leaf;
    const segments = [];
    for (let e = el; e; e = parentOrHost(e)) {
      if (e !== el && goodId(e.id)) {
        const anchored = [`#${CSS.escape(e.id)}`, ...segments].join(' > ');
        if (cssUniqueFor(roots, parseChain(anchored), el)) return anchored;
      }
      if (tagOf(e) === 'HTML') break;
      segments.unshift(cssSegment(e));
      const selector = segments.join(' > ');
      if (cssUniqueFor(roots, parseChain(selector), el)) return selector;
    }
    const selector = segments.join(' > ');
    return selector && cssUniqueFor(roots, parseChain(selector), el) ? selector : null;
  }

  function cssTag(el) {
    const name = el.localName;
    return /^[a-z][a-z0-9-]*$/.test(name) ? name : CSS.escape(name);
  }

  function cssSegment(el) {
    const tag = cssTag(el);
    const parent = el.parentNode;
    if (!parent) return tag;
    let index = 0;
    let count = 0;
    for (let sibling = parent.firstElementChild; sibling; sibling = sibling.nextElementSibling) {
      if (sibling.localName === el.localName) {
        count++;
        if (sibling === el) index = count;
      }
    }
    return count > 1 ? `${tag}:nth-of-type(${index})` : tag;
  }

  function isFormControl(el) {
    const tag = tagOf(el);
    return tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || tag === 'BUTTON';
  }

  function goodClass(name) {
    return /^[A-Za-z][A-Za-z_-]{1,30}$/.test(name) && !/(^|[-_])(css|sc|jsx|emotion|styled)[-_]/.test(name);
  }

  function goodId(id) {
    if (!id || id.length > 64 || !/^[A-Za-z][\w-]*$/.test(id)) return false;
    if (/\d{4,}/.test(id) || /^(ember|ext-|yui|mui-|react-|radix-|headlessui-|rc-|uid|guid)/i.test(id)) return false;
    return !isGuidLike(id);
  }

  // Playwright codegen's test for ids that look generated (many character-class changes).
  function isGuidLike(id) {
    let last;
    let transitions = 0;
    for (const c of id) {
      if (c === '-' || c === '_') continue;
      const type = c >= 'a' && c <= 'z' ? 'lower' : c >= 'A' && c <= 'Z' ? 'upper' : c >= '0' && c <= '9' ? 'digit' : 'other';
      if (type === 'lower' && last === 'upper') {
        last = type;
        continue;
      }
      if (last && last !== type) transitions++;
      last = type;
    }
    return transitions >= id.length / 4;
  }

  // ---- XPath (absolute; elements in shadow roots have none)

  function xpathOf(el) {
    const doc = el.ownerDocument;
    if (el.getRootNode() !== doc) return null;
    const steps = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentNode) {
      const html = e.namespaceURI === XHTML;
      const test = html ? e.localName : `*[local-name()="${e.localName}"]`;
      let index = 0;
      let count = 0;
      for (let sibling = e.parentNode.firstElementChild; sibling; sibling = sibling.nextElementSibling) {
        if (sibling.localName === e.localName && (sibling.namespaceURI === XHTML) === html) {
          count++;
          if (sibling === e) index = count;
        }
      }
      steps.unshift(count > 1 ? `${test}[${index}]` : test);
    }
    const xpath = '/' + steps.join('/');
    try {
      const result = doc.evaluate(xpath, doc, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
      return result.snapshotLength === 1 && result.snapshotItem(0) === el ? xpath : null;
    } catch (e) {
      return null;
    }
  }

  // ---------------------------------------------------------------- roles (Playwright roleUtils.ts)

  const VALID_ROLES = new Set([
    'alert', 'alertdialog', 'application', 'article', 'banner', 'blockquote', 'button', 'caption', 'cell',
    'checkbox', 'code', 'columnheader', 'combobox', 'complementary', 'contentinfo', 'definition', 'deletion',
    'dialog', 'directory', 'document', 'emphasis', 'feed', 'figure', 'form', 'generic', 'grid', 'gridcell',
    'group', 'heading', 'img', 'insertion', 'link', 'list', 'listbox', 'listitem', 'log', 'main', 'mark',
    'marquee', 'math', 'meter', 'menu', 'menubar', 'menuitem', 'menuitemcheckbox', 'menuitemradio',
    'navigation', 'none', 'note', 'option', 'paragraph', 'presentation', 'progressbar', 'radio', 'radiogroup',
    'region', 'row', 'rowgroup', 'rowheader', 'scrollbar', 'search', 'searchbox', 'separator', 'slider',
    'spinbutton', 'status', 'strong', 'subscript', 'superscript', 'switch', 'tab', 'table', 'tablist',
    'tabpanel', 'term', 'textbox', 'time', 'timer', 'toolbar', 'tooltip', 'tree', 'treegrid', 'treeitem',
  ]);

  const ANCESTOR_PREVENTING_LANDMARK = 'article:not([role]), aside:not([role]), main:not([role]), nav:not([role]), section:not([role]), [role=article], [role=complementary], [role=main], [role=navigation], [role=region]';

  const GLOBAL_ARIA = [
    ['aria-atomic'], ['aria-busy'], ['aria-controls'], ['aria-current'], ['aria-describedby'], ['aria-details'],
    ['aria-dropeffect'], ['aria-flowto'], ['aria-grabbed'], ['aria-hidden'], ['aria-keyshortcuts'],
    ['aria-label', ['caption', 'code', 'deletion', 'emphasis', 'generic', 'insertion', 'paragraph', 'presentation', 'strong', 'subscript', 'superscript']],
    ['aria-labelledby', ['caption', 'code', 'deletion', 'emphasis', 'generic', 'insertion', 'paragraph', 'presentation', 'strong', 'subscript', 'superscript']],
    ['aria-live'], ['aria-owns'], ['aria-relevant'], ['aria-roledescription', ['generic']],
  ];

  const INPUT_ROLES = {
    button: 'button', checkbox: 'checkbox', image: 'button', number: 'spinbutton', radio: 'radio',
    range: 'slider', reset: 'button', submit: 'button',
  };

  function hasExplicitName(e) {
    return e.hasAttribute('aria-label') || e.hasAttribute('aria-labelledby');
  }

  function hasGlobalAria(el, forRole) {
    return GLOBAL_ARIA.some(([attr, prohibited]) => !(prohibited && prohibited.includes(forRole || '')) && el.hasAttribute(attr));
  }

  function hasTabIndex(el) {
    return !Number.isNaN(Number(String(el.getAttribute('tabindex'))));
  }

  function isNativelyFocusable(el) {
    const tag = tagOf(el);
    if (tag === 'BUTTON' || tag === 'DETAILS' || tag === 'SELECT' || tag === 'TEXTAREA') return true;
    if (tag === 'A' || tag === 'AREA') return el.hasAttribute('href');
    if (tag === 'INPUT') return !el.hidden;
    return false;
  }

  function isNativelyDisabled(el) {
    const tag = tagOf(el);
    const formControl = ['BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'OPTION', 'OPTGROUP'].includes(tag);
    if (!formControl) return false;
    if (el.hasAttribute('disabled')) return true;
    if (tag === 'OPTION' && el.closest('OPTGROUP[DISABLED]')) return true;
    const fieldset = el.closest('FIELDSET[DISABLED]');
    if (!fieldset) return false;
    const legend = fieldset.querySelector(':scope > LEGEND');
    return !legend || !legend.contains(el);
  }

  function isFocusable(el) {
    return !isNativelyDisabled(el) && (isNativelyFocusable(el) || hasTabIndex(el));
  }

  function idRefs(el, ref) {
    if (!ref) return [];
    const root = rootOf(el);
    if (!root) return [];
    try {
      const out = [];
      for (const id of ref.split(/[ \t\n\f\r]+/).filter((s) => !!s)) {
        const found = root.querySelector('#' + CSS.escape(id));
        if (found && !out.includes(found)) out.push(found);
      }
      return out;
    } catch (e) {
      return [];
    }
  }

  const IMPLICIT_ROLE = {
    A: (e) => (e.hasAttribute('href') ? 'link' : null),
    AREA: (e) => (e.hasAttribute('href') ? 'link' : null),
    ARTICLE: () => 'article',
    ASIDE: () => 'complementary',
    BLOCKQUOTE: () => 'blockquote',
    BUTTON: () => 'button',
    CAPTION: () => 'caption',
    CODE: () => 'code',
    DATALIST: () => 'listbox',
    DD: () => 'definition',
    DEL: () => 'deletion',
    DETAILS: () => 'group',
    DFN: () => 'term',
    DIALOG: () => 'dialog',
    DT: () => 'term',
    EM: () => 'emphasis',
    FIELDSET: () => 'group',
    FIGURE: () => 'figure',
    FOOTER: (e) => (closestCrossShadow(e, ANCESTOR_PREVENTING_LANDMARK) ? null : 'contentinfo'),
    FORM: (e) => (hasExplicitName(e) ? 'form' : null),
    H1: () => 'heading',
    H2: () => 'heading',
    H3: () => 'heading',
    H4: () => 'heading',
    H5: () => 'heading',
    H6: () => 'heading',
    HEADER: (e) => (closestCrossShadow(e, ANCESTOR_PREVENTING_LANDMARK) ? null : 'banner'),
    HR: () => 'separator',
    HTML: () => 'document',
    IMG: (e) => (e.getAttribute('alt') === '' && !e.getAttribute('title') && !hasGlobalAria(e) && !hasTabIndex(e) ? 'presentation' : 'img'),
    INPUT: (e) => {
      const type = e.type.toLowerCase();
      if (['email', 'search', 'tel', 'text', 'url', ''].includes(type)) {
        const list = idRefs(e, e.getAttribute('list'))[0];
        if (list && tagOf(list) === 'DATALIST') return 'combobox';
        return type === 'search' ? 'searchbox' : 'textbox';
      }
      if (type === 'hidden') return null;
      if (type === 'file') return 'button';
      return INPUT_ROLES[type] || 'textbox';
    },
    INS: () => 'insertion',
    LI: () => 'listitem',
    MAIN: () => 'main',
    MARK: () => 'mark',
    MATH: () => 'math',
    MENU: () => 'list',
    METER: () => 'meter',
    NAV: () => 'navigation',
    OL: () => 'list',
    OPTGROUP: () => 'group',
    OPTION: () => 'option',
    OUTPUT: () => 'status',
    P: () => 'paragraph',
    PROGRESS: () => 'progressbar',
    SEARCH: () => 'search',
    SECTION: (e) => (hasExplicitName(e) ? 'region' : null),
    SELECT: (e) => (e.multiple || e.size > 1 ? 'listbox' : 'combobox'),
    STRONG: () => 'strong',
    SUB: () => 'subscript',
    SUP: () => 'superscript',
    SVG: () => 'img',
    TABLE: () => 'table',
    TBODY: () => 'rowgroup',
    TD: (e) => {
      const table = closestCrossShadow(e, 'table');
      const role = table ? explicitRole(table) : '';
      return role === 'grid' || role === 'treegrid' ? 'gridcell' : 'cell';
    },
    TEXTAREA: () => 'textbox',
    TFOOT: () => 'rowgroup',
    TH: (e) => {
      const scope = e.getAttribute('scope');
      if (scope === 'col' || scope === 'colgroup') return 'columnheader';
      if (scope === 'row' || scope === 'rowgroup') return 'rowheader';
      const next = e.nextElementSibling;
      const prev = e.previousElementSibling;
      const row = e.parentElement && tagOf(e.parentElement) === 'TR' ? e.parentElement : null;
      if (!next && !prev) {
        if (row) {
          const table = closestCrossShadow(row, 'table');
          if (table && table.rows.length <= 1) return null;
        }
        return 'columnheader';
      }
      const isHeader = (x) => !!x && tagOf(x) === 'TH';
      const isData = (x) => !!x && tagOf(x) === 'TD' && !!((x.textContent || '').trim() || x.children.length > 0);
      if (isHeader(next) && isHeader(prev)) return 'columnheader';
      if (isData(next) || isData(prev)) return 'rowheader';
      return 'columnheader';
    },
    THEAD: () => 'rowgroup',
    TIME: () => 'time',
    TR: () => 'row',
    UL: () => 'list',
  };

  const PRESENTATION_PARENTS = {
    DD: ['DL', 'DIV'], DIV: ['DL'], DT: ['DL', 'DIV'], LI: ['OL', 'UL'], TBODY: ['TABLE'], TD: ['TR'],
    TFOOT: ['TABLE'], TH: ['TR'], THEAD: ['TABLE'], TR: ['THEAD', 'TBODY', 'TFOOT', 'TABLE'],
  };

  function implicitRole(el) {
    const fn = IMPLICIT_ROLE[tagOf(el)];
    const role = (fn && fn(el)) || '';
    if (!role) return null;
    for (let ancestor = el; ancestor;) {
      const parent = parentOrHost(ancestor);
      const parents = PRESENTATION_PARENTS[tagOf(ancestor)];
      if (!parents || !parent || !parents.includes(tagOf(parent))) break;
      const parentRole = explicitRole(parent);
      if ((parentRole === 'none' || parentRole === 'presentation') && !hasConflictResolution(parent, parentRole)) return parentRole;
      ancestor = parent;
    }
    return role;
  }

  function hasConflictResolution(el, role) {
    return hasGlobalAria(el, role) || isFocusable(el);
  }

  function ariaRole(el) {
    let role = cache.role.get(el);
    if (role !== undefined) return role;
    const explicit = explicitRole(el);
    if (!explicit) {
      role = implicitRole(el);
    } else {
      role = explicit;
      if (explicit === 'none' || explicit === 'presentation') {
        const implicit = implicitRole(el);
        if (hasConflictResolution(el, implicit)) role = implicit;
      }
    }
    cache.role.set(el, role);
    return role;
  }

  // ---- hidden for ARIA

  function isIgnoredForAria(el) {
    const tag = tagOf(el);
    return tag === 'STYLE' || tag === 'SCRIPT' || tag === 'NOSCRIPT' || tag === 'TEMPLATE';
  }

  function isHiddenForAria(el) {
    if (isIgnoredForAria(el)) return true;
    const style = styleOf(el);
    const isSlot = el.nodeName === 'SLOT';
    if (style && style.display === 'contents' && !isSlot) {
      for (let child = el.firstChild; child; child = child.nextSibling) {
        if (child.nodeType === 1 && !isHiddenForAria(child)) return false;
        if (child.nodeType === 3 && isVisibleTextNode(child)) return false;
      }
      return true;
    }
    const optionInSelect = el.nodeName === 'OPTION' && !!el.closest('select');
    if (!optionInSelect && !isSlot && !isStyleVisible(el, style)) return true;
    return belongsToHidden(el);
  }

  function isStyleVisible(el, style) {
    let visible = cache.visibility.get(el);
    if (visible === undefined) {
      style = style || styleOf(el);
      visible = !style || (el.checkVisibility() && style.visibility === 'visible');
      cache.visibility.set(el, visible);
    }
    return visible;
  }

  function belongsToHidden(el) {
    let hidden = cache.hidden.get(el);
    if (hidden === undefined) {
      hidden = !!(el.parentElement && el.parentElement.shadowRoot && !el.assignedSlot);
      if (!hidden) {
        const style = styleOf(el);
        hidden = !style || style.display === 'none' || (el.getAttribute('aria-hidden') || '').toLowerCase() === 'true';
      }
      if (!hidden) {
        const parent = parentOrHost(el);
        if (parent) hidden = belongsToHidden(parent);
      }
      cache.hidden.set(el, hidden);
    }
    return hidden;
  }

  function isVisibleTextNode(node) {
    const doc = node.ownerDocument;
    let range = cache.ranges.get(doc);
    if (!range) {
      range = doc.createRange();
      cache.ranges.set(doc, range);
    }
    range.selectNode(node);
    const rect = range.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0;
  }

  function isTextNodeNotRendered(text) {
    const parent = text.parentElement;
    if (!parent) return false;
    if (parent.shadowRoot && !text.assignedSlot) return true;
    return tagOf(parent) === 'DETAILS' && !parent.open;
  }

  // ---- accessible name (accname 1.2 as Playwright computes it)

  function labelledByElements(el) {
    const refs = el.ariaLabelledByElements || idRefs(el, el.getAttribute('aria-labelledby'));
    return refs && refs.length ? [...refs] : null;
  }

  function accessibleName(el) {
    let name = cache.name.get(el);
    if (name !== undefined) return name;
    const prohibits = ['caption', 'code', 'definition', 'deletion', 'emphasis', 'generic', 'insertion', 'mark', 'paragraph', 'presentation', 'strong', 'subscript', 'suggestion', 'superscript', 'term', 'time'];
    if (prohibits.includes(ariaRole(el) || '')) {
      name = '';
    } else {
      name = asFlatString(textAlternative(el, { includeHidden: false, visited: new Set(), embeddedInTargetElement: 'self' }));
    }
    cache.name.set(el, name);
    return name;
  }

  function asFlatString(s) {
    return s.split('\u00A0').map((chunk) => chunk.replace(/\r\n/g, '\n').replace(/[\u200b\u00ad]/g, '').replace(/\s\s*/g, ' ')).join('\u00A0').trim();
  }

  function allowsNameFromContent(role, descendant) {
    const always = ['button', 'cell', 'checkbox', 'columnheader', 'gridcell', 'heading', 'link', 'menuitem', 'menuitemcheckbox', 'menuitemradio', 'option', 'radio', 'row', 'rowheader', 'switch', 'tab', 'tooltip', 'treeitem'];
    const inDescendant = ['', 'caption', 'code', 'contentinfo', 'definition', 'deletion', 'emphasis', 'insertion', 'list', 'listitem', 'mark', 'none', 'paragraph', 'presentation', 'region', 'row', 'rowgroup', 'section', 'strong', 'subscript', 'superscript', 'table', 'term', 'time'];
    return always.includes(role) || (descendant && inDescendant.includes(role));
  }

  function inHiddenReference(o) {
    return !!((o.embeddedInLabelledBy && o.embeddedInLabelledBy.hidden) || (o.embeddedInDescribedBy && o.embeddedInDescribedBy.hidden) || (o.embeddedInNativeTextAlternative && o.embeddedInNativeTextAlternative.hidden) || (o.embeddedInLabel && o.embeddedInLabel.hidden));
  }

  function fromLabels(labels, o) {
    return [...labels].map((label) => textAlternative(label, {
      ...o,
      embeddedInLabel: { element: label, hidden: isHiddenForAria(label) },
      embeddedInNativeTextAlternative: undefined,
      embeddedInLabelledBy: undefined,
      embeddedInDescribedBy: undefined,
      embeddedInTargetElement: undefined,
    })).filter((text) => !!text).join(' ');
  }

  function queryInAriaOwned(el, css) {
    const out = [...el.querySelectorAll(css)];
    for (const owned of idRefs(el, el.getAttribute('aria-owns'))) {
      if (owned.matches(css)) out.push(owned);
      out.push(...owned.querySelectorAll(css));
    }
    return out;
  }

  function textAlternative(el, o) {
    if (o.visited.has(el)) return '';
    const childO = { ...o, embeddedInTargetElement: o.embeddedInTargetElement === 'self' ? 'descendant' : o.embeddedInTargetElement };
    if (!o.includeHidden && (isIgnoredForAria(el) || (!inHiddenReference(o) && isHiddenForAria(el)))) {
      o.visited.add(el);
      return '';
    }
    const labelledBy = labelledByElements(el);
    if (!o.embeddedInLabelledBy) {
      const name = (labelledBy || []).map((ref) => textAlternative(ref, {
        ...o,
        embeddedInLabelledBy: { element: ref, hidden: isHiddenForAria(ref) },
        embeddedInDescribedBy: undefined,
        embeddedInTargetElement: undefined,
        embeddedInLabel: undefined,
        embeddedInNativeTextAlternative: undefined,
      })).join(' ');
      if (name) return name;
    }
    const role = ariaRole(el) || '';
    const tag = tagOf(el);
    if (o.embeddedInLabel || o.embeddedInLabelledBy || o.embeddedInTargetElement === 'descendant') {
      const ownLabel = [...(el.labels || [])].includes(el);
      const ownLabelledBy = (labelledBy || []).includes(el);
      if (!ownLabel && !ownLabelledBy) {
        if (role === 'textbox' || role === 'searchbox') {
          o.visited.add(el);
          return (tag === 'INPUT' || tag === 'TEXTAREA' ? el.value : el.textContent) || '';
        }
        if (role === 'combobox' || role === 'listbox') {
          o.visited.add(el);
          let selected;
          if (tag === 'SELECT') {
            selected = [...el.selectedOptions];
            if (!selected.length && el.options.length) selected.push(el.options[0]);
          } else {
            const listbox = role === 'combobox' ? queryInAriaOwned(el, '*').find((e) => ariaRole(e) === 'listbox') : el;
            selected = listbox ? queryInAriaOwned(listbox, '[aria-selected="true" i]').filter((e) => ariaRole(e) === 'option') : [];
          }
          if (!selected.length && tag === 'INPUT') return el.value || '';
          return selected.map((option) => textAlternative(option, childO)).join(' ');
        }
        if (['progressbar', 'scrollbar', 'slider', 'spinbutton', 'meter'].includes(role)) {
          o.visited.add(el);
          if (el.hasAttribute('aria-valuetext')) return el.getAttribute('aria-valuetext') || '';
          if (el.hasAttribute('aria-valuenow')) return el.getAttribute('aria-valuenow') || '';
          return el.getAttribute('value') || '';
        }
        if (role === 'menu') {
          o.visited.add(el);
          return '';
        }
      }
    }
    const ariaLabel = el.getAttribute('aria-label') || '';
    if (ariaLabel.trim()) {
      o.visited.add(el);
      return ariaLabel;
    }
    if (role !== 'presentation' && role !== 'none') {
      if (tag === 'INPUT' && ['button', 'submit', 'reset'].includes(el.type)) {
        o.visited.add(el);
        const value = el.value || '';
        if (value.trim()) return value;
        if (el.type === 'submit') return 'Submit';
        if (el.type === 'reset') return 'Reset';
        return el.getAttribute('title') || '';
      }
      if (tag === 'INPUT' && el.type === 'file') {
        o.visited.add(el);
        const labels = el.labels || [];
        if (labels.length && !o.embeddedInLabelledBy) return fromLabels(labels, o);
        return 'Choose File';
      }
      if (tag === 'INPUT' && el.type === 'image') {
        o.visited.add(el);
        const labels = el.labels || [];
        if (labels.length && !o.embeddedInLabelledBy) return fromLabels(labels, o);
        const alt = el.getAttribute('alt') || '';
        if (alt.trim()) return alt;
        const title = el.getAttribute('title') || '';
        if (title.trim()) return title;
        return 'Submit';
      }
      if (!labelledBy && tag === 'BUTTON') {
        o.visited.add(el);
        const labels = el.labels || [];
        if (labels.length) return fromLabels(labels, o);
      }
      if (!labelledBy && tag === 'OUTPUT') {
        o.visited.add(el);
        const labels = el.labels || [];
        if (labels.length) return fromLabels(labels, o);
        return el.getAttribute('title') || '';
      }
      if (!labelledBy && ['TEXTAREA', 'SELECT', 'INPUT', 'METER', 'PROGRESS'].includes(tag)) {
        o.visited.add(el);
        const labels = el.labels || [];
        if (labels.length) return fromLabels(labels, o);
        const usePlaceholder = (tag === 'INPUT' && ['text', 'password', 'number', 'search', 'tel', 'email', 'url'].includes(el.type)) || tag === 'TEXTAREA';
        const placeholder = el.getAttribute('placeholder') || '';
        const title = el.getAttribute('title') || '';
        if (!usePlaceholder || title) return title;
        return placeholder;
      }
      if (!labelledBy && (tag === 'FIELDSET' || tag === 'FIGURE')) {
        o.visited.add(el);
        const caption = childOfTag(el, tag === 'FIELDSET' ? 'LEGEND' : 'FIGCAPTION');
        if (caption) return textAlternative(caption, { ...childO, embeddedInNativeTextAlternative: { element: caption, hidden: isHiddenForAria(caption) } });
        return el.getAttribute('title') || '';
      }
      if (tag === 'TABLE') {
        o.visited.add(el);
        const caption = childOfTag(el, 'CAPTION');
        if (caption) return textAlternative(caption, { ...childO, embeddedInNativeTextAlternative: { element: caption, hidden: isHiddenForAria(caption) } });
        const summary = el.getAttribute('summary') || '';
        if (summary) return summary;
      }
      if (tag === 'IMG' || tag === 'AREA') {
        o.visited.add(el);
        const alt = el.getAttribute('alt') || '';
        if (alt.trim()) return alt;
        return el.getAttribute('title') || '';
      }
      if (tag === 'SVG' || el.ownerSVGElement) {
        o.visited.add(el);
        for (let child = el.firstElementChild; child; child = child.nextElementSibling) {
          if (tagOf(child) === 'TITLE' && child.ownerSVGElement) {
            return textAlternative(child, { ...childO, embeddedInLabelledBy: { element: child, hidden: isHiddenForAria(child) } });
          }
        }
      }
      if (el.ownerSVGElement && tag === 'A') {
        const title = el.getAttribute('xlink:title') || '';
        if (title.trim()) {
          o.visited.add(el);
          return title;
        }
      }
    }
    const summaryFromContent = tag === 'SUMMARY' && role !== 'presentation' && role !== 'none';
    if (allowsNameFromContent(role, o.embeddedInTargetElement === 'descendant') || summaryFromContent || o.embeddedInLabelledBy || o.embeddedInDescribedBy || o.embeddedInLabel || o.embeddedInNativeTextAlternative) {
      o.visited.add(el);
      const text = innerAccumulatedText(el, childO);
      const maybeTrimmed = o.embeddedInTargetElement === 'self' ? text.trim() : text;
      if (maybeTrimmed) return text;
    }
    if ((role !== 'presentation' && role !== 'none') || tag === 'IFRAME' || tag === 'FRAME') {
      o.visited.add(el);
      const title = el.getAttribute('title') || '';
      if (title.trim()) return title;
    }
    o.visited.add(el);
    return '';
  }

  function childOfTag(el, tag) {
    for (let child = el.firstElementChild; child; child = child.nextElementSibling) if (tagOf(child) === tag) return child;
    return null;
  }

  function innerAccumulatedText(el, o) {
    const tokens = [];
    const skipNotRendered = !o.includeHidden && !inHiddenReference(o);
    const visit = (node, skipSlotted) => {
      if (skipSlotted && node.assignedSlot) return;
      if (node.nodeType === 1) {
        const style = styleOf(node);
        const display = (style && style.display) || 'inline';
        let token = textAlternative(node, o);
        if (display !== 'inline' || node.nodeName === 'BR') token = ' ' + token + ' ';
        tokens.push(token);
      } else if (node.nodeType === 3) {
        if (skipNotRendered && isTextNodeNotRendered(node)) return;
        tokens.push(node.textContent || '');
      }
    };
    tokens.push(cssContent(el, '::before') || '');
    const content = cssContent(el);
    if (content !== undefined) {
      tokens.push(content);
    } else {
      const assigned = el.nodeName === 'SLOT' ? el.assignedNodes() : [];
      if (assigned.length) {
        for (const child of assigned) visit(child, false);
      } else {
        for (let child = el.firstChild; child; child = child.nextSibling) visit(child, true);
        if (el.shadowRoot) for (let child = el.shadowRoot.firstChild; child; child = child.nextSibling) visit(child, true);
        for (const owned of idRefs(el, el.getAttribute('aria-owns'))) visit(owned, true);
      }
    }
    tokens.push(cssContent(el, '::after') || '');
    return tokens.join('');
  }

  function cssContent(el, pseudo) {
    const map = pseudo === '::before' ? cache.pseudoBefore : pseudo === '::after' ? cache.pseudoAfter : cache.pseudo;
    if (map.has(el)) return map.get(el);
    if (pseudo && !cache.generated) return undefined;
    const style = styleOf(el, pseudo);
    let content;
    if (style) {
      const value = style.content;
      if (value && value !== 'none' && value !== 'normal' && style.display !== 'none' && style.visibility !== 'hidden') {
        content = parseCssContent(el, value, !!pseudo);
      }
    }
    if (pseudo && content !== undefined && ((style && style.display) || 'inline') !== 'inline') content = ' ' + content + ' ';
    map.set(el, content);
    return content;
  }

  // The strings and attr() of a computed `content` value; after a "/" only the alternative
  // text counts, and an element's own content (not a pseudo-element's) counts only with one.
  function parseCssContent(el, value, isPseudo) {
    const tokens = cssTokens(value);
    if (!tokens) return undefined;
    let parts = tokens;
    const slash = tokens.findIndex((t) => t.type === 'delim' && t.value === '/');
    if (slash !== -1) parts = tokens.slice(slash + 1);
    else if (!isPseudo) return undefined;
    const out = [];
    for (let i = 0; i < parts.length; i++) {
      const t = parts[i];
      if (t.type === 'string') out.push(t.value);
      else if (t.type === 'function' && t.value === 'attr' && parts[i + 1] && parts[i + 1].type === 'ident' && parts[i + 2] && parts[i + 2].type === 'close') {
        out.push(el.getAttribute(parts[i + 1].value) || '');
        i += 2;
      } else {
        return undefined;
      }
    }
    return out.join('');
  }

  function cssTokens(value) {
    const tokens = [];
    let i = 0;
    const hex = /[0-9a-fA-F]/;
    while (i < value.length) {
      const c = value[i];
      if (/\s/.test(c)) {
        i++;
      } else if (c === '"' || c === "'") {
        let out = '';
        i++;
        while (i < value.length && value[i] !== c) {
          if (value[i] === '\\') {
            i++;
            if (i >= value.length) break;
            if (value[i] === '\n') {
              i++;
            } else if (hex.test(value[i])) {
              let code = '';
              while (code.length < 6 && i < value.length && hex.test(value[i])) code += value[i++];
              if (/\s/.test(value[i] || '')) i++;
              const point = parseInt(code, 16);
              out += point === 0 || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff) ? '\ufffd' : String.fromCodePoint(point);
            } else {
              out += value[i++];
            }
          } else {
            out += value[i++];
          }
        }
        i++;
        tokens.push({ type: 'string', value: out });
      } else if (/[A-Za-z_-]/.test(c)) {
        let name = '';
        while (i < value.length && /[\w-]/.test(value[i])) name += value[i++];
        if (value[i] === '(') {
          i++;
          tokens.push({ type: 'function', value: name.toLowerCase() });
        } else {
          tokens.push({ type: 'ident', value: name });
        }
      } else if (c === ')') {
        i++;
        tokens.push({ type: 'close' });
      } else {
        i++;
        tokens.push({ type: 'delim', value: c });
      }
    }
    return tokens;
  }

  Object.defineProperty(window, '__traj', {
    value: Object.freeze({
      version: VERSION, snapshot, snapshotJSON, locators, locatorsFor, actionTarget, windowsOpened, revealPoint, elementByAgentId, agentIdOf, interactiveFor, contextOf, targetFor,
      matching, briefs, markSecret, maskValues, listensFor,
    }),
    configurable: true,
    writable: true,
  });
})();
