/* Planwise Mail: an inbox whose one actionable email carries the meeting from world.js.
 * The cross-app task is done in the calendar; this page's predicate reads the same
 * calendar storage, so the success checker can ask either page.
 *
 * Variants: ambiguous adds a "Snoozed" column before the message list holding an entry
 * named exactly like the organizer's email, which opens a snooze notice without the
 * meeting; mutated reorders the app links, the folders and the columns and lists the
 * messages oldest first. The removed variant acts on the calendar page (no Save).
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const W = window.TrajWorld;
  const r = K.rng("inbox");

  K.register("cross_app", W.crossAppGoal, () => W.findEvent(W.meeting), W.crossAppParams);
  K.keepSeedInLinks();
  K.$("account").textContent = W.me.email;

  function address(name) { return name.toLowerCase().replace(/[^a-z ]/g, "").replace(" ", ".") + "@example.com"; }
  function first(name) { return name.split(" ")[0]; }

  const m = W.meeting;
  const when = W.describe(m).replace(" from ", ", ").replace(" to ", "–");
  const colleague = W.people[1];
  const friend = W.people[2];
  const room = r.pick(["Room 4B", "the Atlas room", "Room 2.07", "the video link in this email", "the 3rd floor lounge"]);
  const emails = [
    {
      from: W.organizer, subject: r.pick(["Meeting: ", "Invitation: ", "Let's meet – "]) + m.title,
      body: ["Hi " + first(W.me.name) + ",",
        r.pick(["I'd like to get us together to go over a few open points.", "As discussed, here is the meeting we agreed on.",
          "Following up on our chat: let's find time for this."]) + " Please put it in your calendar.",
        "Title: " + m.title + "\nWhen: " + when + "\nWhere: " + room,
        "Thanks,\n" + first(W.organizer)],
    },
    {
      from: colleague, subject: "Re: slides for the review",
      body: ["Hey,", "Could you send me the slides before the review? No need to add anything to the calendar, it is already on there.",
        "Cheers,\n" + first(colleague)],
    },
    {
      from: friend, subject: "Lunch next week?",
      body: ["Hi!", "Are you free for lunch some day next week? Let me know what works and I will book a table.", first(friend)],
    },
    {
      from: "Northwind Billing", subject: "Your invoice #" + r.int(1000, 9999) + " is ready",
      body: ["Hello,", "Your monthly invoice of $" + K.money(r.int(2000, 90000) / 100) + " is ready. It will be charged on the 1st.",
        "Northwind Billing"],
    },
    {
      from: "Planwise Team", subject: "5 tips to get more out of your week",
      body: ["Plan your week in minutes: colour-code your calendars, add focus time, and share your availability.",
        "Unsubscribe at any time in your settings."],
    },
    {
      from: "Security", subject: "New sign-in from Chrome on Linux",
      body: ["We noticed a new sign-in to " + W.me.email + ". If this was you, you can ignore this email.", "The Planwise security team"],
    },
  ];
  // Received in the days before the week on display, newest first.
  emails.forEach((email, index) => {
    email.id = "m" + index;
    email.at = K.dates.addDays(W.weekStart, -r.int(1, 6)).getTime() + r.int(7 * 60, 20 * 60) * 60000;
  });
  emails.sort((a, b) => b.at - a.at);
  if (K.variant === "mutated") emails.reverse();

  // The ambiguous variant's lookalike: same sender and subject, but only a snooze notice inside.
  const invitation = emails.find((e) => e.from === W.organizer);
  const snoozed = {
    id: "s0", from: invitation.from, subject: invitation.subject, at: invitation.at - 86400000,
    body: ["You snoozed this conversation until next week.", "The latest message in it is in your inbox."],
  };
  function findEmail(id) { return id === snoozed.id ? snoozed : emails.find((e) => e.id === id); }

  let folder = "inbox";
  let openId = null;
  const read = new Set(K.store.get("inbox/read", []));
  const archived = new Set(K.store.get("inbox/archived", []));
  const starred = new Set(K.store.get("inbox/starred", []));

  function stamp(at) {
    const d = new Date(at);
    return K.dates.short(d) + ", " + K.hhmm(d.getUTCHours() * 60 + d.getUTCMinutes());
  }

  function visible() {
    const query = K.norm(K.$("search").value);
    return emails.filter((e) => {
      if (folder === "inbox" && archived.has(e.id)) return false;
      if (folder === "archive" && !archived.has(e.id)) return false;
      if (folder === "starred" && !starred.has(e.id)) return false;
      return !query || K.norm(e.from + " " + e.subject + " " + e.body.join(" ")).includes(query);
    });
  }

  function renderList() {
    const list = K.$("messages");
    list.replaceChildren();
    const shown = visible();
    if (!shown.length) list.append(K.el("li", { class: "empty", text: "No messages" }));
    for (const email of shown) list.append(entry(email));
    renderSnoozed();
    const unread = emails.filter((e) => !read.has(e.id) && !archived.has(e.id)).length;
    K.$("unread").textContent = unread ? String(unread) : "";
  }

  function openEmail(id) {
    openId = id;
    read.add(id);
    K.store.set("inbox/read", [...read]);
    const email = findEmail(id);
    const reader = K.$("reader");
    reader.replaceChildren(
      K.el("h2", { text: email.subject }),
      K.el("p", { class: "meta" }, [
        K.el("b", { text: email.from }), " <" + (email.from.includes(" ") ? address(email.from) : "no-reply@example.com") + ">",
        K.el("br"), "to " + W.me.name + " · " + stamp(email.at),
      ]),
      K.el("div", { class: "toolbar" }, [
        K.el("button", { type: "button", text: starred.has(id) ? "Unstar" : "Star", onclick: () => toggle(starred, "inbox/starred", id) }),
        K.el("button", { type: "button", text: archived.has(id) ? "Move to inbox" : "Archive", onclick: () => toggle(archived, "inbox/archived", id) }),
      ]),
      K.el("div", { class: "body" }, email.body.map((para) => K.el("p", { text: para }))),
    );
    renderList();
  }

  function toggle(set, key, id) {
    if (set.has(id)) set.delete(id);
    else set.add(id);
    K.store.set(key, [...set]);
    openEmail(id);
  }

  // One entry of the message list, for an email of either list.
  function entry(email) {
    return K.el("li", {
      class: "message" + (read.has(email.id) ? "" : " unread") + (email.id === openId ? " open" : ""),
      role: "button",
      tabindex: "0",
      "aria-label": "Email from " + email.from + ": " + email.subject,
      onclick: () => openEmail(email.id),
      onkeydown: (event) => { if (event.key === "Enter") openEmail(email.id); },
    }, [
      K.el("span", { class: "from", text: email.from }),
      K.el("span", { class: "date", text: stamp(email.at) }),
      K.el("span", { class: "subject", text: email.subject }),
      K.el("span", { class: "snippet", text: email.body.join(" ").slice(0, 70) + "…" }),
    ]);
  }

  function renderSnoozed() {
    const column = K.$("snoozed");
    if (column) column.querySelector("ul").replaceChildren(entry(snoozed));
  }

  if (K.variant === "ambiguous") {
    K.$("list").before(K.el("section", { class: "snoozed", id: "snoozed", "aria-labelledby": "snoozed-heading" }, [
      K.el("h2", { id: "snoozed-heading", text: "Snoozed" }),
      K.el("ul"),
    ]));
  }
  if (K.variant === "mutated") {
    K.reverseOrder([...K.$("apps").children]);
    K.reverseOrder([...K.$("folders").children]);
    K.reverseOrder([K.$("list"), K.$("reader")]);
  }

  for (const button of document.querySelectorAll("[data-folder]")) {
    button.addEventListener("click", () => {
      folder = button.dataset.folder;
      for (const other of document.querySelectorAll("[data-folder]")) other.removeAttribute("aria-current");
      button.setAttribute("aria-current", "true");
      renderList();
    });
  }
  K.$("search").addEventListener("input", renderList);
  renderList();
})();
