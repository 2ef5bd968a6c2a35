// The response centre's screen: running clocks and live updates. The screen works without this file (the
// clocks then show the time when the page was made, and a reload brings new alarms).
//
// Clocks: each `.clock` counts from its alarm's reception (data-since, ms) on the server's clock: the list
// says what the server's clock read when it was made (data-now), and the browser only adds the time since,
// so a browser whose own clock is off still shows the right waiting time. A clock past its alarm's answer
// target (data-target, ms; only while nobody has taken it) turns late.
// Live (live.js): any change in the worklist's event stream fetches the list again through htmx. A note being written
// is carried over into the new list, and the focus (with the caret) goes back to the same field or button,
// so a refresh never costs the operator their place. A new alarm is announced once, at once (role=alert), in
// the words the server put on it; so is each time an open alarm is raised again (another press: its count
// of data-pressed-again went up since the last list).
(function () {
  "use strict";

  const announced = new Set();
  const pending = new Set();
  const pressedAgain = new Map(); // alarm id -> how many repeats the operator has been told of
  let serverNow = 0;
  let madeAt = 0;
  let refreshTimer = null;
  let lastFocused = null;
  let notes = {}; // textarea id -> what the operator had written, across a refresh
  let caret = null;
  let catchingUp = false; // the stream reconnected: announce every alarm not announced yet

  function list() {
    return document.getElementById("alarms");
  }

  function sync() {
    serverNow = Number(list().dataset.now);
    madeAt = performance.now();
  }

  function stopwatch(ms) {
    const whole = Math.max(Math.floor(ms / 1000), 0);
    const hours = Math.floor(whole / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    const seconds = String(whole % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
  }

  function tick() {
    const now = serverNow + (performance.now() - madeAt);
    document.querySelectorAll("#alarms .clock[data-since]").forEach((clock) => {
      const waited = now - Number(clock.dataset.since);
      clock.textContent = stopwatch(waited);
      const target = clock.dataset.target;
      clock.classList.toggle("late", target !== undefined && waited > Number(target));
    });
  }

  function refresh() {
    refreshTimer = null;
    htmx.ajax("GET", window.location.pathname, { target: "#alarms", swap: "outerHTML" });
  }

  function schedule() {
    if (refreshTimer === null) {
      refreshTimer = window.setTimeout(refresh, 200);
    }
  }

  function keep() {
    notes = {};
    document.querySelectorAll("#alarms textarea").forEach((area) => {
      if (area.value !== area.defaultValue) {
        notes[area.id] = area.value;
      }
    });
    const active = document.activeElement;
    caret = active && active.matches("#alarms textarea") ? [active.selectionStart, active.selectionEnd] : null;
  }

  function restore() {
    Object.entries(notes).forEach(([id, value]) => {
      const area = document.getElementById(id);
      if (area) {
        area.value = value;
      }
    });
    // A refresh replaces the focused element; the focus goes back to the element of the same id, if any.
    const lost = !document.activeElement || document.activeElement === document.body;
    const again = lost && lastFocused && document.getElementById(lastFocused);
    if (again) {
      again.focus();
      if (caret && again.matches("textarea")) {
        again.setSelectionRange(caret[0], caret[1]);
      }
    }
  }

  function announce() {
    if (catchingUp) {
      // After a reconnect: the alarms that opened while the stream was down are new to the operator too.
      catchingUp = false;
      document.querySelectorAll("#alarms .alarm").forEach((alarm) => pending.add(alarm.dataset.alarmId));
    }
    const texts = [];
    pending.forEach((id) => {
      const alarm = document.querySelector(`#alarms .alarm[data-alarm-id="${id}"]`);
      if (alarm && !announced.has(id)) {
        announced.add(id);
        texts.push(alarm.dataset.announce);
      }
    });
    pending.clear();
    document.querySelectorAll("#alarms .alarm").forEach((alarm) => {
      const times = Number(alarm.dataset.pressedAgain || 0);
      if (times > (pressedAgain.get(alarm.dataset.alarmId) ?? times)) {
        texts.push(alarm.dataset.announceAgain);
      }
      pressedAgain.set(alarm.dataset.alarmId, times);
    });
    if (texts.length) {
      document.getElementById("alarm-announcer").textContent = texts.join(" ");
    }
  }

  function listen() {
    TryggheimLive.follow(list().dataset.events, (name, id) => {
      if (name === "opened") {
        pending.add(id);
      } else if (name === "reconnected") {
        catchingUp = true;
      }
      schedule();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!list()) {
      return;
    }
    document.querySelectorAll("#alarms .alarm").forEach((alarm) => {
      announced.add(alarm.dataset.alarmId);
      pressedAgain.set(alarm.dataset.alarmId, Number(alarm.dataset.pressedAgain || 0));
    });
    sync();
    tick();
    window.setInterval(tick, 250);
    document.addEventListener("focusin", (event) => {
      lastFocused = event.target.closest("#alarms") && event.target.id ? event.target.id : null;
    });
    document.body.addEventListener("htmx:beforeSwap", keep);
    document.body.addEventListener("htmx:afterSettle", () => {
      sync();
      tick();
      restore();
      announce();
    });
    listen();
  });
})();
