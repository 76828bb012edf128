// The session's time-outs, told before they end (WCAG 2.2.1 "Timing adjustable"): a
// warning some minutes before the idle or the absolute time-out, with "Rester connecté"
// for the idle one; typing in a form counts as being there. Progressive enhancement: the
// server enforces both time-outs whatever this script does.
(function () {
  "use strict";
  var box = document.getElementById("session-limite");
  var token = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (!box || !token || !window.fetch) { return; }
  var lead = Number(box.getAttribute("data-lead")) * 1000;
  var keepAlive = box.getAttribute("data-keepalive");
  var login = box.getAttribute("data-login");
  var idleEnd = 0, absoluteEnd = 0, timer = null, lastPing = Date.now(), over = false;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(ms) { var d = new Date(ms); return pad(d.getHours()) + ":" + pad(d.getMinutes()); }
  function say(nodes) {
    box.textContent = "";
    nodes.forEach(function (node) {
      box.appendChild(typeof node === "string" ? document.createTextNode(node) : node);
    });
  }
  // The tabs of one browser share one session: each tells the others (localStorage)
  // the deadlines it learnt, so that a tab left open does not warn, or say the session
  // ended, while the user is active in another one. Only instants are stored.
  var SHARED = "concerto-session-limits";
  function shared() {
    try { return JSON.parse(window.localStorage.getItem(SHARED) || "null"); } catch (e) { return null; }
  }
  function share() {
    try {
      window.localStorage.setItem(SHARED, JSON.stringify({ idle: idleEnd, absolute: absoluteEnd }));
    } catch (e) { /* (storage refused: each tab on its own) */ }
  }
  function adopt(limits) {
    // A later deadline means activity elsewhere (or a new login): it wins.
    if (!limits || !(limits.idle > idleEnd || limits.absolute > absoluteEnd)) { return false; }
    idleEnd = Math.max(idleEnd, limits.idle);
    absoluteEnd = Math.max(absoluteEnd, limits.absolute);
    return true;
  }
  function start(idle, absolute) {
    var now = Date.now();
    idleEnd = now + idle * 1000;
    absoluteEnd = now + absolute * 1000;
    adopt(shared());
    share();
    update();
  }
  window.addEventListener("storage", function (event) {
    if (event.key !== SHARED || !event.newValue) { return; }
    var limits;
    try { limits = JSON.parse(event.newValue); } catch (e) { return; }
    if (adopt(limits) && Date.now() < Math.min(idleEnd, absoluteEnd)) {
      over = false;
      update();
    }
  });
  function update() {
    clearTimeout(timer);
    if (over) { return; }
    var now = Date.now();
    var end = Math.min(idleEnd, absoluteEnd);
    if (now >= end) { ended(); return; }
    if (end - now > lead) {
      say([]);
      timer = setTimeout(update, end - lead - now + 50);
      return;
    }
    if (absoluteEnd <= idleEnd) {
      say(["Votre session atteindra sa durée maximale à " + clock(absoluteEnd) +
           " : enregistrez votre saisie, puis reconnectez-vous."]);
    } else {
      var stay = document.createElement("button");
      stay.type = "button";
      stay.textContent = "Rester connecté";
      stay.addEventListener("click", function () { ping(true); });
      say(["Sans activité de votre part, votre session se terminera à " + clock(idleEnd) + ".", stay]);
    }
    timer = setTimeout(update, end - now + 50);
  }
  function ended() {
    over = true;
    var link = document.createElement("a");
    link.href = login + "?next=" + encodeURIComponent(location.pathname);
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = "Se reconnecter dans un nouvel onglet";
    say(["Votre session a pris fin : ce que vous saisissez sur cette page ne pourra pas être " +
         "enregistré. ", link, " (puis copiez votre saisie, et rechargez cette page)."]);
  }
  function ping(asked) {
    var now = Date.now();
    // Typing: at most once a minute (sooner if the warning comes sooner); the button:
    // every time.
    if (over || (!asked && now - lastPing < Math.min(60000, lead / 4))) { return; }
    lastPing = now;
    fetch(keepAlive, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-CSRFToken": token.value, "Accept": "application/json" }
    }).then(function (response) {
      if (response.type === "opaqueredirect" || response.status === 302) { ended(); return null; }
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (left) {
      if (left) { start(left.idle, left.absolute); }
    }).catch(function () {
      if (asked) { say(["La session n'a pas pu être prolongée (serveur injoignable) : réessayez."]); }
    });
  }

  document.addEventListener("input", function () { ping(false); });
  start(Number(box.getAttribute("data-idle")), Number(box.getAttribute("data-absolute")));
})();
