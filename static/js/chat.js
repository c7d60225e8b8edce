// Chat client: WebSocket contract v1 (docs/protocol.md), live markdown rendering, composer.
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const state = JSON.parse(document.getElementById("chat-state").textContent);
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  const sendButton = document.getElementById("send-button");
  const stopButton = document.getElementById("stop-button");
  const errorBox = document.getElementById("composer-error");
  const statusEl = document.getElementById("connection-status");
  const modelSelect = document.getElementById("model-select");
  const secretWarning = document.getElementById("secret-warning");
  const prefillBox = document.getElementById("prefill");
  const prefillInput = document.getElementById("prefill-input");
  const prefillToggle = document.getElementById("prefill-toggle");

  // The server's own credential patterns (conversations/secret_scan.py), from a JSON data
  // block: the page warns before sending what the server would refuse. A pattern this browser
  // cannot compile is skipped; the server still checks.
  const SECRET_PATTERNS = JSON.parse(document.getElementById("secret-patterns").textContent).flatMap((p) => {
    try {
      return [{ kind: p.kind, label: p.label, regex: new RegExp(p.pattern, p.flags) }];
    } catch (e) {
      return [];
    }
  });

  // Errors a reply or a frame can carry, in the reader's language. Server details are
  // already translated; these cover the codes the client shows on its own.
  const ERRORS = {
    auth: gettext("The server's API key was refused by the model provider. Tell an administrator."),
    permission: gettext("The server's API key may not use this model. Tell an administrator."),
    invalid_request: gettext("The model provider refused the request."),
    not_found: gettext("The model provider does not know this model."),
    request_too_large: gettext("The conversation is too large for the model provider."),
    rate_limited: gettext("Too many requests to the model provider right now. Try again in a moment."),
    overloaded: gettext("The model provider is overloaded. Try again in a moment."),
    server: gettext("The model provider had an internal error. Try again."),
    timeout: gettext("The model provider stopped answering (timed out)."),
    connection: gettext("The connection to the model provider was lost."),
    incomplete: gettext("The reply ended before it was complete."),
    api: gettext("The model provider sent an answer chatsite could not read."),
    interrupted: gettext("The server restarted while this reply was being written."),
    internal: gettext("The server failed while writing this reply."),
  };
  const { renderMarkdown, addCopyButtons, renderToolStep, renderAttachments, leftOutNote } = window.chatsiteRender;
  const FIELD = { text: "text", thinking: "thinking", tool_input: "partial_json", tool_result: "content" };
  const BLOCK_TYPE = { text: "text", thinking: "thinking", tool_input: "tool_use", tool_result: "tool_result" };
  const FOLDED = ["thinking", "tool_use", "tool_result"];
  const liveCost = window.chatsiteLiveCost; // static/js/livecost.js: the cost while it streams

  let conversationId = state.conversation ? state.conversation.id : null;
  const messages = new Map();
  let pendingSend = null; // {client_id, text, el, files}: words not yet stored by the server
  let restored = null; // the last pending send put back in the box after a lost socket
  let stickToBottom = true;

  const uploads = window.chatsiteUploads.create({
    tray: document.getElementById("upload-tray"),
    picker: document.getElementById("attach-input"),
    dropZone: document.getElementById("chat"),
    dropHint: document.getElementById("drop-hint"),
    messageBox: input,
    showError,
    clearError,
    urlForm: {
      row: document.getElementById("url-attach"),
      input: document.getElementById("url-attach-input"),
      open: document.getElementById("url-attach-open"),
      add: document.getElementById("url-attach-add"),
      cancel: document.getElementById("url-attach-cancel"),
    },
    // No send while a file is still on its way: it would go without it.
    onChange: (busy) => (sendButton.disabled = busy),
  });

  const actions = window.chatsiteActions.create({
    sendFrame: (frame) => sendFrame(frame),
    newClientId: () => newClientId(),
    modelName: (id) => [...(modelSelect ? modelSelect.options : [])].find((o) => o.value === id)?.textContent || id,
    modelValue: () => (modelSelect && modelSelect.value) || "",
    busy: () => [...messages.values()].some((m) => m.status === "streaming"),
    showError: (text) => showError(text),
    clearError: () => clearError(),
  });
  const title = window.chatsiteTitle.create({
    heading: document.getElementById("chat-title"),
    renameLink: document.getElementById("chat-rename"),
    conversation: state.conversation,
    onRenamed: () => refreshSidebar(),
    showError: (text) => showError(text),
  });

  // ---- rendering -----------------------------------------------------------------------

  function blockElement(m, index, type) {
    let el = m.blockEls[index];
    if (el && el.dataset.type === type) return el;
    const fresh = document.createElement(type === "text" ? "div" : "details");
    fresh.className = "block " + type;
    fresh.dataset.type = type;
    if (type !== "text") {
      const summary = document.createElement("summary");
      summary.textContent = type === "thinking" ? gettext("Thinking") : gettext("Tool call");
      fresh.appendChild(summary);
      fresh.appendChild(document.createElement("div")).className = "inner";
    }
    if (el) el.replaceWith(fresh);
    else m.contentEl.appendChild(fresh);
    m.blockEls[index] = fresh;
    return fresh;
  }

  function renderBlock(m, index) {
    const block = m.blocks[index];
    if (!block) return;
    const type = FOLDED.includes(block.type) ? block.type : "text";
    const el = blockElement(m, index, type);
    if (type === "text" && m.role === "user") {
      el.textContent = block.text || ""; // the user's own words are shown exactly as typed
    } else if (type === "text") {
      el.innerHTML = renderMarkdown(block.text, { streaming: m.status === "streaming" });
      addCopyButtons(el);
    } else if (type === "thinking") {
      el.querySelector(".inner").innerHTML = renderMarkdown(block.thinking);
      // Open while the model thinks, so the reader watches it; folded once the answer starts.
      if (m.status === "streaming" && !answerAfter(m, index) && !el.dataset.auto) {
        el.open = true;
        el.dataset.auto = "open";
      }
    } else {
      renderToolStep(m, index, el, (other) => renderBlock(m, other));
    }
  }

  function answerAfter(m, index) {
    return m.blocks.slice(index + 1).some((b) => b && b.type !== "thinking" && (b.text || b.partial_json || b.input));
  }

  // The answer has started: fold the thinking this page opened (not one the reader opened).
  function foldThinking(m) {
    m.blockEls.forEach((el, index) => {
      if (el && el.dataset.auto === "open" && answerAfter(m, index)) {
        el.open = false;
        el.dataset.auto = "folded";
      }
    });
  }

  function renderMessage(m) {
    m.blocks.forEach((_, index) => renderBlock(m, index));
    renderMessageAttachments(m);
    m.el.dataset.status = m.status;
    m.el.classList.toggle("streaming", m.status === "streaming");
    renderError(m);
    scrollIfStuck();
  }

  // Under the words; frames that do not carry the lists (completed, snapshot) keep them.
  function renderMessageAttachments(m) {
    m.el.querySelectorAll(":scope > .attachments, :scope > .attachments-note").forEach((el) => el.remove());
    if (m.leftOut.length) m.contentEl.after(leftOutNote(m.leftOut.map(attachmentName)));
    if (m.attachments.length) m.contentEl.after(renderAttachments(m.attachments));
  }

  function attachmentName(id) {
    for (const other of messages.values()) {
      const found = (other.attachments || []).find((a) => a.id === id);
      if (found) return found.name;
    }
    return "#" + id;
  }

  function renderError(m) {
    let box = m.el.querySelector(".message-error, .message-note");
    if (box) box.remove();
    if (m.status === "failed" || m.status === "interrupted") {
      box = document.createElement("div");
      box.className = "message-error";
      box.setAttribute("role", "alert");
      const code = (m.error && m.error.code) || "internal";
      const text = document.createElement("span");
      text.textContent =
        code === "not_found" && m.error.model && window.interpolate
          ? window.interpolate(
              gettext("The model provider does not know the model %(model)s: it may be retired. Choose another model."),
              { model: m.error.model },
              true,
            )
          : ERRORS[code] || (m.error && m.error.detail) || gettext("Something went wrong.");
      box.appendChild(text);
      if (isLast(m)) {
        const retry = document.createElement("button");
        retry.type = "button";
        retry.className = "retry";
        retry.textContent = gettext("Retry");
        retry.addEventListener("click", () => sendFrame({ type: "retry", message: m.id, client_id: newClientId() }));
        box.appendChild(retry);
      }
      if (continuable(m)) box.appendChild(continueButton(m));
      m.el.appendChild(box);
    } else if (m.status === "stopped") {
      box = document.createElement("div");
      box.className = "message-note muted";
      const deleted = m.error && m.error.code === "deleted";
      box.appendChild(document.createElement("span")).textContent = deleted
        ? gettext("Stopped: this conversation was deleted.")
        : gettext("Stopped");
      if (continuable(m)) box.appendChild(continueButton(m));
      m.el.appendChild(box);
    } else if (m.status === "complete" && stopNote(m)) {
      box = document.createElement("div");
      box.className = "message-note muted";
      const note = box.appendChild(document.createElement("span"));
      note.className = "stop-note";
      note.dataset.stopReason = m.stopReason;
      note.textContent = stopNote(m);
      if (continuable(m)) box.appendChild(continueButton(m)); // cut at max_tokens
      m.el.appendChild(box);
    }
    actions.render(m);
  }

  // Why a finished reply ended, when it is not the model's own end of turn.
  function stopNote(m) {
    if (m.stopReason === "stop_sequence" && m.stopSequence !== null && window.interpolate) {
      return window.interpolate(gettext("Stopped at the stop sequence “%(sequence)s”."), { sequence: m.stopSequence }, true);
    }
    if (m.stopReason === "max_tokens" && m.quotaCut && window.ngettext && window.interpolate) {
      // The quota lowered max_tokens (payload max_tokens_lowered): Continue once topped up.
      const text = window.ngettext(
        "Cut short: your quota covered only %(count)s token for this reply.",
        "Cut short: your quota covered only %(count)s tokens for this reply.",
        m.quotaCut,
      );
      return window.interpolate(text, { count: m.quotaCut }, true);
    }
    const notes = {
      stop_sequence: gettext("Stopped at a stop sequence."),
      max_tokens: gettext("Cut short: the reply reached its length limit."),
      model_context_window_exceeded: gettext("Cut short: the conversation reached the model's context window."),
      refusal: gettext("The model declined to answer."),
    };
    return notes[m.stopReason] || "";
  }

  // Cut at max_tokens, stopped or interrupted, the last message, with text to go on from.
  function continuable(m) {
    const cut = m.status === "stopped" || m.status === "interrupted" || (m.status === "complete" && m.stopReason === "max_tokens");
    const text = m.blocks.some((b) => b && b.type === "text" && (b.text || "").trim());
    return m.role === "assistant" && cut && text && isLast(m) && !(m.error && m.error.code === "deleted");
  }

  // With thinking on the API refuses a prefill: the server asks for the rest in a new message.
  function continuesAsTurn() {
    if (window.chatsiteSettings) return window.chatsiteSettings.thinks();
    const model = modelSelect && modelSelect.value;
    return (state.thinking_models || []).includes(model);
  }

  function continueButton(m) {
    const wrap = document.createElement("span");
    wrap.className = "continue";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "continue-button";
    button.textContent = gettext("Continue");
    button.addEventListener("click", () => {
      clearError();
      button.disabled = true;
      sendFrame({ type: "continue", message: m.id, client_id: newClientId() });
    });
    wrap.appendChild(button);
    if (continuesAsTurn()) {
      const note = document.createElement("span");
      note.className = "continue-note";
      note.textContent = gettext("Thinking is on, so Continue asks for the rest in a new message.");
      wrap.appendChild(note);
    }
    return wrap;
  }

  function isLast(m) {
    return list.lastElementChild === m.el;
  }

  function upsertMessage(payload) {
    let m = messages.get(payload.id);
    if (!m) {
      const el = document.createElement("article");
      el.className = "message " + payload.role;
      el.dataset.id = payload.id;
      el.dataset.role = payload.role;
      const contentEl = document.createElement("div");
      contentEl.className = "content";
      el.appendChild(contentEl);
      m = { id: payload.id, role: payload.role, el, contentEl, blockEls: [], frame: 0, dirty: new Set() };
      messages.set(payload.id, m);
      list.appendChild(el);
      document.getElementById("empty-state")?.remove();
      // A reply arriving after an earlier failed one takes its Retry button away.
      messages.forEach((other) => other !== m && renderError(other));
    }
    // Frames that do not carry these (completed, snapshot) keep what the last payload said.
    for (const key of ["versions", "model", "cost", "parent"]) if (key in payload) m[key] = payload[key];
    // A stale snapshot of an ended reply (one past its end is a continuation: a socket that
    // missed message.continued while it reconnected)...
    const stale = m.final && payload.status === "streaming" && (payload.seq || 0) <= m.seq;
    // ...or older than what this tab already shows. Its versions may still be news.
    const older = m.status === "streaming" && payload.status === "streaming" && (payload.seq || 0) < m.seq && !m.resyncing;
    if (stale || older) {
      actions.render(m);
      return m;
    }
    m.status = payload.status;
    m.stopReason = payload.stop_reason || null;
    m.final = payload.status !== "streaming";
    m.seq = payload.seq || 0;
    m.resyncing = false;
    m.error = payload.error || null;
    if (Array.isArray(payload.attachments)) m.attachments = payload.attachments;
    else if (!m.attachments) m.attachments = [];
    if (Array.isArray(payload.attachments_left_out)) m.leftOut = payload.attachments_left_out;
    else if (!m.leftOut) m.leftOut = [];
    m.stopReason = payload.stop_reason || null;
    m.stopSequence = payload.stop_sequence ?? null;
    m.quotaCut = payload.max_tokens_lowered ? payload.max_tokens : null;
    m.blocks = structuredClone(payload.content || []);
    m.contentEl.replaceChildren();
    m.blockEls = [];
    renderMessage(m);
    return m;
  }

  function scheduleRender(m) {
    if (m.frame) return;
    m.frame = requestAnimationFrame(() => {
      m.frame = 0;
      m.dirty.forEach((index) => renderBlock(m, index));
      m.dirty.clear();
      foldThinking(m);
      liveCost?.update(m);
      scrollIfStuck();
    });
  }

  function scrollIfStuck() {
    if (stickToBottom) list.scrollTop = list.scrollHeight;
  }

  list.addEventListener("scroll", () => {
    stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  });

  function updateComposer() {
    const streaming = [...messages.values()].some((m) => m.status === "streaming");
    stopButton.hidden = !streaming;
    sendButton.hidden = streaming;
    actions.setBusy(streaming);
  }

  function replaceThread(payloads) {
    const thread = window.chatsiteBranches.replaceThread(
      {
        list,
        messages,
        upsert: upsertMessage,
        following: () => stickToBottom,
        follow: (value) => (stickToBottom = value),
        pendingEl: () => (pendingSend ? pendingSend.el : null),
      },
      payloads,
    );
    messages.forEach(renderError); // Retry and Continue belong to the new last message
    scrollIfStuck();
    actions.branchShown(thread);
    updateComposer();
  }

  // ---- frames from the server ----------------------------------------------------------

  const handlers = {
    "conversation.created"(frame) {
      conversationId = frame.conversation.id;
      document.dispatchEvent(new CustomEvent("chat:conversation-created", { detail: frame.conversation }));
      history.replaceState(null, "", frame.conversation.url);
      title.set(frame.conversation);
      refreshSidebar();
    },
    "conversation.updated"(frame) {
      if (frame.conversation !== conversationId || typeof frame.title !== "string") return;
      title.set({ id: conversationId, title: frame.title, url: location.pathname });
      refreshSidebar();
    },
    "conversation.branch"(frame) {
      if (frame.conversation !== conversationId || !Array.isArray(frame.messages)) return;
      replaceThread(frame.messages);
    },
    "message.created"(frame) {
      const payload = frame.message;
      if (payload.conversation !== conversationId) return;
      if (payload.role === "user" && payload.attachments) uploads.forget(payload.attachments.map((a) => a.id));
      if (pendingSend && frame.client_id === pendingSend.client_id && payload.role === "user") {
        pendingSend.el.remove();
        pendingSend = null;
        document.dispatchEvent(new CustomEvent("chat:sent")); // its settings are stored too
      } else if (restored && frame.client_id === restored.client_id && payload.role === "user") {
        // Stored after all (the socket dropped before the answer): take the words back out.
        if (input.value.startsWith(restored.text)) input.value = input.value.slice(restored.text.length).replace(/^\n/, "");
        restored = null;
        clearError();
        autosize();
      }
      const m = upsertMessage(payload);
      liveCost?.start(m, payload);
      actions.answered(frame.client_id, m);
      updateComposer();
    },
    "message.delta"(frame) {
      const m = messages.get(frame.message);
      if (!m || frame.seq <= m.seq) return; // already in the snapshot
      if (frame.seq !== m.seq + 1) {
        // A gap: ask for a fresh snapshot rather than show a reply with a hole in it
        // (once: the snapshot or the completed frame settles it).
        if (!m.resyncing) {
          m.resyncing = true;
          sendFrame({ type: "subscribe", conversation: conversationId });
        }
        return;
      }
      m.seq = frame.seq;
      let block = m.blocks[frame.block];
      if (!block) {
        block = m.blocks[frame.block] = { type: BLOCK_TYPE[frame.kind] || "text" };
      }
      if (frame.kind === "tool_result") Object.assign(block, { tool_use_id: frame.tool_use_id, is_error: frame.is_error });
      if (frame.kind === "tool_input" && frame.id) Object.assign(block, { id: frame.id, name: frame.name });
      const field = FIELD[frame.kind] || "text";
      block[field] = (block[field] || "") + frame.text;
      m.dirty.add(frame.block);
      scheduleRender(m);
    },
    "message.continued"(frame) {
      // An ended reply streams again (Continue): its text so far, then deltas from its seq.
      const payload = frame.message;
      const m = messages.get(payload.id);
      if (!m || payload.conversation !== conversationId) return;
      m.final = false;
      m.resyncing = true; // accept this payload whatever this tab showed before
      liveCost?.start(upsertMessage(payload), payload);
      messages.forEach((other) => other !== m && renderError(other));
      updateComposer();
    },
    "message.snapshot"(frame) {
      // The exact state from the process writing the reply (several workers).
      const m = messages.get(frame.message);
      if (!m || m.status !== "streaming" || frame.seq < m.seq) return;
      upsertMessage({ id: m.id, role: m.role, status: m.status, seq: frame.seq, content: frame.content });
    },
    "message.completed"(frame) {
      const m = messages.get(frame.message);
      if (!m) return;
      if (m.frame) cancelAnimationFrame(m.frame);
      m.frame = 0;
      m.dirty.clear();
      upsertMessage({
        id: m.id,
        role: m.role,
        status: frame.status,
        seq: frame.seq,
        error: frame.error,
        stop_reason: frame.stop_reason,
        stop_sequence: frame.stop_sequence,
        max_tokens: frame.max_tokens,
        max_tokens_lowered: frame.max_tokens_lowered,
        content: frame.content || m.blocks,
        ...("cost" in frame ? { cost: frame.cost } : {}),
      });
      liveCost?.settle(m);
      updateComposer();
      refreshSidebar();
      refreshMeter();
    },
    error(frame) {
      if (pendingSend && frame.client_id === pendingSend.client_id) restorePending();
      if (frame.code === "quota_exceeded") refreshMeter();
      if (frame.code === "invalid_settings" && window.chatsiteSettings) {
        window.chatsiteSettings.showErrors(frame.fields || { [frame.field || "settings"]: frame.detail });
      }
      // A refused edit is shown in its editor, which keeps the words (a secret too: edit them).
      const shownByEditor = actions.failed(frame);
      if (frame.code === "secret_detected" && !shownByEditor) {
        // The server's patterns found what this page's did not: the same choice, its words.
        showSecretWarning(frame.detail);
        return;
      }
      if (!shownByEditor) {
        showError(frame.detail || ERRORS[frame.code] || gettext("Something went wrong."));
        // The meter's own used-up notice stands down while this one shows (app.css).
        errorBox.dataset.code = frame.code;
      }
      messages.forEach(renderError); // a refused Continue or Regenerate gets its button back
    },
  };

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    delete errorBox.dataset.code;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    delete errorBox.dataset.code;
  }

  function refreshMeter() {
    if (window.htmx) window.htmx.trigger(document.body, "chat:meter");
  }

  function refreshSidebar() {
    if (!window.htmx) return;
    const url = "/sidebar/" + (conversationId ? "?current=" + conversationId : "");
    window.htmx.ajax("GET", url, { target: "#conversation-list", swap: "innerHTML" });
  }

  // ---- the socket ----------------------------------------------------------------------

  let socket = null;
  let backoff = 500;
  const outbox = [];

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/chat/");
    setStatus("connecting", gettext("Connecting…"));
    socket.addEventListener("open", () => {
      backoff = 500;
      setStatus("open", gettext("Connected"));
      if (conversationId) {
        // Tell the server what this tab knows, so replies that ended (and messages sent from
        // other tabs) while it was away come back.
        const ids = [...messages.keys()];
        const streaming = [...messages.values()].filter((m) => m.status === "streaming").map((m) => m.id);
        const frame = { type: "subscribe", conversation: conversationId, messages: streaming };
        if (ids.length) frame.after = Math.max(...ids);
        socket.send(JSON.stringify(frame));
      }
      while (outbox.length) socket.send(outbox.shift().text);
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      const handler = handlers[frame.type];
      if (handler) handler(frame);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401 && !retrySignIn()) {
        location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname);
        return;
      }
      if (pendingSend) {
        restored = { client_id: pendingSend.client_id, text: pendingSend.text };
        restorePending();
        showError(gettext("The connection was lost before your message was confirmed. It is back in the box; if it was stored after all, it will show up when the connection is back."));
      }
      setStatus("closed", gettext("Reconnecting…"));
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  // 4401: this socket's session no longer signs in (signed out, deactivated, a new password).
  // A password changed in this browser gives it a new session key, which a new socket carries:
  // so reconnect once, and go to the sign-in page on a second 4401 soon after.
  let signInRetriedAt = 0;
  function retrySignIn() {
    if (Date.now() - signInRetriedAt < 30000) return false;
    signInRetriedAt = Date.now();
    return true;
  }

  function setStatus(name, text) {
    statusEl.dataset.state = name;
    statusEl.textContent = text;
  }

  function sendFrame(frame) {
    const text = JSON.stringify(frame);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(text);
    else outbox.push({ text, clientId: frame.client_id });
  }

  function newClientId() {
    return (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
  }

  // ---- the composer --------------------------------------------------------------------

  function send(allowSecrets) {
    const text = input.value;
    if ((!text.trim() && !uploads.ready().length) || pendingSend) return;
    if (uploads.busy()) {
      showError(gettext("Wait until the files have finished uploading, then send."));
      return;
    }
    clearError();
    hideSecretWarning();
    const found = allowSecrets ? null : SECRET_PATTERNS.find((p) => p.regex.test(text));
    if (found) {
      const warning = window.interpolate
        ? window.interpolate(gettext("This looks like %(what)s. Sending it stores it in the conversation and sends it to the model provider."), { what: found.label }, true)
        : found.label;
      showSecretWarning(warning);
      return;
    }
    const clientId = newClientId();
    // Shown at once, kept until the server confirms it stored the words.
    const files = uploads.take();
    const el = document.createElement("article");
    el.className = "message user pending";
    el.appendChild(document.createElement("div")).textContent = text;
    if (files.length) el.appendChild(renderAttachments(files.map((item) => item.attachment)));
    list.appendChild(el);
    document.getElementById("empty-state")?.remove();
    pendingSend = { client_id: clientId, text, el, files };
    input.value = "";
    autosize();
    stickToBottom = true;
    scrollIfStuck();
    const attachments = files.map((item) => item.attachment.id);
    const frame = { type: "send", conversation: conversationId, text, attachments, client_id: clientId };
    if (modelSelect && modelSelect.value) frame.model = modelSelect.value;
    if (allowSecrets) frame.allow_secrets = true;
    if (window.chatsiteSettings) Object.assign(frame, window.chatsiteSettings.forSend(conversationId));
    if (!prefillBox.hidden && prefillInput.value.trim()) frame.prefill = pendingSend.prefill = prefillInput.value;
    closePrefill(); // for the next reply only
    sendFrame(frame);
  }

  function closePrefill() {
    prefillInput.value = "";
    prefillBox.hidden = true;
    prefillToggle.setAttribute("aria-expanded", "false");
  }

  function openPrefill(value) {
    if (value) prefillInput.value = value;
    prefillBox.hidden = false;
    prefillToggle.setAttribute("aria-expanded", "true");
  }

  prefillToggle.addEventListener("click", () => {
    if (!prefillBox.hidden) {
      closePrefill();
      return;
    }
    openPrefill();
    prefillInput.focus();
  });

  function showSecretWarning(text) {
    secretWarning.querySelector(".secret-warning-text").textContent = text;
    secretWarning.hidden = false;
  }

  function hideSecretWarning() {
    secretWarning.hidden = true;
  }

  function restorePending() {
    if (!pendingSend) return;
    // Never sent: drop it from the queue, or it would go out on reconnect as well.
    const queued = outbox.findIndex((item) => item.clientId === pendingSend.client_id);
    if (queued >= 0) outbox.splice(queued, 1);
    // Keep whatever was typed since, after the words that came back; the files come back too.
    if (pendingSend.text) input.value = input.value ? pendingSend.text + "\n" + input.value : pendingSend.text;
    uploads.restore(pendingSend.files);
    if (pendingSend.prefill && !prefillInput.value) openPrefill(pendingSend.prefill);
    pendingSend.el.remove();
    pendingSend = null;
    autosize();
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 240) + "px";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(false);
  });
  input.addEventListener("keydown", (event) => {
    // isComposing: Enter that confirms a Japanese IME conversion must not send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      send(false);
    }
  });
  input.addEventListener("input", () => {
    autosize();
    hideSecretWarning(); // "Send anyway" confirms the words it warned about, not new ones
  });
  document.getElementById("secret-send-anyway").addEventListener("click", () => send(true));
  document.getElementById("secret-edit").addEventListener("click", () => {
    hideSecretWarning();
    input.focus();
  });
  stopButton.addEventListener("click", () => {
    messages.forEach((m) => {
      if (m.status === "streaming") sendFrame({ type: "stop", message: m.id });
    });
  });

  list.replaceChildren(...[...list.children].filter((el) => el.id === "empty-state"));
  state.messages.forEach(upsertMessage);
  updateComposer();
  stickToBottom = true;
  scrollIfStuck();
  connect();
})();
