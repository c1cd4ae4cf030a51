// Starring without a page reload. Without JavaScript the same forms post and redirect back.
(function () {
  "use strict";
  function render(form, starred) {
    var button = form.querySelector("button");
    form.querySelector('input[name="starred"]').value = starred ? "no" : "yes";
    button.setAttribute("aria-pressed", starred ? "true" : "false");
    button.classList.toggle("is-starred", starred);
    button.querySelector('[aria-hidden="true"]').textContent = starred ? "\u2605" : "\u2606";
    button.querySelector(".star-label").textContent = starred ? "In my agenda" : "Add to my agenda";
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-star]")) return;
    event.preventDefault();
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
        document.querySelectorAll('form[data-star][action="' + form.getAttribute("action") + '"]')
          .forEach(function (each) { render(each, result.starred); });
      })
      .catch(function () { form.submit(); })  // fall back to the plain form post
      .finally(function () { button.disabled = false; });
  });
})();
