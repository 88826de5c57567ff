// The import page: sends the chosen CSV file as the request body (text/csv), shows the
// upload's progress, then the import's, following a queued import until it ends.
(function () {
  "use strict";
  const form = document.getElementById("import-form");
  if (!form) return;
  const bar = document.getElementById("import-bar");
  const status = document.getElementById("import-status");
  const errors = document.getElementById("import-errors");
  const box = document.getElementById("import-progress");
  const button = document.getElementById("import-start");
  const csrf = form.dataset.csrf;

  function say(text) { status.textContent = text; }

  function show(report) {
    if (report.rows) {
      bar.max = report.rows;
      bar.value = report.processed;
    }
    const counts = `${report.added} added, ${report.duplicate} already listed, ${report.invalid} invalid`;
    if (report.status === "done") {
      bar.max = 1; bar.value = 1;
      say(`Import finished: ${report.processed} rows: ${counts}.`);
    } else if (report.status === "failed") {
      say(`Import failed: ${report.failure || "see the server's log"}. ${counts}.`);
    } else {
      say(`Importing: ${report.processed} of ${report.rows || "?"} rows: ${counts}.`);
    }
    errors.replaceChildren();
    for (const error of report.errors || []) {
      const item = document.createElement("li");
      item.textContent = `line ${error.line}: ${error.error}`;
      errors.appendChild(item);
    }
  }

  async function follow(importId) {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const response = await fetch(`/console/api/imports/${encodeURIComponent(importId)}`, {
        credentials: "same-origin",
      });
      const body = await response.json();
      if (!body.status) { say(`Could not follow the import: ${body.errorMessage}`); return; }
      show(body.data);
      if (body.data.status === "done" || body.data.status === "failed") return;
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const file = document.getElementById("import-file").files[0];
    if (!file) { say("Choose a CSV file first."); return; }
    const listId = document.getElementById("import-list").value;
    box.hidden = false;
    button.disabled = true;
    bar.removeAttribute("value");
    say(`Uploading ${file.name}…`);
    const request = new XMLHttpRequest();
    request.open("POST", `/console/api/import?listId=${encodeURIComponent(listId)}`);
    request.setRequestHeader("Content-Type", "text/csv");
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable) {
        bar.max = progress.total; bar.value = progress.loaded;
        say(`Uploading ${file.name}: ${Math.round((100 * progress.loaded) / progress.total)}%`);
      }
    });
    request.addEventListener("load", function () {
      button.disabled = false;
      let body;
      try { body = JSON.parse(request.responseText); } catch (e) { say("The server's answer was not readable."); return; }
      if (!body.status) { say(`Import refused: ${body.errorMessage}`); return; }
      show(body.data);
      if (request.status === 202) follow(body.data.importId);
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      say("The upload failed: the connection to the service was lost.");
    });
    request.send(file);
  });
})();
