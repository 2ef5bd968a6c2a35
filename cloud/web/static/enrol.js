// The enrolment page's script. The QR code opens /enrol#code=...: the code is in the fragment, which the browser
// never sends to a server. This keeps it in the tab's session storage and goes on to /enrol/code (which needs a
// sign-in; a signed-out installer comes back there after signing in), where the form is filled in and sent.
// On the page of a confirmed code it fills the code into the gateway's command. The page works without this
// file: the installer types the code.
(function () {
  "use strict";

  // PENDING: scanned, not yet sent (sent once, then forgotten); SENT: for the gateway's command.
  const PENDING = "tryggheim-enrolment-pending";
  const SENT = "tryggheim-enrolment-code";

  function remember(key, code) {
    try {
      if (code === null) {
        window.sessionStorage.removeItem(key);
      } else {
        window.sessionStorage.setItem(key, code);
      }
    } catch (ignored) {
      // Storage may be off (private mode): the installer types the code instead.
    }
  }

  function recalled(key) {
    try {
      return window.sessionStorage.getItem(key);
    } catch (ignored) {
      return null;
    }
  }

  const match = /(?:^#|&)code=([^&]+)/.exec(window.location.hash);
  if (match && window.location.pathname === "/enrol") {
    remember(PENDING, decodeURIComponent(match[1]));
    window.location.replace("/enrol/code");
    return;
  }
  const form = document.getElementById("enrol-code-form");
  const pending = recalled(PENDING);
  if (form && pending) {
    remember(PENDING, null);
    remember(SENT, pending);
    form.elements.code.value = pending;
    form.requestSubmit();
    return;
  }
  const slot = document.querySelector("[data-code-slot]");
  const sent = recalled(SENT);
  if (slot && sent) {
    slot.textContent = sent;
  }
  document.documentElement.dataset.live = "ready";
})();
