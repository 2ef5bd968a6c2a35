// The fleet pages refresh themselves with htmx (hx-trigger "every ..." in the page): this file only says that
// the page is ready for live updates, as the other live pages do (html[data-live=ready]).
(function () {
  "use strict";
  document.documentElement.dataset.live = "ready";
})();
