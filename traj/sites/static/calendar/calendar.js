/* Planwise: a week-view calendar. Seeded events come from world.js; events the user adds
 * live in localStorage ("calendar/events" for this seed), where the success predicate
 * (and the inbox, for the cross-app task) reads them.
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const W = window.TrajWorld;
  const HOUR_PX = 48;
  const DAYS = 5; // a work week: Monday to Friday

  const crossApp = K.params.get("from") === "inbox";
  if (crossApp) K.register("cross_app", W.crossAppGoal, () => W.findEvent(W.meeting));
  else K.register("calendar", W.calendarGoal, () => W.findEvent(W.target));
  K.keepSeedInLinks();
  // The calendar's own tab keeps the task it was opened for.
  document.getElementById("calendar-link").href = K.link("/calendar/", crossApp ? { from: "inbox" } : {});

  const layout = K.rng("calendar-layout");
  if (layout.chance(0.5)) document.getElementById("layout").classList.add("sidebar-right");

  let offset = 0;
  let currentStart = W.DAY_START;

  const grid = document.getElementById("grid");
  const dialog = document.getElementById("event-dialog");
  const form = document.getElementById("event-form");
  const titleInput = document.getElementById("event-title");
  const dateSelect = document.getElementById("event-date");
  const startSelect = document.getElementById("event-start");
  const endSelect = document.getElementById("event-end");
  const errorLine = document.getElementById("event-error");
  const details = document.getElementById("details-dialog");

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
    document.getElementById("range").textContent = K.dates.MONTHS[first.getUTCMonth()] + " " + first.getUTCDate() +
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
    const agenda = document.getElementById("agenda");
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
  document.getElementById("event-cancel").addEventListener("click", () => dialog.close());

  let shown = null;
  function openDetails(event) {
    shown = event;
    document.getElementById("details-title").textContent = event.title;
    document.getElementById("details-when").textContent = W.describe(event);
    document.getElementById("details-delete").hidden = event.source !== "user";
    details.showModal();
  }
  document.getElementById("details-close").addEventListener("click", () => details.close());
  document.getElementById("details-delete").addEventListener("click", () => {
    K.store.set("calendar/events", W.userEvents().filter((e) => e.id !== shown.id));
    details.close();
    render();
  });

  document.getElementById("create").addEventListener("click", () => openNew(K.dates.iso(weekDays()[0]), 9 * 60));
  document.getElementById("today").addEventListener("click", () => { offset = 0; render(); });
  document.getElementById("prev-week").addEventListener("click", () => { offset -= 1; render(); });
  document.getElementById("next-week").addEventListener("click", () => { offset += 1; render(); });

  render();
})();
