/* The replyd chat widget: one script tag on any page.

   <script src="https://replyd.example.com/widget.js" data-key="wk_..." async></script>

   A launcher bubble and a chat panel, drawn in a shadow root so the page's CSS cannot reach
   them; the conversation is the visitor's across page loads (their visitor id is kept in
   localStorage), and new messages (the AI's, a human agent's) arrive live over Server-Sent
   Events. data-user-id and data-user-hash (the page's server signs the id) tie the visitor to
   the page's own user. With data-preview="ELEMENT_ID" it draws a preview into that element
   instead, themed from the form data-form names (the console's settings page). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src).origin;
  var key = script.getAttribute("data-key") || "";
  var STORE = "replyd-widget:" + key;
  var AGENT_TYPING_MS = 6000;  // how long an agent's typing shows after the console last told of it (it tells every 2 s)

  var CSS = [
    ":host{all:initial!important;position:fixed!important;z-index:2147483000!important;bottom:20px!important;display:block!important;",
    "font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif!important;color:#1f2933!important;visibility:visible!important;opacity:1!important}",
    ":host(.right){right:20px!important}:host(.left){left:20px!important}",
    ":host(.preview){position:absolute!important}:host(.preview) .panel{height:540px}",
    "*{box-sizing:border-box;margin:0;font:inherit;color:inherit}",
    "button,textarea{all:unset;box-sizing:border-box}",
    ".launcher{width:56px;height:56px;border-radius:50%;background:var(--accent);color:#fff;display:grid;place-items:center;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);position:relative}",
    ".launcher svg{width:28px;height:28px;fill:currentColor}",
    ".unread{position:absolute;top:2px;right:2px;width:14px;height:14px;border-radius:50%;background:#e11d48;border:2px solid #fff}",
    ".panel{position:absolute;bottom:72px;width:min(380px,calc(100vw - 40px));height:min(600px,calc(100vh - 120px));display:flex;flex-direction:column;",
    "background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);overflow:hidden}",
    ":host(.right) .panel{right:0}:host(.left) .panel{left:0}",
    "[hidden]{display:none!important}",
    "header{display:flex;align-items:center;gap:8px;padding:14px 16px;background:var(--accent);color:#fff}",
    "h2{flex:1;font-weight:600;font-size:16px}",
    ".close{width:32px;height:32px;border-radius:8px;display:grid;place-items:center;cursor:pointer;font-size:22px;line-height:1}",
    ".greeting{padding:12px 16px;background:#f5f7fa;border-bottom:1px solid #e4e7eb;font-size:14px}",
    "ol{list-style:none;padding:12px 16px;flex:1;overflow-y:auto;display:flex;flex-direction:column;gap:8px}",
    "li{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere;background:#eef1f4;align-self:flex-start}",
    "li.customer{align-self:flex-end;background:var(--accent);color:#fff}li.sending{opacity:.6}",
    "li .who{display:block;font-size:12px;font-weight:600;color:#52606d}",
    ".typing{padding:0 16px 6px;font-size:13px;color:#52606d}",
    ".error{padding:6px 16px;font-size:13px;color:#b91c1c}",
    "form{display:flex;gap:8px;padding:10px 12px;border-top:1px solid #e4e7eb}",
    "textarea{flex:1;min-height:40px;max-height:120px;padding:9px 10px;border:1px solid #cbd2d9;border-radius:10px;background:#fff;white-space:pre-wrap;cursor:text}",
    ".send{padding:0 14px;border-radius:10px;background:var(--accent);color:#fff;font-weight:600;cursor:pointer;display:grid;place-items:center}",
    ":focus-visible{outline:3px solid #f59e0b!important;outline-offset:2px}",
    ".label{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:480px){:host(:not(.preview)) .panel.open-panel{position:fixed;inset:0;width:auto;height:auto;bottom:0;border-radius:0}}",
  ].join("");
  var ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs) node.setAttribute(name, attrs[name]);
    if (text) node.textContent = text;
    return node;
  }

  function api(method, path, body, visitor) {
    var headers = { "Content-Type": "application/json" };
    if (visitor) headers["X-Replyd-Visitor"] = visitor;
    return fetch(base + "/widget/" + encodeURIComponent(key) + path, {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined, credentials: "omit",
    }).then(function (answer) {
      return answer.json().catch(function () { return {}; }).then(function (data) {
        if (!answer.ok) throw { status: answer.status, message: data.error };
        return data;
      });
    });
  }

  /* The launcher and the panel in a shadow root of a host element of their own. */
  function Widget(host, look, preview) {
    var self = this;
    var root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", {}, CSS));
    }
    this.host = host;
    this.preview = preview;
    this.launcher = el("button", { "class": "launcher", type: "button", "aria-expanded": "false", "aria-controls": "replyd-panel" });
    this.launcher.innerHTML = ICON;
    this.unread = el("span", { "class": "unread", hidden: "" });
    this.launcher.appendChild(this.unread);
    this.panel = el("div", { "class": "panel", id: "replyd-panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "replyd-title", hidden: "" });
    var header = el("header");
    this.title = el("h2", { id: "replyd-title" });
    this.closer = el("button", { "class": "close", type: "button" }, "×");
    header.append(this.title, this.closer);
    this.greeting = el("p", { "class": "greeting" });
    this.list = el("ol", { role: "log", "aria-live": "polite" });
    this.typing = el("p", { "class": "typing", role: "status", hidden: "" });
    this.error = el("p", { "class": "error", role: "alert", hidden: "" });
    this.form = el("form");
    this.label = el("label", { "class": "label", "for": "replyd-input" });
    this.input = el("textarea", { id: "replyd-input", rows: "1" });
    this.sendButton = el("button", { "class": "send", type: "submit" });
    this.form.append(this.label, this.input, this.sendButton);
    this.panel.append(header, this.greeting, this.list, this.typing, this.error, this.form);
    root.append(this.panel, this.launcher);
    this.theme(look);

    this.launcher.addEventListener("click", function () { self.toggle(); });
    this.closer.addEventListener("click", function () { self.toggle(false); });
    this.panel.addEventListener("keydown", function (event) { self.onKey(event); });
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); self.form.requestSubmit(); }
    });
    this.form.addEventListener("submit", function (event) { event.preventDefault(); self.submit(); });
  }

  Widget.prototype.theme = function (look) {
    var words = look.strings;
    this.look = look;
    this.host.className = look.position + (this.preview ? " preview" : "");
    this.host.style.setProperty("--accent", look.color);
    this.launcher.setAttribute("aria-label", words.open);
    this.closer.setAttribute("aria-label", words.close);
    this.title.textContent = look.title;
    this.greeting.textContent = look.greeting;
    this.greeting.hidden = !look.greeting;
    this.label.textContent = words.placeholder;
    this.input.setAttribute("placeholder", words.placeholder);
    this.sendButton.textContent = words.send;
  };

  /* "Typing…" while the AI answers; a human agent's typing for a few seconds after each sign of it. */
  Widget.prototype.showTyping = function (typing) {
    var self = this;
    clearTimeout(this.agentTyping);
    this.typing.textContent = this.look.strings[typing.by === "agent" ? "agent_typing" : "typing"];
    this.typing.hidden = !typing.typing;
    if (typing.by === "agent") {
      this.agentTyping = setTimeout(function () { self.typing.hidden = true; }, AGENT_TYPING_MS);
    }
  };

  Widget.prototype.toggle = function (open) {
    var isOpen = open === undefined ? this.panel.hidden : open;
    this.panel.hidden = !isOpen;
    this.panel.classList.toggle("open-panel", isOpen);
    this.launcher.setAttribute("aria-expanded", String(isOpen));
    this.launcher.hidden = isOpen && window.matchMedia("(max-width: 480px)").matches && !this.preview;
    if (isOpen) {
      this.unread.hidden = true;
      if (this.onOpen) this.onOpen();
      this.input.focus();
    } else {
      this.launcher.focus();
    }
  };

  /* Escape closes; Tab stays within the open panel (a focus trap, as for any modal dialog). */
  Widget.prototype.onKey = function (event) {
    if (event.key === "Escape") { event.preventDefault(); this.toggle(false); return; }
    if (event.key !== "Tab") return;
    var stops = [this.closer, this.input, this.sendButton];
    var at = stops.indexOf(this.panel.getRootNode().activeElement);
    var next = at + (event.shiftKey ? -1 : 1);
    if (at === -1 || next < 0 || next >= stops.length) {
      event.preventDefault();
      stops[(next + stops.length) % stops.length].focus();
    }
  };

  Widget.prototype.show = function (message) {
    var item = el("li", { "class": message.author }, message.author === "agent" ? "" : message.content);
    if (message.author === "agent") {
      this.showTyping({ typing: false, by: "agent" });
      item.append(el("span", { "class": "who" }, this.look.strings.agent), document.createTextNode(message.content));
    }
    if (message.id) item.setAttribute("data-id", message.id);
    this.list.appendChild(item);
    this.list.scrollTop = this.list.scrollHeight;
    return item;
  };

  /* The live conversation: opened on first use, fed by the stream and by each send. */
  function Chat(widget) {
    this.widget = widget;
    this.lastId = 0;
    this.sending = [];
    var self = this;
    widget.onOpen = function () { if (!self.opened) self.opened = self.open(true); };
    widget.submit = function () { self.send(); };
  }

  Chat.prototype.open = function (mayRetry) {
    var self = this;
    var body = { visitor: localStorage.getItem(STORE) || null };
    var user = script.getAttribute("data-user-id");
    if (user) { body = { user_id: user, user_hash: script.getAttribute("data-user-hash") || "" }; }
    this.widget.list.setAttribute("aria-busy", "true");
    return api("POST", "/conversations", body).then(function (data) {
      if (!user) localStorage.setItem(STORE, data.visitor);  // a signed-in user's stays in memory: a shared computer keeps none
      self.visitor = data.visitor;
      self.path = "/conversations/" + data.conversation_id;
      self.take(data.messages);
      self.listen();
    }, function (error) {
      if (error.status === 401 && mayRetry && body.visitor) {
        localStorage.removeItem(STORE);
        return self.open(false);
      }
      self.fail(error);
    }).then(function () { self.widget.list.setAttribute("aria-busy", "false"); });
  };

  /* Messages from the server, each shown once (by id), replacing its own "sending" copy. */
  Chat.prototype.take = function (messages) {
    for (var i = 0; i < messages.length; i++) {
      var message = messages[i];
      if (message.id <= this.lastId) continue;
      this.lastId = message.id;
      var mine = message.author === "customer" ? this.sending.findIndex(function (s) { return s.text === message.content; }) : -1;
      if (mine >= 0) this.sending.splice(mine, 1)[0].item.remove();
      this.widget.show(message);
      if (this.widget.panel.hidden) this.widget.unread.hidden = false;
    }
  };

  Chat.prototype.listen = function () {
    var self = this;
    var url = base + "/widget/" + encodeURIComponent(key) + this.path + "/events?after=" + this.lastId +
      "&visitor=" + encodeURIComponent(this.visitor);
    var stream = new EventSource(url);
    stream.addEventListener("message", function (event) { self.take([JSON.parse(event.data)]); });
    stream.addEventListener("typing", function (event) { self.widget.showTyping(JSON.parse(event.data)); });
  };

  Chat.prototype.send = function () {
    var self = this, widget = this.widget, text = widget.input.value;
    if (!this.path) {  // still opening the conversation: send once it is open
      if (this.opened) this.opened.then(function () { if (self.path) self.send(); });
      return;
    }
    if (!text.trim()) return;
    var pending = { text: text, item: widget.show({ author: "customer", content: text }) };
    pending.item.classList.add("sending");
    this.sending.push(pending);
    widget.input.value = "";
    widget.error.hidden = true;
    widget.showTyping({ typing: true, by: "ai" });
    api("POST", this.path + "/messages", { message: text }, this.visitor)
      .then(function () { return api("GET", self.path + "/messages", null, self.visitor); })
      .then(function (data) { self.take(data.messages); }, function (error) {
        var at = self.sending.indexOf(pending);
        if (at >= 0) { self.sending.splice(at, 1); pending.item.remove(); widget.input.value = text; }
        self.fail(error);
      })
      .then(function () { widget.showTyping({ typing: false, by: "ai" }); });
  };

  Chat.prototype.fail = function (error) {
    var widget = this.widget;
    widget.error.textContent = (error && error.status && error.message) || widget.look.strings.error;
    widget.error.hidden = false;
  };

  /* The console's preview: the panel open, sample messages, themed from the form as it changes. */
  function preview(target) {
    var form = document.getElementById(script.getAttribute("data-form"));
    var words = JSON.parse(target.getAttribute("data-strings"));
    function look() {
      var value = function (name) { var field = form.elements[name]; return field ? field.value : ""; };
      var language = value("language") || "en";
      var strings = Object.assign({}, words[language]);
      Object.keys(strings).forEach(function (name) { if (value("string_" + name).trim()) strings[name] = value("string_" + name); });
      return { color: /^#[0-9a-fA-F]{6}$/.test(value("color")) ? value("color") : "#2563eb", title: value("title"),
        greeting: value("greeting"), position: value("position") || "right", strings: strings };
    }
    var host = el("replyd-widget");
    target.appendChild(host);
    var widget = new Widget(host, look(), true);
    widget.submit = function () {};
    widget.show({ author: "customer", content: target.getAttribute("data-sample-question") });
    widget.show({ author: "ai", content: target.getAttribute("data-sample-answer") });
    widget.toggle(true);
    form.addEventListener("input", function () { widget.theme(look()); });
  }

  var previewId = script.getAttribute("data-preview");
  if (previewId) {
    preview(document.getElementById(previewId));
    return;
  }
  api("GET", "/settings").then(function (data) {
    var host = el("replyd-widget");
    document.body.appendChild(host);
    new Chat(new Widget(host, data.widget, false));
  }, function (error) {
    console.warn("replyd widget: " + ((error && error.message) || "not available on this page"));
  });
})();
