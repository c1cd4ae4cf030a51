// The door scanner's service worker: keeps the page and its scripts so the scanner opens and
// works with no network. Served from /door/{conference}/sw.js with the scope /door/{conference}.
// Network first, the kept copy when the network fails: a steward online always gets the newest
// page. The API is never kept here (the page keeps the keys and revocations itself).

const CACHE = "confapp-door-v2";
const SHELL = [
  "/static/door/scanner.js",
  "/static/door/verify.js",
  "/static/door/queue.js",
  "/static/door/scanner.css",
  "/static/door/icon-192.png",
  "/static/door/icon-512.png",
  "/static/vendor/jsqr/jsQR.js",
  "/static/vendor/noble-ed25519/index.js",
  "/static/js/text.js",
];

function pagePath() {
  return new URL(self.registration.scope).pathname;
}

function isKept(url) {
  if (url.origin !== self.location.origin) return false;
  if (url.pathname === pagePath() || url.pathname === `${pagePath()}/manifest.webmanifest`) {
    return true;
  }
  return (
    url.pathname.startsWith("/static/door/") ||
    url.pathname.startsWith("/static/vendor/") ||
    url.pathname === "/static/js/text.js"
  );
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll([...SHELL, pagePath(), `${pagePath()}/manifest.webmanifest`]))
      .catch(() => {})
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || !isKept(url)) return; // the API goes straight to the network
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok && !response.redirected) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(url.pathname).then((kept) => kept || Response.error()),
      ),
  );
});
