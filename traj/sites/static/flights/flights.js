/* The seeded flight market both travel sites sell from, the trip the task asks for, and
 * the success predicate (the latest booking is the cheapest flight across both sites).
 * Every page of the flights task loads this file, so all of them agree on prices.
 *
 * Variants (see each page for its part): ambiguous adds a lookalike search form before
 * each site's real one; removed leaves out each site's final booking button; mutated
 * reorders cards, fields, results and the TripBoard strip's links (done here).
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const r = K.rng("flights");

  const CITIES = {
    Amsterdam: "AMS", Athens: "ATH", Barcelona: "BCN", Berlin: "BER", Dublin: "DUB", Lisbon: "LIS", London: "LHR",
    Madrid: "MAD", Milan: "MXP", Oslo: "OSL", Paris: "CDG", Prague: "PRG", Rome: "FCO", Stockholm: "ARN",
    Vienna: "VIE", Zurich: "ZRH",
  };
  const SITES = { skyfare: "SkyFare", jetdeal: "JetDeal" };
  const AIRLINES = ["Aerolux", "NordAir", "Iberwing", "BlueJet", "Alpina", "Atlantic Connect", "SunHop", "EuroLink"];

  const today = K.dates.addDays(new Date(Date.UTC(2025, 0, 1)), r.int(0, 330));
  const travelDates = [];
  for (let i = 1; i <= 14; i++) travelDates.push(K.dates.iso(K.dates.addDays(today, i)));
  const [from, to] = r.sample(Object.keys(CITIES), 2);
  const trip = { from: from, to: to, date: travelDates[r.int(2, 10)] };
  const winnerSite = r.pick(Object.keys(SITES));

  function city(name) {
    const wanted = K.norm(name);
    return Object.keys(CITIES).find((c) => K.norm(c) === wanted || K.norm(CITIES[c]) === wanted) || null;
  }

  function raw(site, origin, destination, date) {
    const rr = K.rng(["flights", site, origin, destination, date].join("/"));
    const isTrip = origin === trip.from && destination === trip.to && date === trip.date;
    const count = isTrip ? rr.int(4, 6) : rr.int(2, 6);
    const out = [];
    for (let i = 0; i < count; i++) {
      const depart = rr.int(6 * 12, 21 * 12) * 5;
      const duration = rr.int(18, 54) * 5;
      const stops = rr.chance(0.3) ? 1 : 0;
      out.push({
        id: (site === "skyfare" ? "SF" : "JD") + rr.int(100, 999) + String.fromCharCode(65 + i),
        site: site, airline: rr.pick(AIRLINES), from: origin, to: destination, date: date,
        depart: K.hhmm(depart), arrive: K.hhmm((depart + duration + stops * 55) % (24 * 60)),
        duration: duration + stops * 55, stops: stops, price: rr.int(89, 480),
      });
    }
    return out;
  }

  // The trip's cheapest fare sits on winnerSite and is unique across both sites, so
  // "the cheapest flight" is never ambiguous.
  function tripFlights() {
    const rr = K.rng("flights/adjust");
    const lists = {};
    for (const site of Object.keys(SITES)) lists[site] = raw(site, trip.from, trip.to, trip.date);
    const loserSite = Object.keys(SITES).find((s) => s !== winnerSite);
    const loserMin = Math.min(...lists[loserSite].map((f) => f.price));
    const best = lists[winnerSite].reduce((a, b) => (b.price < a.price ? b : a));
    if (best.price >= loserMin - 3) best.price = Math.max(49, loserMin - rr.int(4, 35));
    for (const site of Object.keys(SITES)) {
      for (const f of lists[site]) if (f !== best && f.price <= best.price) f.price = best.price + rr.int(3, 40);
    }
    return { lists: lists, best: best };
  }

  function flights(site, origin, destination, date) {
    if (!origin || !destination || origin === destination || !travelDates.includes(date)) return [];
    if (origin === trip.from && destination === trip.to && date === trip.date) return tripFlights().lists[site];
    return raw(site, origin, destination, date);
  }

  function check() {
    const booking = K.store.get("flights/booking", null);
    const best = tripFlights().best;
    if (!booking) return { success: false, detail: "no flight booked yet" };
    const what = SITES[booking.site] + " " + booking.id + " ($" + booking.price + ", " + booking.from + " to " + booking.to +
      " on " + booking.date + ")";
    if (booking.site === best.site && booking.id === best.id) return { success: true, detail: "booked the cheapest flight: " + what };
    return { success: false, detail: "booked " + what + ", but the cheapest is " + SITES[best.site] + " " + best.id + " at $" + best.price };
  }

  function book(flight) {
    const booking = Object.assign({ at: Date.now(), code: flight.id + "-" + (K.hash32(flight.id + Date.now()) % 100000) }, flight);
    K.store.set("flights/booking", booking);
    return booking;
  }

  // The date appears both ways because the sites ask for it both ways: SkyFare's Departure
  // list shows the long form, JetDeal wants it typed as YYYY-MM-DD.
  const params = { origin: trip.from, destination: trip.to, date: trip.date, date_long: K.dates.long(K.dates.parse(trip.date)) };
  const goal = "Find the cheapest flight from " + trip.from + " to " + trip.to + " on " + params.date_long + " (" +
    trip.date + ") across SkyFare and JetDeal, and book it.";
  K.register("flights", goal, check, params);
  K.keepSeedInLinks();
  const tripboard = K.$("tripboard");
  if (tripboard && K.variant === "mutated") K.reverseOrder([...tripboard.querySelectorAll("a")]);

  function minutesLabel(total) { return Math.floor(total / 60) + "h " + String(total % 60).padStart(2, "0") + "m"; }

  window.TrajFlights = { CITIES, SITES, today, travelDates, trip, city, flights, book, check, minutesLabel };
})();
