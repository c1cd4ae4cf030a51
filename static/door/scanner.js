// The steward's scanner: reads QR codes from the rear camera (jsQR), asks the server, and shows a
// full-screen answer with a sound and a buzz. When the network is gone it checks the ticket's
// signature on the device (verify.js) against the keys and revocation list it keeps, queues the
// admission in IndexedDB (queue.js) and hands the queue to the server when the network returns.

import { displayCode, normaliseTicketCode, parseScan, verifyToken } from "./verify.js";
import { DoorStore } from "./queue.js";

const { gettext: _, ngettext, format } = window.confappText;

const body = document.body;
const conference = {
  id: Number(body.dataset.conferenceId),
  slug: body.dataset.conference,
  endDate: body.dataset.endDate, // YYYY-MM-DD, the conference's last day
  timezone: body.dataset.timezone, // the conference's zone, e.g. Australia/Sydney
};
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const api = `/api/${encodeURIComponent(conference.slug)}`;
const storageKey = (name) => `confapp-door-${conference.slug}-${name}`;
const SAME_SCAN_IGNORED_MS = 3000;
const SYNC_EVERY_MS = 30000;
const SYNC_BATCH = 100;

const $ = (id) => document.getElementById(id);
const answer = $("answer");
const banner = $("offline-banner");
const video = $("camera");
const canvas = document.createElement("canvas");
const canvasContext = canvas.getContext("2d", { willReadFrequently: true });

const state = {
  store: null,
  lastText: "",
  lastAnsweredAt: 0,
  busy: false,
  networkDown: false,
  syncing: null, // the running sync's promise
  audio: null,
  hideTimer: null,
  scanning: false,
};

// ---- the device: a random id of its own, kept across visits -----------------------------

function deviceId() {
  let id = localStorage.getItem("confapp-door-device");
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = "door-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("confapp-door-device", id);
  }
  return id;
}

// ---- answers: colour, word, sound, vibration ---------------------------------------------

const ANSWERS = {
  admitted: { tone: "good" },
  admitted_offline: { tone: "good" },
  already_admitted: { tone: "warn" },
  cancelled: { tone: "bad" },
  invalid: { tone: "bad" },
  wrong_conference: { tone: "bad" },
  cannot_check: { tone: "warn" },
  signed_out: { tone: "bad" },
  refused: { tone: "bad" },
  error: { tone: "bad" },
};

// The word shown full screen for each answer, in the steward's language (the JSON's `result`
// codes stay English).
function answerWord(kind) {
  switch (kind) {
    case "admitted":
      return _("ADMITTED");
    case "admitted_offline":
      return _("ADMITTED (offline)");
    case "already_admitted":
      return _("ALREADY IN");
    case "cancelled":
      return _("CANCELLED");
    case "invalid":
      return _("INVALID");
    case "wrong_conference":
      return _("WRONG CONFERENCE");
    case "cannot_check":
      return _("CANNOT CHECK OFFLINE");
    case "signed_out":
      return _("SIGNED OUT");
    case "refused":
      return _("NOT ALLOWED");
    default:
      return _("TRY AGAIN");
  }
}

// Times on the door are the conference's wall clock, 24-hour (13:27), as the back office shows
// them, whatever zone and locale the phone is set to: online (the server's ISO time) and offline
// (the device's own UTC record) alike; written as the page's language writes them.
let doorClock = null;
function doorTime(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  if (!doorClock) {
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      doorClock = new Intl.DateTimeFormat(window.confappText.formatLanguage, {
        ...options,
        timeZone: conference.timezone,
      });
    } catch {
      // a zone this browser does not know
      doorClock = new Intl.DateTimeFormat(window.confappText.formatLanguage, options);
    }
  }
  return doorClock.format(when);
}

// What ADMITTED says about payment, as the conference chose ("desk", "collect" or "silent").
function paymentLine(paymentStatus, unpaidAtDoor) {
  if (paymentStatus !== "unpaid") return "";
  if (unpaidAtDoor === "collect") return _("Unpaid: take the payment now.");
  if (unpaidAtDoor === "silent") return "";
  return _("Unpaid: send them to the desk.");
}

