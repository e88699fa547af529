/* The seeded world the calendar and the inbox share: the week on display, the events
 * already in the calendar, the slot the calendar task asks for and the meeting the inbox
 * email describes. Both pages load this file, so both derive the same world from the seed.
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const r = K.rng("world");

  const DAY_START = 8 * 60;
  const DAY_END = 18 * 60;
  const SLOT = 30;
  const SLOTS = (DAY_END - DAY_START) / SLOT;

  // A Monday in 2025 (Jan 6 2025 is one), chosen by seed.
  const monday = K.dates.addDays(new Date(Date.UTC(2025, 0, 6)), 7 * r.int(0, 45));
  const weekStart = monday;
  const weekdays = [0, 1, 2, 3, 4].map((i) => K.dates.iso(K.dates.addDays(monday, i)));

  const busy = {};
  for (const day of weekdays) busy[day] = new Array(SLOTS).fill(false);
  function free(day, start, length) {
    for (let i = start; i < start + length; i++) if (i >= SLOTS || busy[day][i]) return false;
    return true;
  }
  function take(day, start, length) {
    for (let i = start; i < start + length; i++) busy[day][i] = true;
  }
  function place(durations) {
    for (let attempt = 0; attempt < 500; attempt++) {
      const day = r.pick(weekdays);
      const length = r.pick(durations);
      const start = r.int(0, SLOTS - length);
      if (free(day, start, length)) {
        take(day, start, length);
        return { date: day, start: K.hhmm(DAY_START + start * SLOT), end: K.hhmm(DAY_START + (start + length) * SLOT) };
      }
    }
    return null;
  }

  const SEEDED_TITLES = ["Team standup", "1:1 with Priya", "Design review", "Lunch with Marco", "Sprint planning",
    "Dentist", "Vendor call: Northwind", "Hiring sync", "Customer demo", "Gym", "Budget check-in", "Product roadmap",
    "Interview: backend candidate", "All-hands", "Coffee with Lena", "Code review hour", "Release retro"];
  const existing = [];
  for (const title of r.sample(SEEDED_TITLES, r.int(7, 10))) {
    const slot = place([1, 2, 2, 3]);
    if (slot) existing.push(Object.assign({ id: "seed-" + existing.length, title: title, source: "seed" }, slot));
  }

  const BLOCK_TITLES = ["Focus time: Q3 budget", "Deep work: API migration", "Write quarterly report",
    "Prep for board meeting", "Focus: hiring plan", "Research: pricing study", "Blocked: travel to Berlin",
    "Review contracts", "Plan offsite agenda", "Focus: onboarding docs"];
  const target = Object.assign({ title: r.pick(BLOCK_TITLES) }, place([1, 2, 3, 4]));

  const MEETING_TITLES = ["Quarterly roadmap sync", "Partnership kickoff with Globex", "Security audit walkthrough",
    "Marketing launch review", "Data platform deep dive", "Customer advisory call", "Office move planning",
    "Pricing committee"];
  const meeting = Object.assign({ title: r.pick(MEETING_TITLES) }, place([1, 2, 3]));

  const PEOPLE = ["Dana Whitfield", "Omar Haddad", "Keiko Tanaka", "Luis Ortega", "Amara Okafor", "Sven Lindqvist",
    "Priya Raman", "Hannah Becker", "Tomas Novak", "Grace Liu"];
  const people = r.shuffle(PEOPLE);
  const organizer = people[0];
  const me = { name: "Alex Morgan", email: "alex.morgan@example.com" };

  function userEvents() { return K.store.get("calendar/events", []); }

  // Title, day and times must all match; titles compare without case or extra spaces.
  function findEvent(wanted) {
    const events = userEvents();
    const hit = events.find((e) => e.date === wanted.date && e.start === wanted.start && e.end === wanted.end &&
      K.norm(e.title) === K.norm(wanted.title));
    if (hit) return { success: true, detail: "calendar has \"" + hit.title + "\" on " + hit.date + " " + hit.start + "-" + hit.end };
    if (!events.length) return { success: false, detail: "no event added to the calendar yet" };
    const near = events.find((e) => K.norm(e.title) === K.norm(wanted.title)) || events[events.length - 1];
    return {
      success: false,
      detail: "added \"" + near.title + "\" on " + near.date + " " + near.start + "-" + near.end + ", but the task wants \"" +
        wanted.title + "\" on " + wanted.date + " " + wanted.start + "-" + wanted.end,
    };
  }

  // "Monday, March 3": how the goal, the email and the week's half-hour cells name a day.
  function dayName(iso) { return K.dates.long(K.dates.parse(iso)).replace(/, \d{4}$/, ""); }

  function describe(event) {
    return dayName(event.date) + " from " + event.start + " to " + event.end;
  }

  // What a person enters for an event: the day and start (the cell clicked), the end (selected), the title (typed).
  function eventParams(event) {
    return { day: dayName(event.date), start: event.start, end: event.end, title: event.title };
  }

  window.TrajWorld = {
    DAY_START, DAY_END, SLOT, weekStart, weekdays, existing, target, meeting,
    people, organizer, me, userEvents, findEvent, describe, dayName,
    calendarGoal: "Block out " + describe(target) + " in the calendar with the title \"" + target.title + "\".",
    crossAppGoal: "Read the email from " + organizer + " with the meeting details and add that meeting to your calendar " +
      "with the same title, day and time.",
    calendarParams: eventParams(target),
    // The meeting's values are in the organizer's email, not in the goal: the goal names only the organizer.
    crossAppParams: Object.assign({ organizer: organizer }, eventParams(meeting)),
  };
})();
