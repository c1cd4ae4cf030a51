// The door devices list: Revoke asks once, in a dialog, and then posts confirmed. Without JS
// the same button posts unconfirmed and the server answers with a page that asks.
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      form.elements.confirmed.value = "yes";
    });
  });
})();
