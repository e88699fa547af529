/* JetDeal: city selects, a typed ISO date, "recommended" (shuffled) order with a sort control. */
(function () {
  "use strict";
  const K = window.TrajKit;
  const F = window.TrajFlights;
  const form = document.getElementById("search");
  form.elements.seed.value = String(K.seed);
  if (K.fast) form.append(K.el("input", { type: "hidden", name: "fast", value: "1" }));

  for (const select of [form.elements.from, form.elements.to]) {
    for (const name of Object.keys(F.CITIES)) select.append(K.el("option", { value: name, text: name + " (" + F.CITIES[name] + ")" }));
  }
  document.getElementById("window").textContent = F.travelDates[0] + " to " + F.travelDates[F.travelDates.length - 1];

  const q = K.params;
  if (q.get("from")) form.elements.from.value = q.get("from");
  if (q.get("to")) form.elements.to.value = q.get("to");
  if (q.get("date")) form.elements.date.value = q.get("date");

  form.addEventListener("submit", (event) => {
    const errors = [];
    if (!form.elements.from.value) errors.push("Pick where you fly from.");
    if (!form.elements.to.value) errors.push("Pick where you fly to.");
    else if (form.elements.to.value === form.elements.from.value) errors.push("Pick two different cities.");
    const date = form.elements.date.value.trim();
    if (!K.dates.parse(date)) errors.push("Enter the date as YYYY-MM-DD.");
    else if (!F.travelDates.includes(date)) errors.push("We only sell flights from " + F.travelDates[0] + " to " + F.travelDates[F.travelDates.length - 1] + ".");
    if (errors.length) {
      event.preventDefault();
      document.getElementById("search-error").textContent = errors.join(" ");
      form.elements.date.setAttribute("aria-invalid", String(errors.some((e) => e.includes("date") || e.includes("sell"))));
    }
  });

  let found = [];
  if (q.get("from") && q.get("to") && q.get("date")) {
    found = K.rng("jetdeal-order/" + q.get("from") + q.get("to") + q.get("date")).shuffle(F.flights("jetdeal", q.get("from"), q.get("to"), q.get("date")));
    document.getElementById("summary").textContent = found.length
      ? found.length + " deals from " + q.get("from") + " to " + q.get("to") + " on " + q.get("date")
      : "No deals for that search. Try another date.";
  }

  const sort = document.getElementById("sort");
  function render() {
    const rows = document.getElementById("rows");
    rows.replaceChildren();
    const ordered = found.slice();
    if (sort.value === "price") ordered.sort((a, b) => a.price - b.price);
    if (sort.value === "depart") ordered.sort((a, b) => a.depart.localeCompare(b.depart));
    document.getElementById("deals").hidden = !ordered.length;
    for (const flight of ordered) {
      rows.append(K.el("tr", { "data-flight": flight.id }, [
        K.el("td", { class: "price", text: flight.price + " USD" }),
        K.el("td", { text: flight.airline + " · " + flight.id }),
        K.el("td", { text: flight.depart }),
        K.el("td", { text: flight.arrive }),
        K.el("td", { text: F.minutesLabel(flight.duration) + (flight.stops ? " (1 stop)" : "") }),
        K.el("td", {}, K.el("button", { type: "button", class: "book", text: "Book", "aria-label": "Book " + flight.airline + " " + flight.depart + " for " + flight.price + " USD", onclick: () => confirm(flight) })),
      ]));
    }
  }
  sort.addEventListener("change", render);
  render();

  const panel = document.getElementById("confirm");
  function confirm(flight) {
    panel.hidden = false;
    panel.replaceChildren(
      K.el("h3", { text: "Confirm your JetDeal booking" }),
      K.el("p", { text: flight.airline + " " + flight.id + " · " + flight.from + " → " + flight.to + " · " + flight.date + " " + flight.depart }),
      K.el("button", { type: "button", class: "pay", text: "Pay " + flight.price + " USD", onclick: () => {
        const booking = F.book(flight);
        panel.replaceChildren(K.el("h3", { text: "Booking confirmed" }), K.el("p", { text: "Your confirmation code is " + booking.code + "." }));
      } }),
      K.el("button", { type: "button", class: "cancel", text: "Cancel", onclick: () => { panel.hidden = true; } }),
    );
  }
})();
