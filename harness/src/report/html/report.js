// hwconform HTML report: filters. The state lives in the URL fragment
// (#verdict=fail&status=not_covered&req=D1*,C2) so a filtered view can be linked to; a
// fragment without `=` is an ordinary anchor and is left alone.
(function () {
  "use strict";
  var verdict = document.getElementById("f-verdict");
  var status = document.getElementById("f-status");
  var req = document.getElementById("f-req");
  var count = document.getElementById("f-count");
  var scenarios = Array.prototype.slice.call(document.querySelectorAll("article.scenario"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.req"));

  // `D1*, C2 D3?` -> one regular expression per pattern; `*` any run, `?` one character.
  function patterns(text) {
    return text.split(/[\s,]+/).filter(Boolean).map(function (p) {
      var re = p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
      return new RegExp("^" + re + "$", "i");
    });
  }
  function matchesAny(ids, pats) {
    if (pats.length === 0) return true;
    return ids.some(function (id) { return pats.some(function (re) { return re.test(id); }); });
  }

  function apply() {
    var pats = patterns(req.value);
    var shown = 0;
    scenarios.forEach(function (s) {
      var ids = (s.getAttribute("data-reqs") || "").split(" ").filter(Boolean);
      var ok = (!verdict.value || s.getAttribute("data-verdict") === verdict.value) && matchesAny(ids, pats);
      s.hidden = !ok;
      if (ok) shown++;
    });
    var rowsShown = 0;
    rows.forEach(function (r) {
      var ok = (!status.value || r.getAttribute("data-status") === status.value) && matchesAny([r.getAttribute("data-id")], pats);
      r.hidden = !ok;
      if (ok) rowsShown++;
    });
    count.textContent = shown + " of " + scenarios.length + " scenarios, " + rowsShown + " of " + rows.length + " requirements shown";
  }

  function save() {
    var parts = [];
    if (verdict.value) parts.push("verdict=" + encodeURIComponent(verdict.value));
    if (status.value) parts.push("status=" + encodeURIComponent(status.value));
    if (req.value) parts.push("req=" + encodeURIComponent(req.value));
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search);
  }

  function decode(v) {
    try { return decodeURIComponent(v); } catch (e) { return v; }
  }

  function load() {
    var hash = location.hash.slice(1);
    if (hash.indexOf("=") < 0) return;
    // A fragment with state says all of it: what it leaves out is unfiltered.
    verdict.value = ""; status.value = ""; req.value = "";
    hash.split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i < 0) return;
      var k = kv.slice(0, i), v = decode(kv.slice(i + 1));
      if (k === "verdict") verdict.value = v;
      else if (k === "status") status.value = v;
      else if (k === "req") req.value = v;
    });
  }

  load();
  [verdict, status].forEach(function (el) { el.addEventListener("change", function () { apply(); save(); }); });
  req.addEventListener("input", function () { apply(); save(); });
  window.addEventListener("hashchange", function () { load(); apply(); });
  apply();
  document.body.setAttribute("data-js", "on");
})();

// Sequence charts: an arrow links to its frame in the wire log (each frame's JSON is in the
// page once); hovering it shows that entry's JSON, and following a link opens the closed
// wire log around its target.
(function () {
  "use strict";
  var tip = document.createElement("pre");
  tip.className = "frame-tip";
  tip.hidden = true;
  document.body.appendChild(tip);

  function target(a) {
    var href = a.getAttribute("href") || "";
    return href.charAt(0) === "#" ? document.getElementById(href.slice(1)) : null;
  }
  function place(ev) {
    var x = Math.min(ev.pageX + 14, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
    tip.style.left = Math.max(x, window.scrollX) + "px";
    tip.style.top = (ev.pageY + 14) + "px";
  }
  document.addEventListener("mouseover", function (ev) {
    var a = ev.target.closest ? ev.target.closest("figure.chart a") : null;
    var entry = a && target(a);
    var pre = entry && entry.querySelector("pre.frame");
    if (!pre) { tip.hidden = true; return; }
    tip.textContent = pre.textContent;
    tip.hidden = false;
    place(ev);
  });
  document.addEventListener("mousemove", function (ev) { if (!tip.hidden) place(ev); });

  function reveal() {
    var id = location.hash.slice(1);
    if (!id || id.indexOf("=") >= 0) return;
    var el = document.getElementById(id);
    for (var p = el && el.parentElement; p; p = p.parentElement) {
      if (p.tagName === "DETAILS") p.open = true;
    }
    if (el) el.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();
