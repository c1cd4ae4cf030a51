// The session form's speaker picker. Without JavaScript each person row is a plain <select> of
// every speaker, and that is still what is sent. This adds a box above each one to find a name
// by typing: the speakers whose names do not match are hidden and the list opens with those
// that do; a click (or Enter in the box, for the first match) chooses one. Accents and case
// are ignored, and every word typed must appear ("far li" finds "Liam Farrelly"). The words it
// shows come from the page (data-filter-label, data-no-match), so they are translated there.
(function () {
  "use strict";
  var group = document.querySelector("[data-speaker-picker]");
  if (!group || !"".normalize) return;
  var findLabel = group.getAttribute("data-filter-label") || "";
  var noMatch = group.getAttribute("data-no-match") || "";
  var LIST_ROWS = 8;

  function folded(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function enhance(select) {
    var rowLabel = group.querySelector('label[for="' + select.id + '"]');
    var box = document.createElement("input");
    box.type = "search";
    box.id = select.id + "-find";
    box.className = "speaker-find";
    box.autocomplete = "off";
    box.spellcheck = false;
    box.placeholder = findLabel;
    box.setAttribute("aria-label", findLabel + (rowLabel ? ": " + rowLabel.textContent : ""));
    box.setAttribute("aria-controls", select.id);
    var status = document.createElement("span");
    status.className = "speaker-find-status";
    status.setAttribute("aria-live", "polite");
    select.parentNode.insertBefore(box, select);
    select.parentNode.insertBefore(status, select.nextSibling);

    function visible() {
      return Array.prototype.filter.call(select.options, function (option) {
        return option.value && !option.hidden;
      });
    }

    function close() {
      box.value = "";
      filter();
    }

    function filter() {
      var words = folded(box.value).split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) { // "—", nobody: only offered when nothing is typed
          option.hidden = words.length > 0;
          return;
        }
        var name = folded(option.textContent);
        option.hidden = !words.every(function (word) { return name.indexOf(word) >= 0; });
      });
      var matches = visible().length;
      if (words.length) {
        select.size = Math.max(2, Math.min(LIST_ROWS, matches));
      } else {
        select.removeAttribute("size");
      }
      status.textContent = words.length && !matches ? noMatch : "";
    }

    box.addEventListener("input", filter);
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { // choose the first match; never submit the form from here
        event.preventDefault();
        var first = visible()[0];
        if (first) {
          select.value = first.value;
          close();
          select.focus();
        }
      } else if (event.key === "ArrowDown" && box.value) {
        event.preventDefault();
        select.focus();
      } else if (event.key === "Escape" && box.value) {
        event.preventDefault();
        close();
      }
    });
    // A choice made in the opened list (a click, or Enter after the arrow keys) closes it,
    // showing the name chosen; so does leaving it.
    select.addEventListener("click", function () { if (box.value) close(); });
    select.addEventListener("blur", function (event) {
      if (box.value && event.relatedTarget !== box) close();
    });
    select.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && box.value) {
        event.preventDefault();
        close();
      }
    });
  }

  group.querySelectorAll("select[data-speakers]").forEach(enhance);
})();