// What the steward does next when the answer is not a plain "let them in".
function nextStep(kind, otherConference) {
  if (kind === "invalid") {
    return _(
      "Not a ticket of ours, or damaged. Ask for the ticket e-mail or search by name or code; if in doubt, send them to the desk.",
    );
  }
  if (kind === "wrong_conference") {
    return otherConference
      ? format(_("This ticket is for %(conference)s, not for this conference. Send them to the desk."), {
          conference: otherConference,
        })
      : _("This ticket is for another conference. Send them to the desk.");
  }
  if (kind === "already_admitted") {
    return _(
      "This ticket has already let someone in. If they went out and are coming back, let them through; if not, send them to the desk.",
    );
  }
  if (kind === "cancelled") return _("This ticket was cancelled and lets nobody in. Send them to the desk.");
  return "";
}

function beep(tone) {
  const audio = state.audio;
  if (!audio) return;
  const notes = tone === "good" ? [[880, 0, 0.15]] : tone === "warn" ? [[520, 0, 0.18], [520, 0.25, 0.18]] : [[200, 0, 0.35], [160, 0.4, 0.35]];
  for (const [frequency, start, length] of notes) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = tone === "good" ? "sine" : "square";
    oscillator.frequency.value = frequency;
    gain.gain.value = 0.25;
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(audio.currentTime + start);
    oscillator.stop(audio.currentTime + start + length);
  }
}

function showAnswer(kind, lines, { payment = "", otherConference = null } = {}) {
  const shape = ANSWERS[kind] || ANSWERS.error;
  answer.className = `answer answer--${shape.tone}`;
  answer.dataset.result = kind;
  $("answer-word").textContent = answerWord(kind in ANSWERS ? kind : "error");
  const detail = $("answer-detail");
  detail.replaceChildren();
  for (const line of lines.filter(Boolean)) {
    const p = document.createElement("p");
    p.textContent = line;
    detail.append(p);
  }
  const paymentNote = $("answer-payment");
  paymentNote.textContent = payment;
  paymentNote.hidden = !payment;
  const step = nextStep(kind, otherConference);
  $("answer-next-step").textContent = step;
  $("answer-next-step").hidden = !step;
  $("answer-offline").hidden = !(state.networkDown || !navigator.onLine);
  $("answer-sign-in").hidden = kind !== "signed_out";
  answer.hidden = false;
  beep(shape.tone);
  if (navigator.vibrate) navigator.vibrate(shape.tone === "good" ? 120 : [300, 100, 300]);
  clearTimeout(state.hideTimer);
  // Long enough to read what to do: a payment to take, a next step.
  const showFor = shape.tone === "good" ? (payment ? 5000 : 1500) : 5000;
  // SIGNED OUT stays until tapped: it holds the way back in.
  if (kind !== "signed_out") state.hideTimer = setTimeout(hideAnswer, showFor);
  state.lastAnsweredAt = Date.now();
}

function hideAnswer() {
  answer.hidden = true;
}

// The server said this phone's sign-in (or door device) has ended: the header offers the way
// back in, which returns to this page; the offline queue stays in IndexedDB and is sent then.
function signedOut() {
  body.dataset.signedIn = "no";
  $("door-signed-out").hidden = false;
}

function showServerAnswer(data) {
  const lines = [];
  if (data.attendee) lines.push(data.attendee.name, data.attendee.ticket_type);
  if (data.result === "already_admitted" && data.admitted_at) {
    const time = doorTime(data.admitted_at);
    lines.push(
      data.by
        ? format(_("In at %(time)s by %(by)s"), { time, by: data.by })
        : format(_("In at %(time)s"), { time }),
    );
  }
  if (data.ticket_code) lines.push(format(_("Ticket %(code)s"), { code: data.ticket_code }));
  const payment = data.result === "admitted" ? paymentLine(data.payment_status, data.unpaid_at_door) : "";
  showAnswer(data.result in ANSWERS ? data.result : "invalid", lines, {
    payment,
    otherConference: data.other_conference,
  });
}

// ---- the offline banner and the sync note ------------------------------------------------

async function updateBanner() {
  const waiting = state.store ? await state.store.count() : 0;
  const offline = state.networkDown || !navigator.onLine;
  body.classList.toggle("is-offline", offline);
  banner.hidden = !offline && waiting === 0;
  banner.className = offline ? "banner banner--offline" : "banner banner--waiting";
  $("banner-word").textContent = offline ? _("OFFLINE") : _("Back online");
  $("banner-detail").textContent = format(
    offline
      ? ngettext(
          "Checking tickets on this device. %(count)s admission waiting to sync.",
          "Checking tickets on this device. %(count)s admissions waiting to sync.",
          waiting,
        )
      : ngettext("%(count)s admission waiting to sync…", "%(count)s admissions waiting to sync…", waiting),
    { count: waiting },
  );
  banner.dataset.queue = String(waiting);
}

