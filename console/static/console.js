// steward console: the little htmx does not cover. Loaded as a file, since
// the Content-Security-Policy allows no inline script; every page works
// without it.

// A rollout slider shows its value as it moves (data-output names the
// <output> element).
document.addEventListener("input", function (e) {
  var t = e.target;
  if (!t.matches || !t.matches('input[type="range"][data-output]')) return;
  var out = document.getElementById(t.getAttribute("data-output"));
  if (out) out.textContent = t.value + " %";
});

// A running restore's page (data-events names its event stream) follows
// the restore's progress as server-sent events and loads the report once
// it ends. Without EventSource, or when the stream fails for good, the
// page reloads itself, as it does without JavaScript.
(function () {
  var job = document.querySelector("[data-events]");
  if (!job) return;
  var reload = function () { window.setTimeout(function () { window.location.reload(); }, 2000); };
  if (!window.EventSource) { reload(); return; }
  var bar = job.querySelector("progress");
  var text = job.querySelector('[data-testid="restore-progress"]');
  var src = new EventSource(job.getAttribute("data-events"));
  src.addEventListener("progress", function (e) {
    var p = JSON.parse(e.data);
    bar.value = p.percent;
    bar.textContent = p.percent + " %";
    text.textContent = p.text;
    job.setAttribute("data-files-done", String(p.files_done));
  });
  src.addEventListener("done", function (e) {
    src.close();
    window.location.replace(JSON.parse(e.data).url);
  });
  src.addEventListener("error", function () {
    if (src.readyState === EventSource.CLOSED) reload();
  });
})();
