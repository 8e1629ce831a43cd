// The live progress bar of a planned or running change-set's admin page: polls the progress
// view (the bar's data-url) every second and reloads the page once the state is final. A file,
// not an inline script: the Content-Security-Policy runs scripts from this site only.
(function () {
  "use strict";
  var bar = document.getElementById("change-set-progress");
  if (!bar) {
    return;
  }
  var text = document.getElementById("change-set-progress-text");

  function poll() {
    fetch(bar.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("progress: HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        bar.value = data.progress;
        bar.dataset.state = data.state;
        text.textContent = data.state + ": " + (data.counts.customers || 0) + " of " +
          (data.total || 0) + " customers";
        if (data.final) {
          window.location.replace(window.location.href);
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 5000); // the server is away for a moment: try again later
      });
  }

  window.setTimeout(poll, 1000);
})();
