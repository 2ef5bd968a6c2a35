// Following the worklist's event stream (/api/v1/worklist/events), for every page that shows alerts live.
// The stream names what changed (an event name and the alert's id, never a name or a value); the page decides
// what to fetch again. When the session ends (sign-out, revoked, deactivated) the page reloads, which sends the
// person to sign-in; but not while the person is signing out here: the sign-out ends the stream too, and a
// reload then would cancel the way out through the identity provider's sign-out page.
// `html[data-live=ready]` says the stream is open. The stream does not replay what happened while it was down (a
// restarted server, a network drop; the browser reconnects by itself), so a reconnect is told to the page as the
// change "reconnected": it fetches its list again, and announces what is new in it.
(function () {
  "use strict";

  let signingOut = false;
  document.addEventListener("submit", (event) => {
    if (event.target instanceof HTMLFormElement && event.target.matches("form.sign-out")) {
      signingOut = true;
    }
  }, true);

  const EVENTS = ["opened", "severity_changed", "notified", "escalated", "acknowledged", "snoozed", "resolved",
    "commented", "outcome", "evidence_added", "repeated"];

  window.TryggheimLive = {
    follow(url, onChange) {
      const source = new EventSource(url);
      let opened = false;
      source.addEventListener("ready", () => {
        document.documentElement.dataset.live = "ready";
        if (opened) {
          onChange("reconnected", "");
        }
        opened = true;
      });
      EVENTS.forEach((name) => {
        source.addEventListener(name, (event) => onChange(name, String(event.lastEventId)));
      });
      source.addEventListener("ended", () => {
        source.close();
        if (!signingOut) {
          window.location.reload();
        }
      });
      return source;
    },
  };
})();
