// The organisers' door dashboard keeps its counts fresh: it polls the page's own
// stats.json every few seconds and writes the numbers in place. Without JS the page has a
// Refresh link instead.
(function () {
  "use strict";
  const root = document.getElementById("door-dashboard");
  if (!root) return;
  const url = root.dataset.statsUrl;
  const every = Math.max(2, Number(root.dataset.pollSeconds) || 5) * 1000;
  root.querySelectorAll(".js-only").forEach((el) => { el.hidden = false; });
  root.querySelectorAll(".no-js-refresh").forEach((el) => { el.classList.add("js-hidden"); });

  // Undo asks once: the first tap turns the button into "Yes, undo", the second sends the form
  // as confirmed. (Without JavaScript the server's confirmation page asks instead.)
  root.querySelectorAll("form.undo-form").forEach((form) => {
    form.addEventListener("submit", (event) => {
      const confirm = form.querySelector('input[name="confirm"]');
      if (confirm.value) return;
      event.preventDefault();
      confirm.value = form.dataset.confirm;
      form.querySelector(".undo-word").textContent = form.dataset.confirmLabel;
      form.classList.add("is-asking");
      form.querySelector("button").focus();
    });
  });

  function put(scope, name, value) {
    const el = scope.querySelector('[data-stat="' + name + '"]');
    if (el && el.textContent !== String(value)) el.textContent = String(value);
  }

  function show(stats) {
    put(root, "admitted", stats.admitted);
    put(root, "expected", stats.expected);
    put(root, "conflicts", stats.conflicts);
    const time = root.querySelector('[data-stat="updated_at"]');
    if (time) {
      time.setAttribute("datetime", stats.updated_at);
      time.textContent = String(stats.updated_at).slice(11, 16);
    }
    const body = document.getElementById("door-ticket-types");
    if (!body) return;
    for (const type of stats.ticket_types) {
      const row = body.querySelector('tr[data-ticket-type="' + CSS.escape(type.code) + '"]');
      if (!row) continue; // a new ticket type shows on the next full load
      put(row, "admitted", type.admitted);
      put(row, "expected", type.expected);
    }
  }

  async function poll() {
    try {
      const answer = await fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" });
      if (answer.ok) show(await answer.json());
    } catch (e) {
      // Offline for a moment: try again at the next tick.
    }
    window.setTimeout(poll, every);
  }
  window.setTimeout(poll, every);
})();
