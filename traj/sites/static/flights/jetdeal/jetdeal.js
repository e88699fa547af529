/* JetDeal: city selects, a typed ISO date, "recommended" (shuffled) order with a sort control.
 *
 * Variants: ambiguous adds a "Deal alerts" form above the search with the same "Flying
 * from", "Flying to" and "Find deals"; removed leaves the "Pay" button out of the booking
 * panel; mutated reverses the search fields, the recommended order and the two columns.
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const F = window.TrajFlights;
  const form = K.$("search");
  K.keepSeedInForm(form);

  // An option reads as the city alone, the way a person picks it (and the recorded SELECT names it).
  function addCities(select) {
    for (const name of Object.keys(F.CITIES)) select.append(K.el("option", { value: name, text: name }));
  }
  addCities(form.elements.from);
  addCities(form.elements.to);
  K.$("window").textContent = F.travelDates[0] + " to " + F.travelDates[F.travelDates.length - 1];

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
      K.$("search-error").textContent = errors.join(" ");
      form.elements.date.setAttribute("aria-invalid", String(errors.some((e) => e.includes("date") || e.includes("sell"))));
    }
  });

  let found = [];
  if (q.get("from") && q.get("to") && q.get("date")) {
    found = K.rng("jetdeal-order/" + q.get("from") + q.get("to") + q.get("date")).shuffle(F.flights("jetdeal", q.get("from"), q.get("to"), q.get("date")));
    if (K.variant === "mutated") found.reverse();
    K.$("summary").textContent = found.length
      ? found.length + " deals from " + q.get("from") + " to " + q.get("to") + " on " + q.get("date")
      : "No deals for that search. Try another date.";
  }

  if (K.variant === "mutated") {
    K.reverseOrder([K.$("origin-field"), K.$("destination-field"), K.$("when-field")]);
    K.reverseOrder([K.$("panel"), K.$("deals-view")]);
  }
  if (K.variant === "ambiguous") addAlertsForm();

  // A lookalike of the search form, above it: the same city selects and the same "Find deals" button.
  function addAlertsForm() {
    const status = K.el("p", { class: "alerts-status", role: "status" });
    const from = K.el("select", { id: "alert-origin", name: "from" }, [K.el("option", { value: "", text: "Select city" })]);
    const to = K.el("select", { id: "alert-destination", name: "to" }, [K.el("option", { value: "", text: "Select city" })]);
    addCities(from);
    addCities(to);
    const alerts = K.el("form", {
      class: "alerts", id: "deal-alerts", "aria-labelledby": "alerts-heading", novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        status.textContent = from.value && to.value
          ? "We will email you deals from " + from.value + " to " + to.value + "."
          : "Pick both cities to get deal alerts.";
      },
    }, [
      K.el("h2", { id: "alerts-heading", text: "Deal alerts" }),
      K.el("label", { for: "alert-origin", text: "Flying from" }),
      from,
      K.el("label", { for: "alert-destination", text: "Flying to" }),
      to,
      K.el("button", { type: "submit", class: "alerts-button", text: "Find deals" }),
      status,
    ]);
    K.$("search-heading").before(alerts);
  }

  const sort = K.$("sort");
  function render() {
    const rows = K.$("rows");
    rows.replaceChildren();
    const ordered = found.slice();
    if (sort.value === "price") ordered.sort((a, b) => a.price - b.price);
    if (sort.value === "depart") ordered.sort((a, b) => a.depart.localeCompare(b.depart));
    K.$("deals").hidden = !ordered.length;
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

  const panel = K.$("confirm");
  function confirm(flight) {
    panel.hidden = false;
    panel.replaceChildren(
      K.el("h3", { text: "Confirm your JetDeal booking" }),
      K.el("p", { text: flight.airline + " " + flight.id + " · " + flight.from + " → " + flight.to + " · " + flight.date + " " + flight.depart }),
      K.variant === "removed"
        ? K.el("p", { class: "unavailable", text: "This deal is sold out online; call our travel desk to book it." })
        : K.el("button", { type: "button", class: "pay", text: "Pay " + flight.price + " USD", onclick: () => {
          const booking = F.book(flight);
          panel.replaceChildren(K.el("h3", { text: "Booking confirmed" }), K.el("p", { text: "Your confirmation code is " + booking.code + "." }));
        } }),
      K.el("button", { type: "button", class: "cancel", text: "Cancel", onclick: () => { panel.hidden = true; } }),
    );
  }
})();
