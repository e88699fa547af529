/* Ledgerly: an expense report form with inline validation. Valid submissions are kept in
 * localStorage ("expense/reports"); the task succeeds when the latest one matches the goal.
 *
 * Variants: ambiguous adds a "Report a problem" form above the report with its own
 * "Employee name", "Description" and "Submit report"; removed swaps "Submit report" for a
 * disabled "Submissions closed" (so Enter submits nothing either); mutated reverses the
 * fieldsets, the expense fields, the buttons, the top navigation and the two columns.
 */
(function () {
  "use strict";
  const K = window.TrajKit;
  const r = K.rng("expense");

  const CATEGORIES = ["Travel", "Meals", "Lodging", "Office supplies", "Software", "Training", "Client entertainment"];
  const PURPOSES = {
    Travel: ["Taxi from airport to client office", "Train to Hamburg for workshop", "Parking at the conference centre"],
    Meals: ["Team lunch with Acme Corp", "Dinner during the sales offsite", "Breakfast meeting with investors"],
    Lodging: ["Hotel, two nights in Lyon", "Airbnb for the Berlin offsite", "Hotel near the trade fair"],
    "Office supplies": ["Printer toner and paper", "Whiteboard markers for the team room", "Monitor stand"],
    Software: ["Annual license for diagram tool", "Cloud storage upgrade", "Design plugin subscription"],
    Training: ["Online course on SQL", "Conference ticket for PyCon", "Workshop on negotiation"],
    "Client entertainment": ["Theatre tickets for Globex visitors", "Welcome dinner for the Initech team"],
  };
  const NAMES = ["Maria Chen", "Jonas Weber", "Aisha Bello", "Ravi Patel", "Sofia Rossi", "Liam O'Brien", "Mei Tanaka",
    "Carlos Mendes", "Nora Haddad", "Ethan Brooks"];

  const today = K.dates.addDays(new Date(Date.UTC(2025, 0, 15)), r.int(0, 320));
  const category = r.pick(CATEGORIES);
  const goal = {
    employee: r.pick(NAMES),
    date: K.dates.iso(K.dates.addDays(today, -r.int(1, 20))),
    category: category,
    amount: K.money(r.int(500, 60000) / 100),
    description: r.pick(PURPOSES[category]),
  };
  K.register("expense", "Submit an expense report for " + goal.employee + ": date " + goal.date + ", category " +
    goal.category + ", amount " + goal.amount + ", description \"" + goal.description + "\".", check, goal);
  K.$("user").textContent = "Signed in as Finance Desk";

  // The shuffled variant varies the layout by seed: which fieldset comes first, the order of the expense
  // fields and of the categories. (Drawn on every page, so a seed's values are the same in both.)
  const form = K.$("report");
  if (K.layoutChance(r)) form.insertBefore(K.$("what"), K.$("who"));
  const what = K.$("what");
  const movable = ["date", "category", "amount"].map((f) => what.querySelector("[data-field=" + f + "]"));
  const description = what.querySelector("[data-field=description]");
  for (const node of K.layoutShuffle(r, movable)) what.insertBefore(node, description);
  const select = K.$("category");
  for (const name of K.layoutShuffle(r, CATEGORIES)) select.append(K.el("option", { value: name, text: name }));

  if (K.variant === "ambiguous") addProblemForm();
  if (K.variant === "removed") {
    K.$("submit").replaceWith(K.el("button", { type: "submit", id: "closed", disabled: true, text: "Submissions closed" }));
  }
  if (K.variant === "mutated") {
    K.reverseOrder([K.$("who"), K.$("what")]);
    K.reverseOrder([...what.querySelectorAll("[data-field]")]);
    K.reverseOrder([...K.$("report-actions").children]);
    K.reverseOrder([...K.$("sections").children]);
    K.reverseOrder([K.$("main"), K.$("recent-reports")]);
  }

  // A lookalike of the report form, above it: the same field labels and the same "Submit report" button.
  function addProblemForm() {
    const status = K.el("p", { class: "problem-status", role: "status" });
    const problem = K.el("form", {
      class: "problem", id: "problem", "aria-labelledby": "problem-heading", novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        if (!problem.elements.description.value.trim()) {
          status.textContent = "Describe the problem first.";
          return;
        }
        K.store.set("expense/problems", K.store.get("expense/problems", 0) + 1);
        problem.reset();
        status.textContent = "Thanks, the Ledgerly team will look into it.";
      },
    }, [
      K.el("h2", { id: "problem-heading", text: "Report a problem with Ledgerly" }),
      K.el("div", { class: "field" }, [
        K.el("label", { for: "problem-employee", text: "Employee name" }),
        K.el("input", { id: "problem-employee", name: "employee", autocomplete: "off" }),
      ]),
      K.el("div", { class: "field wide" }, [
        K.el("label", { for: "problem-description", text: "Description" }),
        K.el("textarea", { id: "problem-description", name: "description", rows: "2" }),
      ]),
      K.el("div", { class: "actions" }, [K.el("button", { type: "submit", class: "primary", text: "Submit report" })]),
      status,
    ]);
    K.$("form-view").before(problem);
  }

  function reports() { return K.store.get("expense/reports", []); }

  function check() {
    const all = reports();
    if (!all.length) {
      const attempts = K.store.get("expense/rejected", 0);
      return { success: false, detail: attempts ? "no report submitted; " + attempts + " attempt(s) failed validation" : "no report submitted yet" };
    }
    const last = all[all.length - 1];
    const wrong = [];
    if (K.norm(last.employee) !== K.norm(goal.employee)) wrong.push("employee " + JSON.stringify(last.employee) + " (want " + JSON.stringify(goal.employee) + ")");
    if (last.date !== goal.date) wrong.push("date " + last.date + " (want " + goal.date + ")");
    if (last.category !== goal.category) wrong.push("category " + last.category + " (want " + goal.category + ")");
    if (Math.abs(Number(last.amount) - Number(goal.amount)) > 0.005) wrong.push("amount " + last.amount + " (want " + goal.amount + ")");
    if (K.norm(last.description) !== K.norm(goal.description)) wrong.push("description " + JSON.stringify(last.description) + " (want " + JSON.stringify(goal.description) + ")");
    if (wrong.length) return { success: false, detail: "report " + last.id + " has the wrong " + wrong.join(", ") };
    return { success: true, detail: "report " + last.id + " submitted with the requested values" };
  }

  function validate(values) {
    const errors = {};
    if (!values.employee.trim()) errors.employee = "Enter the employee's name.";
    const date = values.date.trim();
    if (!date) errors.date = "Enter the date of the expense.";
    else if (!K.dates.parse(date)) errors.date = "Enter a real date as YYYY-MM-DD, e.g. " + K.dates.iso(today) + ".";
    else if (date > K.dates.iso(today)) errors.date = "The date cannot be in the future (today is " + K.dates.iso(today) + ").";
    if (!values.category) errors.category = "Choose a category.";
    const amount = values.amount.trim().replace(/^\$/, "").replace(/,/g, "");
    if (!amount) errors.amount = "Enter the amount.";
    else if (!/^-?\d+(\.\d+)?$/.test(amount)) errors.amount = "Enter the amount as a number, e.g. 42.50.";
    else if (Number(amount) <= 0) errors.amount = "The amount must be more than 0.";
    else if (!/^\d+(\.\d{1,2})?$/.test(amount)) errors.amount = "Use at most two decimals.";
    else if (Number(amount) > 10000) errors.amount = "Amounts over 10,000 need a manager's approval.";
    const text = values.description.trim();
    if (!text) errors.description = "Describe the expense.";
    else if (text.length < 5) errors.description = "Describe the expense in a few words.";
    return errors;
  }

  function showErrors(errors) {
    for (const name of ["employee", "date", "category", "amount", "description"]) {
      const field = form.elements[name];
      K.$(name + "-error").textContent = errors[name] || "";
      if (errors[name]) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    }
    const count = Object.keys(errors).length;
    const summary = K.$("error-summary");
    summary.hidden = !count;
    summary.textContent = count === 1 ? "Please fix 1 error below." : "Please fix " + count + " errors below.";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    const errors = validate(values);
    showErrors(errors);
    if (Object.keys(errors).length) {
      K.store.set("expense/rejected", K.store.get("expense/rejected", 0) + 1);
      return;
    }
    const all = reports();
    const report = {
      id: "EXP-" + String(1000 + (K.hash32(String(K.seed)) % 8000) + all.length),
      employee: values.employee.trim(), date: values.date.trim(), category: values.category,
      amount: K.money(Number(values.amount.trim().replace(/^\$/, "").replace(/,/g, ""))),
      description: values.description.trim(), at: Date.now(),
    };
    all.push(report);
    K.store.set("expense/reports", all);
    showDone(report);
  });
  form.addEventListener("reset", () => showErrors({}));

  function showDone(report) {
    K.$("form-view").hidden = true;
    K.$("done-view").hidden = false;
    K.$("done-title").textContent = "Expense report " + report.id + " submitted";
    const dl = K.$("done-summary");
    dl.replaceChildren();
    for (const [label, value] of [["Employee", report.employee], ["Date", report.date], ["Category", report.category],
      ["Amount", "$" + report.amount], ["Description", report.description]]) {
      dl.append(K.el("dt", { text: label }), K.el("dd", { text: value }));
    }
    renderRecent();
  }
  K.$("another").addEventListener("click", () => {
    form.reset();
    K.$("done-view").hidden = true;
    K.$("form-view").hidden = false;
  });

  // Past reports by colleagues: realistic noise with values close to, but never equal to, the goal's.
  const past = [];
  for (let i = 0; i < 4; i++) {
    const cat = r.pick(CATEGORIES);
    past.push({ id: "EXP-" + r.int(100, 999), employee: r.pick(NAMES), date: K.dates.iso(K.dates.addDays(today, -r.int(21, 60))),
      category: cat, amount: K.money(r.int(500, 60000) / 100), status: r.pick(["Approved", "Paid", "Pending"]) });
  }
  function renderRecent() {
    const list = K.$("recent");
    list.replaceChildren();
    const mine = reports().slice().reverse().map((x) => Object.assign({ status: "Submitted" }, x));
    for (const item of mine.concat(past)) {
      list.append(K.el("li", {}, [
        K.el("span", { class: "id", text: item.id + " · " + item.status }),
        K.el("span", { text: item.employee + " · " + item.category }),
        K.el("span", { class: "meta", text: item.date + " · $" + item.amount }),
      ]));
    }
  }
  renderRecent();
})();
