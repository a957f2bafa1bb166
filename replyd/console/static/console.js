// replyd console: live updates. Every page works without this script; with it, the part of
// a page marked data-live-src is fetched again whenever the server's event stream says that
// something it shows has changed, and times are shown in the reader's own time zone.
(function () {
  "use strict";

  function localTimes(root) {
    Array.prototype.forEach.call(root.querySelectorAll("time[datetime]"), function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        node.title = node.textContent;
        node.textContent = when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }
  localTimes(document);

  var live = document.querySelector("[data-live-src]");
  var status = document.querySelector("[data-live-status]");
  if (!live || !window.EventSource || !window.fetch) {
    return;
  }
  var conversation = live.getAttribute("data-conversation");
  var since = document.body.getAttribute("data-activity") || "";
  var busy = false;
  var again = false;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
  }

  function replace(html) {
    var open = Array.prototype.map.call(live.querySelectorAll("details[open][id]"), function (d) {
      return d.id;
    });
    live.innerHTML = html;
    open.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) {
        details.open = true;
      }
    });
    localTimes(live);
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    var stick = conversation && nearBottom();
    fetch(live.getAttribute("data-live-src"), {
      headers: { "X-Console-Fragment": "1" },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) {
        window.location.assign("/console/sign-in?next=" + encodeURIComponent(window.location.pathname));
        return null;
      }
      if (response.status === 404) {
        say("This conversation was erased.");
        return null;
      }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (typeof html === "string") {
        replace(html);
        say("Live · updated " + new Date().toLocaleTimeString());
        if (stick) {
          window.scrollTo(0, document.body.scrollHeight);
        }
      }
    }).catch(function () {
      say("Live updates paused: the server did not answer.");
    }).then(function () {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    });
  }

  var source = new EventSource("/console/events?since=" + encodeURIComponent(since));
  source.addEventListener("hello", function () {
    say("Live");
    document.body.setAttribute("data-live", "on");
  });
  source.addEventListener("change", function (event) {
    var change = JSON.parse(event.data);
    if (!conversation || change.all || change.conversations.indexOf(conversation) !== -1) {
      refresh();
    }
  });
  source.addEventListener("signed-out", function () {
    source.close();
    window.location.assign("/console/sign-in");
  });
  source.onerror = function () {
    document.body.removeAttribute("data-live");
    say(source.readyState === EventSource.CLOSED ? "Live updates stopped; reload the page." : "Reconnecting…");
  };
})();
