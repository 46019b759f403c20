// Pasarela desk: keyboard shortcuts and page zoom on the review page.
// Everything works without it; it only saves keystrokes.
(function () {
  "use strict";
  var pages = document.getElementById("pages");
  var zoom = 1;
  function setZoom(z) {
    zoom = Math.min(4, Math.max(0.4, z));
    if (pages) { pages.style.setProperty("--zoom", String(zoom)); }
  }
  if (pages) {
    pages.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-zoom]");
      if (!b) { return; }
      var d = Number(b.getAttribute("data-zoom"));
      setZoom(d === 0 ? 1 : zoom * (d > 0 ? 1.25 : 0.8));
    });
  }
  function typing(t) {
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) { return; }
    var el;
    switch (e.key) {
      case "a":
        el = document.getElementById("approve");
        if (el) { e.preventDefault(); el.click(); }
        break;
      case "r":
        el = document.getElementById("reject-reason");
        if (el) { e.preventDefault(); el.focus(); }
        break;
      case "n":
        el = document.getElementById("next");
        if (el) { e.preventDefault(); window.location.href = el.getAttribute("href"); }
        break;
      case "+":
        setZoom(zoom * 1.25);
        break;
      case "-":
        setZoom(zoom * 0.8);
        break;
      case "0":
        setZoom(1);
        break;
    }
  });
})();
