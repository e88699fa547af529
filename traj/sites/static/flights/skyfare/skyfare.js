/* SkyFare: free-text city fields, a date select, results sorted by departure time. */
(function () {
  "use strict";
  const K = window.TrajKit;
  const F = window.TrajFlights;
  const form = document.getElementById("search");
  form.elements.seed.value = String(K.seed);
  if (K.fast) form.append(K.el("input", { type: "hidden", name: "fast", value: "1" }));

  const datalist = document.getElementById("cities");
  for (const name of Object.keys(F.CITIES)) datalist.append(K.el("option", { value: name }));
  const dateSelect = document.getElementById("date");
  for (const iso of F.travelDates) dateSelect.append(K.el("option", { value: iso, text: K.dates.short(K.dates.parse(iso)) }));

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
      document.getElementById("search-error").textContent = errors.join(" ");
    }
  });

  const results = document.getElementById("results");
  const summary = document.getElementById("summary");
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

  const dialog = document.getElementById("review");
  let chosen = null;
  function review(flight) {
    chosen = flight;
    document.getElementById("review-title").textContent = "Review your trip";
    document.getElementById("review-body").replaceChildren(
      K.el("p", { text: flight.airline + " " + flight.id + " · " + flight.from + " → " + flight.to }),
      K.el("p", { text: K.dates.long(K.dates.parse(flight.date)) + ", " + flight.depart + " – " + flight.arrive }),
      K.el("p", { class: "total" }, ["Total ", K.el("b", { text: "$" + flight.price })]),
    );
    document.getElementById("review-confirm").hidden = false;
    document.getElementById("review-cancel").textContent = "Back to results";
    dialog.showModal();
  }
  document.getElementById("review-cancel").addEventListener("click", () => dialog.close());
  document.getElementById("review-confirm").addEventListener("click", () => {
    const booking = F.book(chosen);
    document.getElementById("review-title").textContent = "You're booked!";
    document.getElementById("review-body").replaceChildren(
      K.el("p", { text: "Confirmation code " + booking.code }),
      K.el("p", { text: chosen.airline + " " + chosen.id + ", " + chosen.from + " → " + chosen.to + ", $" + chosen.price }),
    );
    document.getElementById("review-confirm").hidden = true;
    document.getElementById("review-cancel").textContent = "Done";
  });
})();
