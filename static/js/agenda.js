// Starring without a page reload. Without JavaScript the same forms post and redirect back.
// Each form posts on its own, so stars pressed in quick succession on different sessions all
// count; a form already waiting for its answer ignores further presses. Every form carries the
// page's candidate agenda key, so a browser without an agenda yet still gets only one. The key is
// made here, one per page load, because the page itself is the same for every visitor (cached).
(function () {
  "use strict";
  const { gettext: _ } = window.confappText;
  var inFlight = new WeakSet();
  var candidateKey = null;
  function agendaKey() {
    // 24 random bytes in base64url: 32 characters, the shape the server's own keys have.
    if (candidateKey === null) {
      var bytes = new Uint8Array(24);
      crypto.getRandomValues(bytes);
      candidateKey = btoa(String.fromCharCode.apply(null, bytes))
        .replace(/\+/g, "-").replace(/\//g, "_");
    }
    return candidateKey;
  }
  function render(form, starred) {
    var button = form.querySelector("button");
    form.querySelector('input[name="starred"]').value = starred ? "no" : "yes";
    button.setAttribute("aria-pressed", starred ? "true" : "false");
    button.classList.toggle("is-starred", starred);
    button.querySelector('[aria-hidden="true"]').textContent = starred ? "\u2605" : "\u2606";
    button.querySelector(".star-label").textContent = starred ? _("In my agenda") : _("Add to my agenda");
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-star]")) return;
    event.preventDefault();
    if (inFlight.has(form)) return;
    inFlight.add(form);
    var keyField = form.querySelector('input[name="agenda"]');
    if (keyField && !keyField.value) keyField.value = agendaKey();
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (result) {
        document.querySelectorAll("form[data-star]").forEach(function (each) {
          if (each.action === form.action) render(each, result.starred);
        });
        inFlight.delete(form);
        button.disabled = false;
      })
      .catch(function () {
        // Fall back to the plain form post (the page reloads, so nothing is left disabled).
        inFlight.delete(form);
        button.disabled = false;
        form.submit();
      });
  });
})();