function note(text) {
  $("sync-note").textContent = text;
}

// ---- keys and revocations, kept for offline checks ---------------------------------------

function offlineData() {
  try {
    const keys = JSON.parse(localStorage.getItem(storageKey("keys")) || "null");
    const revoked = JSON.parse(localStorage.getItem(storageKey("revoked")) || "null");
    const unpaid = JSON.parse(localStorage.getItem(storageKey("unpaid")) || "null");
    return { keys, revoked, unpaid };
  } catch {
    return { keys: null, revoked: null, unpaid: null };
  }
}

async function refreshOfflineData() {
  try {
    const [keys, revoked, unpaid] = await Promise.all([
      fetch(`${api}/ticket-keys`, { cache: "no-store" }),
      fetch(`${api}/ticket-revocations`, { cache: "no-store" }),
      fetch(`${api}/door/unpaid-tickets`, {
        headers: { accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      }),
    ]);
    if (keys.ok) localStorage.setItem(storageKey("keys"), JSON.stringify(await keys.json()));
    if (revoked.ok) localStorage.setItem(storageKey("revoked"), JSON.stringify(await revoked.json()));
    if (unpaid.ok) localStorage.setItem(storageKey("unpaid"), JSON.stringify(await unpaid.json()));
  } catch {
    // Offline: what was kept from before stands.
  }
  const { keys } = offlineData();
  body.dataset.offlineReady = keys && keys.conference_id === conference.id ? "yes" : "no";
}

// ---- checking a ticket: the server first, the device when the network is gone -----------

async function checkIn(scan, method) {
  if (state.busy) return;
  state.busy = true;
  try {
    if (!navigator.onLine) {
      await checkOffline(scan);
      return;
    }
    // Admissions made offline go to the server before anything new, so a ticket let in offline
    // and shown again now is ALREADY IN, not a second admission and a conflict.
    if (state.store && (await state.store.count()) > 0) await sync();
    let response;
    try {
      response = await fetch(`${api}/checkins`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          "x-csrf-token": csrfToken,
        },
        body: JSON.stringify({ scan, device: deviceId(), method }),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch {
      state.networkDown = true;
      await checkOffline(scan);
      return;
    }
    if (response.status >= 502 && response.status <= 504) {
      state.networkDown = true; // a proxy in front of a server that is down
      await checkOffline(scan);
      return;
    }
    state.networkDown = false;
    if (response.status === 401) {
      signedOut();
      showAnswer("signed_out", [_("Sign in again to go on scanning.")]);
    } else if (response.status === 403) {
      showAnswer("refused", [_("This account may not check people in here.")]);
    } else if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      showAnswer("error", [
        data.detail || format(_("The server answered %(status)s."), { status: response.status }),
      ]);
    } else {
      const data = await response.json();
      showServerAnswer(data);
      if (data.result === "admitted" && data.ticket_code && state.store) {
        const code = normaliseTicketCode(data.ticket_code);
        if (code) await state.store.rememberAdmitted(code, data.admitted_at);
      }
      syncSoon();
    }
  } finally {
    state.busy = false;
    await updateBanner();
  }
}

async function checkOffline(scan) {
  const parsed = parseScan(scan);
  if (!parsed) {
    showAnswer("invalid", [_("Not a ticket.")]);
    return;
  }
  const { keys, revoked, unpaid } = offlineData();
  if (parsed.code) {
    showAnswer("cannot_check", [
      _("A typed code needs the network."),
      _("Scan the QR code, or try again when back online."),
    ]);
    return;
  }
  if (!state.store) {
    showAnswer("cannot_check", [_("This browser keeps no offline queue here.")]);
    return;
  }
  if (!keys || keys.conference_id !== conference.id) {
    showAnswer("cannot_check", [_("This device has not loaded the ticket keys yet.")]);
    return;
  }
  const verdict = await verifyToken(parsed.token, keys.keys, conference.id, revoked ? revoked.revoked : []);
  if (verdict.result !== "admitted") {
    showAnswer(verdict.result, [_("Checked on this device (offline).")]);
    return;
  }
  const earlier = await state.store.seen(verdict.ticket_code);
  if (earlier) {
    showAnswer("already_admitted", [
      format(_("In at %(time)s on this device"), { time: doorTime(earlier.admitted_at) }),
      format(_("Ticket %(code)s"), { code: displayCode(verdict.ticket_code) }),
    ]);
    return;
  }
  await state.store.queueAdmission(scan, verdict.ticket_code, new Date().toISOString());
  showAnswer(
    "admitted_offline",
    [
      _("Genuine ticket. Name shown when back online."),
      format(_("Ticket %(code)s"), { code: displayCode(verdict.ticket_code) }),
    ],
    { payment: offlinePaymentLine(unpaid, verdict.ticket_code) },
  );
}

// The payment line from the unpaid list the device keeps (codes in any spelling).
function offlinePaymentLine(unpaid, ticketCode) {
  if (!unpaid || unpaid.conference_id !== conference.id || !Array.isArray(unpaid.unpaid)) return "";
  const isUnpaid = unpaid.unpaid.some((code) => normaliseTicketCode(code) === ticketCode);
  return paymentLine(isUnpaid ? "unpaid" : "", unpaid.unpaid_at_door);
}

// ---- sync: hand the queue to the server --------------------------------------------------

let syncTimer = null;
function syncSoon() {
  clearTimeout(syncTimer);
  syncTimer = setTimeout(sync, 200);
}

// One sync at a time; a caller that needs the queue handed over first awaits the running one.
function sync() {
  if (!state.syncing) state.syncing = sendQueue().finally(() => (state.syncing = null));
  return state.syncing;
}

async function sendQueue() {
  if (!state.store || !navigator.onLine) return;
  try {
    const pending = (await state.store.pending()).slice(0, SYNC_BATCH);
    if (pending.length === 0) return;
    let response;
    try {
      response = await fetch(`${api}/checkins/sync`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          "x-csrf-token": csrfToken,
        },
        body: JSON.stringify({
          device: deviceId(),
          admissions: pending.map((item) => ({ scan: item.scan, admitted_at: item.admitted_at })),
        }),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch {
      state.networkDown = true;
      return;
    }
    state.networkDown = false;
    if (response.status === 401) signedOut();
    if (!response.ok) {
      note(
        response.status === 401
          ? _("Signed out: sign in again so the admissions on this device can be sent.")
          : format(_("The server did not take the queue (%(status)s); it stays on this device."), {
              status: response.status,
            }),
      );
      return;
    }
    const results = (await response.json()).results || [];
    const answered = pending.slice(0, results.length);
    await state.store.remove(answered.map((item) => item.id));
    const counts = {};
    for (const item of results) counts[item.result] = (counts[item.result] || 0) + 1;
    const parts = [
      format(ngettext("Sent %(count)s offline admission.", "Sent %(count)s offline admissions.", answered.length), {
        count: answered.length,
      }),
    ];
    if (counts.already_admitted) {
      parts.push(
        format(
          ngettext(
            "%(count)s had been admitted elsewhere: reported to organisers.",
            "%(count)s had been admitted elsewhere: reported to organisers.",
            counts.already_admitted,
          ),
          { count: counts.already_admitted },
        ),
      );
    }
    const refused = (counts.cancelled || 0) + (counts.invalid || 0) + (counts.wrong_conference || 0);
    if (refused) {
      parts.push(
        format(
          ngettext(
            "%(count)s turned out not to be valid: reported to organisers.",
            "%(count)s turned out not to be valid: reported to organisers.",
            refused,
          ),
          { count: refused },
        ),
      );
    }
    note(parts.join(" "));
    if (pending.length === SYNC_BATCH) syncSoon();
  } finally {
    await updateBanner();
  }
}

// ---- the camera ---------------------------------------------------------------------------

async function startCamera() {
  if (!state.audio && (window.AudioContext || window.webkitAudioContext)) {
    state.audio = new (window.AudioContext || window.webkitAudioContext)();
  }
  if (state.scanning) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("camera-status").textContent = _("This browser gives no camera here: type a code or search below.");
    return;
  }
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" } },
      audio: false,
    });
  } catch (error) {
    $("camera-status").textContent = format(_("No camera (%(error)s): type a code or search below."), {
      error: error.name,
    });
    return;
  }
  await video.play().catch(() => {});
  state.scanning = true;
  body.classList.add("is-scanning");
  $("start").hidden = true;
  $("camera-status").textContent = _("Hold the ticket's QR code up to the camera.");
  scanFrame();
}

