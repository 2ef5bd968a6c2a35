// The worklist's live updates, announcements and keyboard operation. The page works without this file
// (plain links and forms); with it, the list follows the server's event stream without a reload.
//
// Live (live.js): the worklist event stream names what changed (never a name or a value); on any change the
// list is fetched again through htmx, which asks for the list alone. A new alert is announced once in the polite
// live region, in the words the server rendered into its row (data-announce); after a reconnect, so is every
// alert the list did not show before it.
// Keyboard: j / ArrowDown and k / ArrowUp move between alerts, Enter opens one (it is a link), a acknowledges
// the focused alert, ? shows or hides the help.
(function () {
  "use strict";

  const announced = new Set();
  const pending = new Set();
  let listedBefore = null; // the alerts listed when the stream reconnected: any other after the refresh is new
  let refreshTimer = null;
  let lastFocused = null; // the alert whose row had the focus last, to give it back after a swap

  function titles() {
    return Array.from(document.querySelectorAll("#worklist a.alert-title"));
  }

  function rowOf(element) {
    return element && element.closest ? element.closest(".alert-row") : null;
  }

  function rowById(id) {
    return titles().map(rowOf).find((row) => row && row.dataset.alertId === id) || null;
  }

  function refresh() {
    refreshTimer = null;
    htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#worklist", swap: "outerHTML" });
  }

  function schedule() {
    if (refreshTimer === null) {
      refreshTimer = window.setTimeout(refresh, 200);
    }
  }

  function listedIds() {
    return titles().map((title) => rowOf(title)?.dataset.alertId).filter(Boolean);
  }

  function announce() {
    if (listedBefore !== null) {
      listedIds().filter((id) => !listedBefore.has(id)).forEach((id) => pending.add(id));
      listedBefore = null;
    }
    const texts = [];
    pending.forEach((id) => {
      const row = rowById(id);
      if (row && !announced.has(id)) {
        announced.add(id);
        texts.push(row.dataset.announce);
      }
    });
    pending.clear();
    if (texts.length) {
      const region = document.getElementById("announcer");
      region.textContent = texts.join(" ");
    }
  }

  function listen(list) {
    TryggheimLive.follow(list.dataset.events, (name, id) => {
      if (name === "opened") {
        pending.add(id);
      } else if (name === "reconnected") {
        listedBefore = new Set(listedIds());
      }
      schedule();
    });
  }

  function move(step) {
    const all = titles();
    if (!all.length) {
      return false;
    }
    const current = all.indexOf(rowOf(document.activeElement)?.querySelector("a.alert-title"));
    const next = current < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(current + step, 0), all.length - 1);
    all[next].focus();
    all[next].scrollIntoView({ block: "nearest" });
    return true;
  }

  function acknowledge() {
    const form = rowOf(document.activeElement)?.querySelector("form.acknowledge");
    if (!form) {
      return false;
    }
    form.requestSubmit();
    return true;
  }

  function toggleHelp() {
    const help = document.getElementById("shortcuts");
    help.open = !help.open;
    return true;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    if (event.target.closest("input, select, textarea, [contenteditable]")) {
      return;
    }
    const actions = {
      j: () => move(1),
      ArrowDown: () => move(1),
      k: () => move(-1),
      ArrowUp: () => move(-1),
      a: acknowledge,
      "?": toggleHelp,
    };
    const action = actions[event.key];
    if (action && action()) {
      event.preventDefault();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("worklist");
    if (!list) {
      return;
    }
    document.addEventListener("keydown", onKey);
    document.addEventListener("focusin", (event) => {
      lastFocused = rowOf(event.target)?.dataset.alertId || null;
    });
    document.body.addEventListener("htmx:afterSettle", () => {
      announce();
      // A swap removes the focused element; the focus goes back to the same alert's row, if it is still listed.
      const lost = !document.activeElement || document.activeElement === document.body;
      const row = lost && lastFocused && rowById(lastFocused);
      if (row) {
        row.querySelector("a.alert-title").focus();
      }
    });
    listen(list);
  });
})();
