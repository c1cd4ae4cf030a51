// What a door device keeps in IndexedDB, per conference: the admissions it made offline and has
// not yet handed to the server ("queue"), and the ticket codes it has admitted ("seen", so a
// ticket shown twice to one offline device is ALREADY IN). Ticket codes and times only: no
// names, no attendee list.

const DB_VERSION = 1;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export class DoorStore {
  constructor(conferenceSlug) {
    this.name = `confapp-door-${conferenceSlug}`;
    this.db = null;
  }

  async open() {
    if (this.db) return this;
    const req = indexedDB.open(this.name, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains("queue")) {
        db.createObjectStore("queue", { keyPath: "id", autoIncrement: true });
      }
      if (!db.objectStoreNames.contains("seen")) db.createObjectStore("seen", { keyPath: "code" });
    };
    this.db = await request(req);
    return this;
  }

  async queueAdmission(scan, code, admittedAt) {
    const tx = this.db.transaction(["queue", "seen"], "readwrite");
    tx.objectStore("queue").add({ scan, code, admitted_at: admittedAt });
    tx.objectStore("seen").put({ code, admitted_at: admittedAt, offline: true });
    await done(tx);
  }

  async rememberAdmitted(code, admittedAt) {
    const tx = this.db.transaction("seen", "readwrite");
    tx.objectStore("seen").put({ code, admitted_at: admittedAt, offline: false });
    await done(tx);
  }

  async seen(code) {
    const tx = this.db.transaction("seen", "readonly");
    return (await request(tx.objectStore("seen").get(code))) || null;
  }

  async pending() {
    const tx = this.db.transaction("queue", "readonly");
    return request(tx.objectStore("queue").getAll());
  }

  async count() {
    const tx = this.db.transaction("queue", "readonly");
    return request(tx.objectStore("queue").count());
  }

  async remove(ids) {
    const tx = this.db.transaction("queue", "readwrite");
    for (const id of ids) tx.objectStore("queue").delete(id);
    await done(tx);
  }

  async clearAll() {
    const tx = this.db.transaction(["queue", "seen"], "readwrite");
    tx.objectStore("queue").clear();
    tx.objectStore("seen").clear();
    await done(tx);
  }
}
