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