function scanFrame() {
  if (!state.scanning) return;
  if (video.readyState >= 2 && video.videoWidth && !state.busy) {
    const scale = Math.min(1, 640 / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvasContext.drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = canvasContext.getImageData(0, 0, canvas.width, canvas.height);
    const found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
    if (found && found.data) onRead(found.data);
  }
  setTimeout(scanFrame, 100);
}

function onRead(text) {
  // One ticket held up in front of the camera is one scan, not one a frame.
  if (text === state.lastText && Date.now() - state.lastAnsweredAt < SAME_SCAN_IGNORED_MS) return;
  state.lastText = text;
  checkIn(text, "scan");
}

// ---- without the camera: a typed code, a search ------------------------------------------

async function search(query) {
  const list = $("search-results");
  list.replaceChildren();
  let response;
  try {
    response = await fetch(`${api}/door/search?q=${encodeURIComponent(query)}`, {
      headers: { accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    $("search-status").textContent = _("Search needs the network.");
    return;
  }
  if (response.status === 401) signedOut();
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    $("search-status").textContent = data.detail || _("Type at least two letters of a name or code.");
    return;
  }
  const matches = (await response.json()).matches || [];
  $("search-status").textContent = matches.length
    ? format(ngettext("%(count)s found.", "%(count)s found.", matches.length), { count: matches.length })
    : _("No one found.");
  for (const match of matches) {
    const item = document.createElement("li");
    const who = document.createElement("div");
    const name = document.createElement("strong");
    name.textContent = match.name;
    const about = document.createElement("span");
    // As a scan answers: a place held for an online payment admits as unpaid; a cancelled
    // ticket, or a hold that ended unpaid, admits nobody.
    const refused = match.status === "cancelled" || match.status === "expired";
    const status = match.admitted_at
      ? format(_("in at %(time)s"), { time: doorTime(match.admitted_at) })
      : match.status === "cancelled"
        ? _("cancelled")
        : match.status === "expired"
          ? _("not paid in time")
          : match.status === "reserved"
            ? _("not yet in, not paid yet")
            : _("not yet in");
    about.textContent = ` ${match.ticket_type} · ${match.ticket_code} · ${status}`;
    who.append(name, about);
    item.append(who);
    if (!refused) {
      const admit = document.createElement("button");
      admit.type = "button";
      admit.className = "big-button";
      admit.textContent = _("Admit");
      admit.setAttribute("aria-label", format(_("Admit %(name)s"), { name: match.name }));
      admit.addEventListener("click", () => checkIn(match.ticket_code, "search"));
      item.append(admit);
    } else {
      // A ticket that lets nobody in: say why, and offer nothing to tap.
      const why = document.createElement("p");
      why.className = "search-refusal";
      why.textContent =
        match.status === "expired"
          ? _("Not paid in time: this ticket lets nobody in. Send them to the desk.")
          : _("Cancelled: this ticket lets nobody in. Send them to the desk.");
      item.append(why);
    }
    list.append(item);
  }
}

// ---- after the conference: hand everything over, then forget it ------------------------

function conferenceIsOver() {
  const today = new Date();
  const local = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;
  return Boolean(conference.endDate) && local > conference.endDate;
}

async function clearIfOver() {
  if (!conferenceIsOver()) return false;
  await sync();
  if ((await state.store.count()) === 0) {
    await state.store.clearAll();
    localStorage.removeItem(storageKey("keys"));
    localStorage.removeItem(storageKey("revoked"));
    localStorage.removeItem(storageKey("unpaid"));
    note(_("The conference is over: this device no longer keeps its keys or admissions."));
  }
  return true;
}

// ---- start ----------------------------------------------------------------------------------

async function main() {
  $("start").addEventListener("click", startCamera);
  answer.addEventListener("click", hideAnswer);
  $("answer-next").addEventListener("click", hideAnswer);
  $("code-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = $("code");
    if (field.value.trim()) checkIn(field.value.trim(), "code");
    field.value = "";
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("search").value.trim());
  });
  window.addEventListener("online", () => {
    state.networkDown = false;
    updateBanner();
    syncSoon();
  });
  window.addEventListener("offline", updateBanner);
  setInterval(() => {
    sync();
    if (navigator.onLine) refreshOfflineData();
  }, SYNC_EVERY_MS);

  if ("serviceWorker" in navigator && body.dataset.serviceWorker) {
    navigator.serviceWorker
      .register(body.dataset.serviceWorker, { scope: body.dataset.scope })
      .catch(() => {});
  }
  try {
    state.store = await new DoorStore(conference.slug).open();
  } catch {
    note(_("This browser keeps no offline queue (private mode?): scanning needs the network."));
  }
  if (state.store && (await clearIfOver())) {
    body.dataset.offlineReady = "no";
  } else {
    await refreshOfflineData();
  }
  await updateBanner();
  syncSoon();
  body.dataset.ready = "yes";
}

main();
