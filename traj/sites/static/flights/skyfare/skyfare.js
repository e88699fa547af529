/* SkyFare: free-text city fields, a date select, results sorted by departure time.
 *
 * Variants: ambiguous adds a "Flight status" form before the search with the same From,
 * To and "Search flights"; removed leaves "Confirm booking" out of the review dialog;
 * mutated reverses the search fields and the results' order in the DOM (a reversed flex
 * column shows them in the plain order).
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const F = window.TrajFlights;
  const form = K.$("search");
  K.keepSeedInForm(form);

  const datalist = K.$("cities");
  for (const name of Object.keys(F.CITIES)) datalist.append(K.el("option", { value: name }));
  const dateSelect = K.$("date");
  for (const iso of F.travelDates) dateSelect.append(K.el("option", { value: iso, text: K.dates.long(K.dates.parse(iso)) }));

  const q = K.params;
  if (q.get("from") !== null) form.elements.from.value = q.get("from");
  if (q.get("to") !== null) form.elements.to.value = q.get("to");
  if (q.get("date")) dateSelect.value = q.get("date");

  form.addEventListener("submit", (event) => {
    const errors = [];
    if (!F.city(form.elements.from.value)) errors.push("Choose a departure city from the list.");
    if (!F.city(form.elements.to.value)) errors.push("Choose a destination city from the list.");
    if (errors.length) {
      event.preventDefault();
      K.$("search-error").textContent = errors.join(" ");
    }
  });

  const results = K.$("results");
  const summary = K.$("summary");
  if (q.get("from") !== null) {
    const origin = F.city(q.get("from"));
    const destination = F.city(q.get("to") || "");
    const date = q.get("date");
    const found = F.flights("skyfare", origin, destination, date).slice().sort((a, b) => a.depart.localeCompare(b.depart));
    if (!origin || !destination) summary.textContent = "We could not find those cities.";
    else if (!found.length) summary.textContent = "No flights found for " + origin + " → " + destination + ".";
    else summary.textContent = found.length + " flights · " + origin + " (" + F.CITIES[origin] + ") → " + destination +
      " (" + F.CITIES[destination] + ") · " + K.dates.short(K.dates.parse(date)) + " · sorted by departure";
    for (const flight of found) {
      results.append(K.el("li", { class: "result", "data-flight": flight.id }, [
        K.el("div", { class: "airline" }, [K.el("b", { text: flight.airline }), K.el("span", { text: flight.id })]),
        K.el("div", { class: "times" }, [
          K.el("b", { text: flight.depart + " – " + flight.arrive }),
          K.el("span", { text: F.minutesLabel(flight.duration) + " · " + (flight.stops ? "1 stop" : "Nonstop") }),
        ]),
        K.el("div", { class: "price" }, [K.el("b", { class: "amount", text: "$" + flight.price }), K.el("span", { text: "per person" })]),
        K.el("button", { type: "button", class: "select", text: "Select", "aria-label": "Select " + flight.airline + " " + flight.depart + " for $" + flight.price, onclick: () => review(flight) }),
      ]));
    }
  }

  if (K.variant === "mutated") {
    K.reverseOrder([...results.children]);
    results.classList.add(K.cls("reversed"));
    K.reverseOrder([K.$("from-field"), K.$("to-field"), K.$("date-field"), K.$("pax-field")]);
    K.reverseOrder([...K.$("products").children]);
  }
  if (K.variant === "ambiguous") addStatusForm();

  // A lookalike of the search form, before it: the same From and To fields and the same button.
  function addStatusForm() {
    const message = K.el("p", { class: "status-message", role: "status" });
    const status = K.el("form", {
      class: "search status-check", id: "status-check", "aria-labelledby": "status-heading", novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        message.textContent = "Live flight status is not available for this route yet.";
      },
    }, [
      K.el("h2", { id: "status-heading", text: "Flight status" }),
      K.el("div", { class: "field" }, [
        K.el("label", { for: "status-from", text: "From" }),
        K.el("input", { id: "status-from", name: "from", placeholder: "City or airport", autocomplete: "off" }),
      ]),
      K.el("div", { class: "field" }, [
        K.el("label", { for: "status-to", text: "To" }),
        K.el("input", { id: "status-to", name: "to", placeholder: "City or airport", autocomplete: "off" }),
      ]),
      K.el("button", { type: "submit", class: "status-button", text: "Search flights" }),
    ]);
    form.before(status, message);
  }

  const dialog = K.$("review");
  const confirmButton = K.$("review-confirm");
  let chosen = null;
  function review(flight) {
    chosen = flight;
    K.$("review-title").textContent = "Review your trip";
    K.$("review-body").replaceChildren(
      K.el("p", { text: flight.airline + " " + flight.id + " · " + flight.from + " → " + flight.to }),
      K.el("p", { text: K.dates.long(K.dates.parse(flight.date)) + ", " + flight.depart + " – " + flight.arrive }),
      K.el("p", { class: "total" }, ["Total ", K.el("b", { text: "$" + flight.price })]),
    );
    confirmButton.hidden = false;
    K.$("review-cancel").textContent = "Back to results";
    dialog.showModal();
  }
  // Sold through a partner only: the review can be read, but there is nothing to confirm.
  if (K.variant === "removed") confirmButton.remove();
  K.$("review-cancel").addEventListener("click", () => dialog.close());
  confirmButton.addEventListener("click", () => {
    const booking = F.book(chosen);
    K.$("review-title").textContent = "You're booked!";
    K.$("review-body").replaceChildren(
      K.el("p", { text: "Confirmation code " + booking.code }),
      K.el("p", { text: chosen.airline + " " + chosen.id + ", " + chosen.from + " → " + chosen.to + ", $" + chosen.price }),
    );
    confirmButton.hidden = true;
    K.$("review-cancel").textContent = "Done";
  });
})();
