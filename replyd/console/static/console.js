// replyd console: live updates and the inbox. Every page works without this script; with it,
// the parts of a page marked data-live-src (the conversation list, the open conversation) are
// fetched again whenever the server's event stream says that something they show has changed;
// a conversation opened from the list is swapped in beside it, with no page load; times read
// as relative ones ("5 minutes ago", the exact local time on hover), and the tab's title and
// the navigation count the conversations waiting for a human (with a short beep and a browser
// notification when there are more, if the operator turned them on).
(function () {
  "use strict";

  var RELATIVE = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
  var relative = new Intl.RelativeTimeFormat([], { numeric: "auto" });

  function ago(when) {
    var seconds = (when.getTime() - Date.now()) / 1000;
    for (var i = 0; i < RELATIVE.length; i++) {
      if (Math.abs(seconds) >= RELATIVE[i][1]) {
        return relative.format(Math.round(seconds / RELATIVE[i][1]), RELATIVE[i][0]);
      }
    }
    return relative.format(0, "second");
  }

  function localTimes(root) {
    Array.prototype.forEach.call(root.querySelectorAll("time[datetime]"), function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        node.title = when.toLocaleString([], { dateStyle: "full", timeStyle: "medium" });
        node.textContent = ago(when);
      }
    });
  }
  localTimes(document);
  window.setInterval(function () { localTimes(document); }, 30000);

  // A form sent back with problems: the first field to fix has the focus (its message is read with it).
  var firstProblem = document.querySelector("[aria-invalid='true']");
  if (firstProblem) {
    firstProblem.focus();
  }

  var SOUND_KEY = "replyd-console-sound";
  var NOTIFY_KEY = "replyd-console-notify";
  var counter = document.querySelector("[data-needs-human]");
  var waiting = counter ? parseInt(counter.getAttribute("data-needs-human"), 10) || 0 : 0;
  var title = document.title.replace(/^\(\d+\) /, "");
  var audio = null;

  function storage() {
    try {
      return window.localStorage; // reading it throws where the reader blocked site data
    } catch (e) {
      return null;
    }
  }

  function soundIsOn() {
    var store = storage();
    return Boolean(store) && store.getItem(SOUND_KEY) === "on";
  }

  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) {
      audio = new Context();
    }
    return audio;
  }

  function beep() {
    var context = audioContext();
    if (!context) {
      return;
    }
    context.resume();
    var tone = context.createOscillator();
    var volume = context.createGain();
    var now = context.currentTime;
    tone.frequency.value = 880;
    volume.gain.setValueAtTime(0.15, now);
    volume.gain.exponentialRampToValueAtTime(0.001, now + 0.25);
    tone.connect(volume);
    volume.connect(context.destination);
    tone.start(now);
    tone.stop(now + 0.25);
  }

  // A browser notification, shown even while another tab or program is in front; a click on it
  // opens the conversations that need a human.
  function notificationsAreOn() {
    var store = storage();
    return Boolean(store) && store.getItem(NOTIFY_KEY) === "on" && Boolean(window.Notification) &&
      window.Notification.permission === "granted";
  }

  function notify(count) {
    var notice = new window.Notification("A conversation needs a human", {
      body: count + (count === 1 ? " conversation is" : " conversations are") + " waiting for a human.",
      tag: "replyd-needs-human"
    });
    notice.onclick = function () {
      window.focus();
      window.location.href = "/console/conversations?needs_human=1";
    };
  }

  function showWaiting(count) {
    if (typeof count !== "number") {
      return;
    }
    if (count > waiting && soundIsOn()) {
      beep();
    }
    if (count > waiting && notificationsAreOn()) {
      notify(count);
    }
    waiting = count;
    document.title = count > 0 ? "(" + count + ") " + title : title;
    if (counter) {
      counter.hidden = count === 0;
      counter.querySelector("[data-count]").textContent = String(count);
    }
  }

  // A check box the browser remembers (where it keeps site data); ``turnOn`` decides whether
  // ticking it takes (and does what that needs), by calling back with true or false.
  function rememberedToggle(selector, key, isOn, turnOn) {
    var toggle = document.querySelector(selector);
    if (!toggle || !storage()) {
      return;
    }
    var box = toggle.querySelector("input");
    box.checked = isOn();
    toggle.hidden = false;
    box.addEventListener("change", function () {
      if (!box.checked) {
        storage().setItem(key, "off");
        return;
      }
      turnOn(function (taken) {
        storage().setItem(key, taken ? "on" : "off");
        box.checked = taken;
      });
    });
  }

  rememberedToggle("[data-sound-toggle]", SOUND_KEY, soundIsOn, function (done) {
    done(true);
    beep(); // so the operator hears what it sounds like; a click also lets the page play sound
  });
  if (window.Notification) {
    rememberedToggle("[data-notify-toggle]", NOTIFY_KEY, notificationsAreOn, function (done) {
      window.Notification.requestPermission().then(function (permission) { done(permission === "granted"); });
    });
  }
  // Browsers let a page play sound only after the reader did something on it.
  function unlockAudio() {
    var context = soundIsOn() ? audioContext() : null;
    if (context) {
      context.resume();
    }
  }
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });

  // While an operator writes an answer, the customer's open chat widget shows that an agent is
  // typing: told at most every 2 seconds (the widget shows it for 6). Listened for on the
  // document, as the composer comes and goes with the conversation shown beside the list.
  var toldAt = 0;
  document.addEventListener("input", function (event) {
    var composer = event.target.closest("form[data-typing]");
    if (!composer || !window.fetch || Date.now() - toldAt < 2000) {
      return;
    }
    toldAt = Date.now();
    var body = new URLSearchParams({ csrf_token: composer.elements.csrf_token.value });
    fetch(composer.getAttribute("data-typing"), { method: "POST", body: body }).catch(function () {});
  });

  // A canned reply picked goes into the answer field (where the cursor is), to edit before sending.
  document.addEventListener("change", function (event) {
    var canned = event.target;
    if (!canned.matches("select[data-canned]")) {
      return;
    }
    var field = canned.form.elements.message;
    field.setRangeText(canned.value, field.selectionStart, field.selectionEnd, "end");
    canned.value = "";
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // Keyboard: "/" searches; on the list, j and k move between conversations and Enter opens
  // one (a link's own key); on a conversation, t takes over and r releases; Ctrl+Enter sends
  // the message being written. Keys typed into a field stay the field's.
  function isTyping(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function press(selector) {
    var button = document.querySelector(selector);
    if (button) {
      button.click();
    }
  }

  function moveInList(step) {
    var rows = Array.prototype.slice.call(document.querySelectorAll(".conversation-row"));
    if (rows.length) {
      var at = rows.indexOf(document.activeElement);
      rows[Math.max(0, Math.min(rows.length - 1, at === -1 ? 0 : at + step))].focus();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.matches("textarea")) {
      event.preventDefault();
      event.target.form.requestSubmit();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) {
      return;
    }
    var keys = {
      "/": function () { var search = document.querySelector("input[type=search]"); if (search) { search.focus(); } },
      j: function () { moveInList(1); },
      k: function () { moveInList(-1); },
      t: function () { press("form[action$='/take-over'] button"); },
      r: function () { press("form[action$='/hand-back'] button"); }
    };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
    }
  });

  // A conversation opens at its newest message, the composer below it in view (its labels and
  // notes come after, a scroll further down).
  function composerInView() {
    var composer = document.getElementById("composer");
    if (composer) {
      composer.scrollIntoView({ block: "end" });
    }
  }
  if (!window.location.hash) {
    composerInView();
  }

  // The parts of the page that live updates fetch again: the list, and the open conversation
  // (both on the conversations' pages; the pane's is replaced when another one opens).
  function listRegion() {
    return window.fetch ? document.querySelector("[data-live-src][data-list]") : null;
  }

  function paneRegion() {
    return window.fetch ? document.querySelector("[data-live-src][data-conversation]") : null;
  }

  var status = document.querySelector("[data-live-status]");

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function fragment(url) {
    return fetch(url, { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin", cache: "no-store" });
  }

  // A long conversation shows its latest messages; the earlier ones load as the operator
  // scrolls up to them, a page at a time, and the view stays on the message it was on. Once
  // some are loaded, ``earlier`` holds the cursor to those before them ("" when none are left)
  // and a live refresh keeps them (``keepEarlier``); another conversation opened starts afresh.
  var earlier = null;
  var loadingEarlier = false;
  var watcher = window.fetch && window.IntersectionObserver
    ? new IntersectionObserver(function (entries) {
      if (entries.some(function (entry) { return entry.isIntersecting; })) {
        loadEarlier();
      }
    }, { rootMargin: "300px 0px 0px 0px" })
    : null;

  function watchEarlier() {
    var live = paneRegion();
    var link = live && live.querySelector("[data-earlier]");
    if (watcher) {
      watcher.disconnect();
      if (link) {
        watcher.observe(link); // reports at once whether it is in view, then on every change
      }
    }
  }

  function messageId(item) {
    return parseInt(item.id.replace("message-", ""), 10);
  }

  function showEarlier(live) {
    var link = live.querySelector("[data-earlier]");
    if (!link || earlier === null) {
      return;
    }
    if (earlier) {
      link.setAttribute("data-earlier", earlier);
      link.href = window.location.pathname + "?older=" + encodeURIComponent(earlier);
    } else {
      link.remove();
    }
  }

  function loadEarlier() {
    var live = paneRegion();
    var link = live && live.querySelector("[data-earlier]");
    if (loadingEarlier || !link) {
      return;
    }
    loadingEarlier = true;
    var list = live.querySelector(".messages");
    var anchor = list.firstElementChild;
    var anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
    var path = "/console/conversations/" + live.getAttribute("data-conversation") + "/earlier?cursor=";
    var rewatch = false;
    fragment(path + encodeURIComponent(link.getAttribute("data-earlier"))).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (typeof html !== "string") {
        throw new Error("no earlier messages");
      }
      list = live.querySelector(".messages");
      rewatch = true; // loaded, or to ask again: a live refresh may have replaced the page meanwhile
      if (!anchor || !live.isConnected || !list.contains(anchor)) {
        return;
      }
      var page = document.createElement("div");
      page.innerHTML = html;
      var older = page.querySelector(".messages");
      list.prepend.apply(list, Array.prototype.slice.call(older.children));
      localTimes(list);
      earlier = older.getAttribute("data-earlier") || "";
      showEarlier(live);
      window.scrollBy(0, anchor.getBoundingClientRect().top - anchorTop);
    }).catch(function () {
      say("Could not load the earlier messages; scroll up to try again.");
    }).then(function () {
      loadingEarlier = false;
      if (rewatch) {
        watchEarlier(); // the link may still be in view: then the next page comes at once
      }
    });
  }

  // After a live refresh: the earlier messages loaded before it go back above the latest ones.
  function keepEarlier(live, kept) {
    var list = live.querySelector(".messages");
    if (earlier === null || !list) {
      return;
    }
    var first = list.firstElementChild;
    var firstId = first ? messageId(first) : Infinity;
    list.prepend.apply(list, kept.filter(function (item) { return messageId(item) < firstId; }));
    showEarlier(live);
  }

  if (watcher) {
    document.addEventListener("click", function (event) {
      if (event.target.closest("[data-live-src] [data-earlier]")) {
        event.preventDefault();
        loadEarlier();
      }
    });
    watchEarlier();
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
  }

  // What had the focus inside the part that is replaced, found again by its id, or by its
  // form's action and its text (a button), so that the focus stays where the operator was.
  function focusKey(region, element) {
    if (!region.contains(element)) {
      return null;
    }
    var form = element.closest("form");
    return { id: element.id, action: form && form.getAttribute("action"), text: element.textContent };
  }

  function refocus(region, key) {
    var found = key.id ? document.getElementById(key.id) : null;
    if (!found && key.action) {
      found = Array.prototype.find.call(region.querySelectorAll("form button"), function (button) {
        return button.form.getAttribute("action") === key.action && button.textContent === key.text;
      });
    }
    if (found) {
      found.focus();
    }
  }

  // A fragment's parts marked data-live-part (a conversation's notes) go in place of the
  // page's parts of that name, outside the region, where a note being written is left alone.
  function replace(region, html) {
    var open = Array.prototype.map.call(region.querySelectorAll("details[open][id]"), function (d) {
      return d.id;
    });
    var focused = focusKey(region, document.activeElement);
    var kept = Array.prototype.slice.call(region.querySelectorAll(".messages > li"));
    var fresh = document.createElement("div");
    fresh.innerHTML = html;
    Array.prototype.forEach.call(fresh.querySelectorAll("[data-live-part]"), function (part) {
      var slot = document.querySelector("[data-live-part='" + part.getAttribute("data-live-part") + "']");
      part.remove();
      if (slot) {
        slot.replaceWith(part);
        localTimes(part);
      }
    });
    region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes));
    if (region.hasAttribute("data-conversation")) {
      keepEarlier(region, kept);
      watchEarlier();
    }
    open.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) {
        details.open = true;
      }
    });
    localTimes(region);
    if (focused) {
      refocus(region, focused);
    }
  }

  // Fetch the region again; ``then`` runs once it is redrawn (a refresh asked for meanwhile
  // runs first: the fetch in flight may have missed what it was asked for).
  function refresh(region, then) {
    region.liveThen = (region.liveThen || []).concat(then ? [then] : []);
    if (region.liveBusy) {
      region.liveAgain = true;
      return;
    }
    region.liveBusy = true;
    var stick = region.hasAttribute("data-conversation") && nearBottom();
    fragment(region.getAttribute("data-live-src")).then(function (response) {
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
      if (typeof html === "string" && region.isConnected) {
        replace(region, html);
        say("Live · updated " + new Date().toLocaleTimeString());
        if (stick) {
          window.scrollTo(0, document.body.scrollHeight);
        }
      }
    }).catch(function () {
      say("Live updates paused: the server did not answer.");
    }).then(function () {
      region.liveBusy = false;
      if (region.liveAgain) {
        region.liveAgain = false;
        refresh(region);
        return;
      }
      var waiting = region.liveThen;
      region.liveThen = [];
      waiting.forEach(function (next) { next(); });
    });
  }

  // The inbox: a conversation opened from the list (a click, or Enter on a row) is fetched
  // and shown beside it, the address moved on (history.pushState) so that reloading shows the
  // same and Back goes back; the list is redrawn with its row marked (and read). Anything
  // that goes wrong falls back to loading the page.
  var inbox = window.fetch && window.history.pushState ? document.querySelector("[data-inbox]") : null;
  var CONVERSATION_PATH = /^\/console\/conversations\/([0-9a-f-]{36})$/;
  var listScroll = 0;

  function markOpen(conversationId) {
    var list = listRegion();
    if (list) {
      var src = new URL(list.getAttribute("data-live-src"), window.location.origin);
      if (conversationId) {
        src.searchParams.set("open", conversationId);
      } else {
        src.searchParams.delete("open");
      }
      list.setAttribute("data-live-src", src.pathname + src.search);
      refresh(list);
    }
  }

  function named(name) {
    title = name + " · replyd console";
    showWaiting(waiting);
  }

  function showPane(html, conversationId) {
    var pane = inbox.querySelector("[data-pane]");
    if (!inbox.classList.contains("inbox-open")) {
      listScroll = window.scrollY;
    }
    pane.innerHTML = html;
    inbox.classList.add("inbox-open");
    inbox.querySelector("[data-pane-empty]").hidden = true;
    earlier = null;
    localTimes(pane);
    watchEarlier();
    named(pane.querySelector("[data-title]").getAttribute("data-title"));
    composerInView();
    markOpen(conversationId);
  }

  function openConversation(url, push) {
    var conversationId = CONVERSATION_PATH.exec(url.pathname)[1];
    fragment("/console/conversations/" + conversationId + "/pane" + url.search).then(function (response) {
      if (!response.ok) {
        throw new Error("no pane");
      }
      return response.text();
    }).then(function (html) {
      if (push) {
        window.history.pushState(null, "", url.pathname + url.search);
      }
      showPane(html, conversationId);
    }).catch(function () {
      window.location.assign(url.href);
    });
  }

  function closePane(url, push) {
    if (push) {
      window.history.pushState(null, "", url.pathname + url.search);
    }
    inbox.classList.remove("inbox-open");
    inbox.querySelector("[data-pane]").replaceChildren();
    inbox.querySelector("[data-pane-empty]").hidden = false;
    watchEarlier();
    named("Conversations");
    markOpen("");
    window.scrollTo(0, listScroll);
  }

  function openConversationId() {
    var pane = paneRegion();
    return pane && inbox.classList.contains("inbox-open") ? pane.getAttribute("data-conversation") : "";
  }

  // The filter form says what the list shows: set from the address's query.
  function fillFilters(params) {
    var form = inbox.querySelector("form.filters");
    var clear = inbox.querySelector("[data-clear-filters]");
    if (clear) {
      clear.hidden = !Array.from(params.keys()).some(function (name) { return name !== "cursor"; });
    }
    Array.prototype.forEach.call(form ? form.elements : [], function (field) {
      if (!field.name) {
        return;
      }
      if (field.type === "checkbox") {
        field.checked = params.get(field.name) === field.value;
      } else {
        field.value = params.get(field.name) || "";
      }
    });
  }

  // A view or another page of the list (its links, and Back to them): the list is redrawn
  // for that query and the filters follow it, the open conversation staying beside it.
  function showList(url) {
    var list = listRegion();
    var src = new URL("/console/conversations/rows" + url.search, window.location.origin);
    var open = openConversationId();
    if (open) {
      src.searchParams.set("open", open);
    }
    list.setAttribute("data-live-src", src.pathname + src.search);
    fillFilters(url.searchParams);
    refresh(list);
  }

  function goToList(url) {
    var open = openConversationId();
    showList(url);
    if (open) {
      openConversation(new URL("/console/conversations/" + open + url.search, window.location.origin), true);
    } else {
      window.history.pushState(null, "", url.pathname + url.search);
    }
  }

  if (inbox) {
    document.addEventListener("click", function (event) {
      var link = event.target.closest("a.conversation-row, a[data-close-pane], [data-list] a");
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return; // a new tab or window, as the reader asked
      }
      var url = new URL(link.href);
      if (link.hasAttribute("data-close-pane")) {
        closePane(url, true);
      } else if (CONVERSATION_PATH.test(url.pathname)) {
        openConversation(url, true);
      } else if (url.pathname === "/console/conversations") {
        goToList(url); // a view, or the page before or after
      } else {
        return;
      }
      event.preventDefault();
    });
    window.addEventListener("popstate", function () {
      var url = new URL(window.location.href);
      if (CONVERSATION_PATH.test(url.pathname)) {
        showList(url);
        openConversation(url, false);
      } else if (url.pathname === "/console/conversations") {
        closePane(url, false);
        showList(url);
      } else {
        window.location.reload();
      }
    });
  }

  if (!counter || !window.EventSource) {
    return; // signed out: no navigation, no stream
  }
  var since = document.body.getAttribute("data-activity") || "";

  // A change redraws the list, and the open conversation if it changed: that first, since
  // seeing it marks it read, which the list then shows.
  var source = new EventSource("/console/events?since=" + encodeURIComponent(since));
  source.addEventListener("hello", function (event) {
    showWaiting(JSON.parse(event.data).needs_human);
    say("Live");
    document.body.setAttribute("data-live", "on");
  });
  source.addEventListener("change", function (event) {
    var change = JSON.parse(event.data);
    showWaiting(change.needs_human);
    var list = listRegion();
    var pane = paneRegion();
    var redrawList = list ? function () { refresh(list); } : null;
    if (pane && (change.all || change.conversations.indexOf(pane.getAttribute("data-conversation")) !== -1)) {
      refresh(pane, redrawList);
    } else if (redrawList) {
      redrawList();
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
