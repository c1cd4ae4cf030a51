// The programme editor's drag to move. Without JavaScript every session is moved with its form;
// this only makes it quicker. A session dropped on a room at a time is first checked (which new
// clashes would the move make? nothing is saved), the organiser is asked about any, and only
// then is it moved through the JSON API with the version it was drawn at (If-Match), so a
// change someone else saved meanwhile is never overwritten. Times come from the server with
// their UTC offset in each slot's data-start; the script never works out a time zone.
(function () {
  "use strict";
  const { gettext: _, format } = window.confappText;
  var grid = document.querySelector("[data-programme-editor]");
  var tokenTag = document.querySelector('meta[name="csrf-token"]');
  if (!grid || !tokenTag || !window.fetch || !window.Promise) return;
  var csrfToken = tokenTag.getAttribute("content");
  var apiBase = grid.getAttribute("data-api");
  var formBase = grid.getAttribute("data-form-base");
  var dayPath = grid.getAttribute("data-day-path");
  var status = document.getElementById("editor-status");
  var dialog = document.getElementById("move-dialog");
  var roomDialog = document.getElementById("room-dialog");
  var moveLabel = grid.getAttribute("data-move-label") || "";
  // The list per room has no drop slots: there cards move with "Move to another room" only.
  var canDrop = !!grid.querySelector(".drop-slot");
  var dragged = null;
  var overSlot = null;
  var busy = false;

  function say(text, isError) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("is-error", !!isError);
  }

  function goBack(notice, slug) {
    var target = dayPath + (dayPath.indexOf("?") < 0 ? "?" : "&") + "notice=" + notice +
      "&session=" + encodeURIComponent(slug);
    if (location.pathname + location.search === target) {
      location.reload();
    } else {
      location.assign(target + "#session-" + slug);
    }
  }

  // fetch, answering {status, ok, body} whatever came back (a body that is not JSON is {}).
  function send(method, url, body, version) {
    var headers = {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRF-Token": csrfToken
    };
    if (version !== undefined) headers["If-Match"] = '"' + version + '"';
    return fetch(url, {
      method: method,
      headers: headers,
      body: JSON.stringify(body),
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(
        function (json) { return { status: response.status, ok: response.ok, body: json }; },
        function () { return { status: response.status, ok: response.ok, body: {} }; }
      );
    });
  }

  function refusal(answer) {
    var body = answer.body || {};
    var reasons = [];
    if (body.fields) {
      Object.keys(body.fields).forEach(function (name) {
        // The API's name for the field, then the server's reason (already in the reader's words).
        reasons.push(format(_("%(field)s %(reason)s"), { field: name, reason: body.fields[name] }));
      });
    }
    var text = (body.detail || format(_("The server answered %(status)s."), { status: answer.status })) +
      (reasons.length ? " " + reasons.join("; ") : "");
    return new Error(format(_("Not moved. %(reason)s You can still change it with its form."), { reason: text }));
  }

  function clashKey(clash) { return clash.kind + ":" + (clash.other_session || ""); }

  // The organiser's answer: true to go on with the move. A small dialog; confirm() without one.
  function ask(what, clashes) {
    var messages = clashes.map(function (clash) { return clash.message; });
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.confirm(what + "\n\n" + messages.join("\n") + "\n\n" + _("Move it anyway?")));
    }
    document.getElementById("move-dialog-what").textContent = what;
    var list = document.getElementById("move-dialog-clashes");
    list.textContent = "";
    messages.forEach(function (message) {
      var item = document.createElement("li");
      item.textContent = message;
      list.appendChild(item);
    });
    return new Promise(function (resolve) {
      function answer(yes) {
        dialog.removeEventListener("click", onClick);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        resolve(yes);
      }
      function onClick(event) {
        var button = event.target.closest("[data-answer]");
        if (button) answer(button.getAttribute("data-answer") === "yes");
      }
      function onCancel(event) { event.preventDefault(); answer(false); }
      dialog.addEventListener("click", onClick);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
    });
  }

  // Where a session is moved to: a room and a start (ISO 8601 with its offset, as the server
  // wrote it), with the words to say so.
  function slotTarget(slot) {
    return {
      room: slot.getAttribute("data-room"),
      roomName: slot.getAttribute("data-room-name"),
      start: slot.getAttribute("data-start"),
      label: slot.getAttribute("data-label")
    };
  }

  function moveTo(card, target) {
    var slug = card.getAttribute("data-session");
    var title = card.getAttribute("data-title");
    var version = Number(card.getAttribute("data-version"));
    var oldStart = card.getAttribute("data-start");
    var oldEnd = card.getAttribute("data-end");
    var oldRoom = card.getAttribute("data-room") || null;
    var start = target.start;
    var room = target.room;
    if (room === oldRoom && Date.parse(start) === Date.parse(oldStart)) return;
    // Same length as before; an instant in UTC, which the API takes like any offset.
    var end = new Date(Date.parse(start) + Date.parse(oldEnd) - Date.parse(oldStart))
      .toISOString().replace(".000Z", "Z");
    var change = { room: room, start: start, end: end };
    var what = format(_("Moving “%(title)s” to %(room)s at %(time)s."), {
      title: title, room: target.roomName, time: target.label
    });
    var before = (card.getAttribute("data-clashes") || "").split(" ").filter(Boolean);
    busy = true;
    card.classList.add("is-saving");
    say(what);

    function stop(message, isError) {
      busy = false;
      card.classList.remove("is-saving");
      say(message, isError);
    }

    send("POST", formBase + encodeURIComponent(slug) + "/check-move",
      { room: room, start: start, end: end, version: version })
      .then(function (checked) {
        if (checked.status === 409) return goBack("conflict", slug);
        if (!checked.ok) throw refusal(checked);
        var asked = checked.body.new_clashes || [];
        asked.forEach(function (clash) { before.push(clashKey(clash)); });
        var decided = asked.length ? ask(what, asked) : Promise.resolve(true);
        return decided.then(function (go) {
          if (!go) return stop(format(_("Not moved: “%(title)s” stays where it was."), { title: title }));
          return send("PATCH", apiBase + encodeURIComponent(slug), change, version)
            .then(function (moved) { return afterMove(moved); });
        });
      })
      .catch(function (error) { stop(error.message, true); });

    // Someone may have changed another session between the check and the move: a clash
    // nobody was asked about is shown now, and the move undone if the organiser says so.
    function afterMove(moved) {
      if (moved.status === 409) return goBack("conflict", slug);
      if (!moved.ok) throw refusal(moved);
      var unexpected = (moved.body.clashes || []).filter(function (clash) {
        return before.indexOf(clashKey(clash)) < 0 &&
          clash.kind !== "no_room" && clash.kind !== "no_speaker";
      });
      if (!unexpected.length) return goBack("moved", slug);
      var clashesNow = format(_("%(what)s It was moved, but it now clashes:"), { what: what });
      return ask(clashesNow, unexpected).then(function (keep) {
        if (keep) return goBack("moved", slug);
        var back = { room: oldRoom, start: oldStart, end: oldEnd };
        return send("PATCH", apiBase + encodeURIComponent(slug), back, moved.body.session.version)
          .then(function (undone) { goBack(undone.ok ? "undone" : "conflict", slug); });
      });
    }
  }

  function setOver(slot) {
    if (overSlot === slot) return;
    if (overSlot) overSlot.classList.remove("is-over");
    overSlot = slot;
    if (slot) slot.classList.add("is-over");
  }

  function startDrag(card) {
    dragged = card;
    card.classList.add("is-moving");
    // Later, not during dragstart: changing what is under the pointer then ends a drag at once.
    window.setTimeout(function () { if (dragged) grid.classList.add("is-dragging"); }, 0);
  }

  function endDrag() {
    if (dragged) dragged.classList.remove("is-moving");
    dragged = null;
    grid.classList.remove("is-dragging");
    setOver(null);
  }

  function slotAt(target) {
    return target && target.closest ? target.closest(".drop-slot") : null;
  }

  // Mouse (and pen) drags: HTML drag and drop.
  grid.addEventListener("dragover", function (event) {
    var slot = slotAt(event.target);
    if (!dragged || !slot) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    setOver(slot);
  });
  grid.addEventListener("drop", function (event) {
    var slot = slotAt(event.target);
    if (!dragged || !slot) return;
    event.preventDefault();
    var card = dragged;
    endDrag();
    moveTo(card, slotTarget(slot));
  });

  // "Move to another room": the card's room changed, its time kept, checked and asked about
  // like a drop. It reaches the rooms the grid does not show (or that lie off screen).
  function askForRoom(card) {
    if (busy || !roomDialog || typeof roomDialog.showModal !== "function") return;
    var select = document.getElementById("room-dialog-room");
    var current = card.getAttribute("data-room");
    if (current) select.value = current;
    document.getElementById("room-dialog-what").textContent = card.getAttribute("data-title");
    roomDialog.returnValue = "";
    roomDialog.addEventListener("close", function onClose() {
      roomDialog.removeEventListener("close", onClose);
      var room = select.value;
      if (roomDialog.returnValue !== "move" || !room || room === current) return;
      var option = select.options[select.selectedIndex];
      var start = card.getAttribute("data-start");
      moveTo(card, {
        room: room,
        roomName: option.getAttribute("data-name") || option.textContent,
        start: start,
        label: start.slice(11, 16)
      });
    });
    roomDialog.showModal();
  }

  document.querySelectorAll(".editor-card[data-session]").forEach(function (card) {
    if (moveLabel && roomDialog) {
      var mover = document.createElement("button");
      mover.type = "button";
      mover.className = "move-room-button";
      mover.title = moveLabel;
      mover.setAttribute("aria-label", moveLabel + ": " + card.getAttribute("data-title"));
      mover.textContent = "\u21c4";
      card.appendChild(mover);
      mover.addEventListener("click", function () { askForRoom(card); });
    }
    if (!canDrop) return;
    card.setAttribute("draggable", "true");
    card.addEventListener("dragstart", function (event) {
      if (busy) { event.preventDefault(); return; }
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.getAttribute("data-session"));
      startDrag(card);
    });
    card.addEventListener("dragend", endDrag);

    // Touch: a handle to hold and drag (the rest of the card scrolls the grid as usual).
    var handle = document.createElement("button");
    handle.type = "button";
    handle.className = "drag-handle";
    handle.setAttribute("aria-hidden", "true");
    handle.tabIndex = -1;
    handle.textContent = "\u2725";
    card.appendChild(handle);
    handle.addEventListener("pointerdown", function (event) {
      if (event.pointerType === "mouse" || busy) return;
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      startDrag(card);
      grid.classList.add("is-dragging");
      function onMove(moveEvent) {
        var under = document.elementsFromPoint(moveEvent.clientX, moveEvent.clientY);
        setOver(under.map(slotAt).filter(Boolean)[0] || null);
      }
      function onUp(upEvent) {
        handle.removeEventListener("pointermove", onMove);
        handle.removeEventListener("pointerup", onUp);
        handle.removeEventListener("pointercancel", onUp);
        var slot = upEvent.type === "pointerup" ? overSlot : null;
        endDrag();
        if (slot) moveTo(card, slotTarget(slot));
      }
      handle.addEventListener("pointermove", onMove);
      handle.addEventListener("pointerup", onUp);
      handle.addEventListener("pointercancel", onUp);
    });
  });
})();
