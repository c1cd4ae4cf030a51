// A steward's session door: the Full / Not full / +1 / -1 / set buttons post JSON to the
// session door API (with the page's CSRF token) and show the answer at once, without a page
// load. Without JS the same forms post to the page and it reloads.
(function () {
  "use strict";
  const { gettext: _, format } = window.confappText;
  const root = document.getElementById("session-door");
  if (!root) return;
  const url = root.dataset.apiUrl;
  const token = root.dataset.csrfToken;
  const part = (name) => root.querySelector('[data-door="' + name + '"]');

  function show(state) {
    part("status").textContent = state.full ? _("FULL") : _("Not full");
    root.querySelector(".door-state").classList.toggle("is-full", state.full);
    part("headcount").textContent = String(state.headcount);
    const overflow = part("overflow");
    overflow.hidden = !state.overflow_room;
    part("overflow-name").textContent = state.overflow_room ? state.overflow_room.name : "";
    const input = document.getElementById("headcount");
    if (input && document.activeElement !== input) input.value = String(state.headcount);
    part("error").hidden = true;
  }

  function fail(message) {
    const error = part("error");
    error.textContent = message;
    error.hidden = false;
  }

  async function send(change) {
    try {
      const answer = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", accept: "application/json", "x-csrf-token": token },
        body: JSON.stringify(change),
      });
      const body = await answer.json().catch(() => ({}));
      // The sign-in (or door device) has ended: the page's own link leads back in.
      if (answer.status === 401) part("signed-out").hidden = false;
      else if (answer.ok) show(body);
      else fail(body.detail || format(_("That did not work (%(status)s)."), { status: answer.status }));
    } catch (e) {
      fail(_("No connection: that tap was not counted. Try again."));
    }
  }

  root.querySelectorAll("form[data-door-change]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(JSON.parse(form.dataset.doorChange));
    });
  });
  const set = root.querySelector("form[data-door-set]");
  if (set) {
    set.addEventListener("submit", (event) => {
      const value = Number(set.elements.headcount.value);
      if (!Number.isInteger(value) || value < 0) return; // let the server say why
      event.preventDefault();
      send({ headcount: value });
    });
  }
})();
