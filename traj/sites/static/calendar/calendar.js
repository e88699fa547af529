/* Planwise: a week-view calendar. Seeded events come from world.js; events the user adds
 * live in localStorage ("calendar/events" for this seed), where the success predicate
 * (and the inbox, for the cross-app task) reads them.
 *
 * Variants: ambiguous adds a "Quick reminder" form (Title, Save) to the sidebar, whose
 * reminders never reach the week; removed swaps the dialog's Save for a disabled button,
 * which also stops Enter from saving; mutated reorders the dialog's fields and buttons,
 * the app links and the sidebar's side.
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const W = window.TrajWorld;
  const HOUR_PX = 48;
  const DAYS = 5; // a work week: Monday to Friday

  const crossApp = K.params.get("from") === "inbox";
  if (crossApp) K.register("cross_app", W.crossAppGoal, () => W.findEvent(W.meeting), W.crossAppParams);
  else K.register("calendar", W.calendarGoal, () => W.findEvent(W.target), W.calendarParams);
  K.keepSeedInLinks();
  // The calendar's own tab keeps the task it was opened for.
  K.$("calendar-link").href = K.link("/calendar/", crossApp ? { from: "inbox" } : {});

  const layout = K.rng("calendar-layout");
  // The mutated variant puts the sidebar on the other side than the plain page of this seed has it.
  if (K.layoutChance(layout) !== (K.variant === "mutated")) K.$("layout").classList.add(K.cls("sidebar-right"));

  let offset = 0;
  let currentStart = W.DAY_START;

  const grid = K.$("grid");
  const dialog = K.$("event-dialog");
  const form = K.$("event-form");
  const titleInput = K.$("event-title");
  const dateSelect = K.$("event-date");
  const startSelect = K.$("event-start");
  const endSelect = K.$("event-end");
  const errorLine = K.$("event-error");
  const details = K.$("details-dialog");

  function weekDays() {
    const first = K.dates.addDays(W.weekStart, 7 * offset);
    return Array.from({ length: DAYS }, (_, i) => K.dates.addDays(first, i));
  }

  function allEvents() { return W.existing.concat(W.userEvents()); }

  function timeLabel(total) { return K.hhmm(total); }

  function render() {
    const days = weekDays();
    const first = days[0];
    const last = days[DAYS - 1];
    K.$("range").textContent = K.dates.MONTHS[first.getUTCMonth()] + " " + first.getUTCDate() +
      " – " + (first.getUTCMonth() === last.getUTCMonth() ? "" : K.dates.MONTHS[last.getUTCMonth()] + " ") +
      last.getUTCDate() + ", " + last.getUTCFullYear();

    grid.replaceChildren();
    grid.append(K.el("div", { class: "corner" }));
    for (const day of days) {
      grid.append(K.el("div", { class: "day-head" }, [
        K.el("span", { text: K.dates.weekday(day).slice(0, 3) }),
        K.el("b", { text: String(day.getUTCDate()) }),
      ]));
    }
    const gutter = K.el("div", { class: "gutter" });
    for (let t = W.DAY_START; t < W.DAY_END; t += 60) gutter.append(K.el("div", { class: "hour", text: timeLabel(t) }));
    grid.append(gutter);

    const events = allEvents();
    for (const day of days) {
      const iso = K.dates.iso(day);
      const column = K.el("div", { class: "day-col", "data-date": iso });
      for (let t = W.DAY_START; t < W.DAY_END; t += W.SLOT) {
        column.append(K.el("div", {
          class: "slot" + (t % 60 ? " half" : ""),
          role: "button",
          tabindex: "-1",
          "data-time": timeLabel(t),
          "aria-label": K.dates.weekday(day) + ", " + K.dates.MONTHS[day.getUTCMonth()] + " " + day.getUTCDate() + ", " + timeLabel(t),
          onclick: () => openNew(iso, t),
        }));
      }
      const today = events.filter((e) => e.date === iso).sort((a, b) => K.minutes(a.start) - K.minutes(b.start));
      today.forEach((event, index) => {
        const top = (K.minutes(event.start) - W.DAY_START) / 60 * HOUR_PX;
        const height = (K.minutes(event.end) - K.minutes(event.start)) / 60 * HOUR_PX;
        // A later event that overlaps an earlier one is indented, so both stay clickable.
        const overlaps = today.slice(0, index).filter((o) => K.minutes(o.end) > K.minutes(event.start)).length;
        column.append(K.el("div", {
          class: "event " + event.source + (height <= HOUR_PX / 2 ? " short" : ""),
          role: "button",
          tabindex: "0",
          style: "top:" + top + "px;height:" + (height - 2) + "px;left:" + (2 + overlaps * 14) + "px",
          "aria-label": event.title + ", " + event.start + " to " + event.end,
          onclick: (e) => { e.stopPropagation(); openDetails(event); },
        }, [K.el("strong", { text: event.title }), K.el("span", { text: event.start + " – " + event.end })]));
      });
      grid.append(column);
    }
    renderAgenda(days, events);
  }

  function renderAgenda(days, events) {
    const agenda = K.$("agenda");
    agenda.replaceChildren();
    const isos = days.map(K.dates.iso);
    const shown = events.filter((e) => isos.includes(e.date))
      .sort((a, b) => (a.date + a.start).localeCompare(b.date + b.start));
    if (!shown.length) agenda.append(K.el("li", { class: "empty", text: "Nothing scheduled" }));
    for (const e of shown) {
      const day = K.dates.parse(e.date);
      agenda.append(K.el("li", { class: e.source }, [
        K.el("span", { class: "when", text: K.dates.short(day).slice(0, 3) + " " + day.getUTCDate() + " · " + e.start + "–" + e.end }),
        K.el("span", { text: e.title }),
      ]));
    }
  }

  function fillSelect(select, values, label, chosen) {
    select.replaceChildren();
    for (const value of values) select.append(K.el("option", { value: value, text: label(value), selected: value === chosen }));
  }

  function fillTimes(start, end) {
    currentStart = start;
    const starts = [];
    for (let t = W.DAY_START; t < W.DAY_END; t += W.SLOT) starts.push(timeLabel(t));
    fillSelect(startSelect, starts, (v) => v, timeLabel(start));
    const ends = [];
    for (let t = start + W.SLOT; t <= W.DAY_END; t += W.SLOT) ends.push(timeLabel(t));
    fillSelect(endSelect, ends, (v) => v, timeLabel(Math.min(end, W.DAY_END)));
  }

  function openNew(iso, start) {
    const isos = weekDays().map(K.dates.iso);
    fillSelect(dateSelect, isos, (v) => K.dates.short(K.dates.parse(v)), iso);
    fillTimes(start, start + 60);
    titleInput.value = "";
    errorLine.textContent = "";
    titleInput.removeAttribute("aria-invalid");
    dialog.showModal();
    titleInput.focus();
  }

  startSelect.addEventListener("change", () => {
    // Keep the duration when the start moves, as calendars do.
    const duration = Math.max(W.SLOT, K.minutes(endSelect.value) - currentStart);
    const start = K.minutes(startSelect.value);
    fillTimes(start, start + duration);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const title = titleInput.value.trim();
    if (!title) {
      errorLine.textContent = "Add a title for the event.";
      titleInput.setAttribute("aria-invalid", "true");
      return;
    }
    if (K.minutes(endSelect.value) <= K.minutes(startSelect.value)) {
      errorLine.textContent = "The event must end after it starts.";
      return;
    }
    const events = W.userEvents();
    events.push({ id: "user-" + Date.now().toString(36) + events.length, title: title, date: dateSelect.value,
      start: startSelect.value, end: endSelect.value, source: "user" });
    K.store.set("calendar/events", events);
    dialog.close();
    render();
  });
  K.$("event-cancel").addEventListener("click", () => dialog.close());

  let shown = null;
  function openDetails(event) {
    shown = event;
    K.$("details-title").textContent = event.title;
    K.$("details-when").textContent = W.describe(event);
    K.$("details-delete").hidden = event.source !== "user";
    details.showModal();
  }
  K.$("details-close").addEventListener("click", () => details.close());
  K.$("details-delete").addEventListener("click", () => {
    K.store.set("calendar/events", W.userEvents().filter((e) => e.id !== shown.id));
    details.close();
    render();
  });

  K.$("create").addEventListener("click", () => openNew(K.dates.iso(weekDays()[0]), 9 * 60));
  K.$("today").addEventListener("click", () => { offset = 0; render(); });
  K.$("prev-week").addEventListener("click", () => { offset -= 1; render(); });
  K.$("next-week").addEventListener("click", () => { offset += 1; render(); });

  if (K.variant === "ambiguous") addQuickReminder();
  if (K.variant === "removed") {
    // A calendar shared read-only: the default button is disabled, so Enter in the title saves nothing either.
    K.$("event-save").replaceWith(K.el("button", { type: "submit", id: "event-locked", disabled: true, text: "Editing disabled" }));
  }
  if (K.variant === "mutated") {
    K.reverseOrder([K.$("title-field"), K.$("date-field"), K.$("times")]);
    K.reverseOrder([K.$("start-field"), K.$("end-field")]);
    K.reverseOrder([...K.$("event-actions").children]);
    K.reverseOrder([...K.$("apps").children]);
  }

  // A lookalike of the event dialog's form, earlier in the page: a Title field and a Save button.
  function addQuickReminder() {
    const status = K.el("p", { class: "reminder-status", role: "status" });
    const form = K.el("form", {
      class: "quick-reminder", id: "quick-reminder", "aria-labelledby": "reminder-heading", novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        const title = form.elements.title.value.trim();
        if (!title) {
          status.textContent = "Write what to be reminded of.";
          return;
        }
        K.store.set("calendar/reminders", K.store.get("calendar/reminders", []).concat([{ title: title, at: Date.now() }]));
        form.reset();
        status.textContent = "Reminder saved. Reminders are not events and stay off the week view.";
      },
    }, [
      K.el("h2", { id: "reminder-heading", text: "Quick reminder" }),
      K.el("label", { for: "reminder-title", text: "Title" }),
      K.el("input", { id: "reminder-title", name: "title", placeholder: "Add title", autocomplete: "off" }),
      K.el("button", { type: "submit", class: "primary", text: "Save" }),
      status,
    ]);
    K.$("sidebar").prepend(form);
  }

  render();
})();
