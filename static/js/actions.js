// Message actions under each message: copy, regenerate, edit and resend, the version flipper
// ‹ 2/3 ›, and a reply's model and cost. chat.js owns the thread; this module draws one row.
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const interpolate = (text, values) => (window.interpolate ? window.interpolate(text, values, true) : text);

  // Feather-style outline icons (static markup, no style attributes: the CSP has style-src 'self').
  const ICONS = {
    copy: '<rect x="9" y="9" width="13" height="13" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>',
    copied: '<polyline points="20 6 9 17 4 12"/>',
    regenerate: '<polyline points="23 4 23 10 17 10"/><path d="M20.49 15a9 9 0 1 1-2.12-9.36L23 10"/>',
    edit: '<path d="M17 3a2.83 2.83 0 1 1 4 4L7.5 20.5 2 22l1.5-5.5L17 3z"/>',
    code: '<polyline points="16 18 22 12 16 6"/><polyline points="8 6 2 12 8 18"/>',
  };

  function icon(name) {
    const holder = document.createElement("span");
    holder.className = "action-icon";
    holder.setAttribute("aria-hidden", "true");
    holder.innerHTML =
      '<svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" ' +
      'stroke-linecap="round" stroke-linejoin="round" focusable="false">' + ICONS[name] + "</svg>";
    return holder;
  }

  function actionButton(className, label, iconName) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "action " + className;
    button.setAttribute("aria-label", label);
    button.title = label;
    button.appendChild(icon(iconName));
    return button;
  }

  // The rule of accounts/money.py's usd(): $1.23, $0.0042 under a cent, <$0.0001 below that,
  // so a reply that cost a fraction of a cent does not read as free.
  function formatCost(cost) {
    if (cost === null || cost === undefined || cost === "") return "";
    const value = Number(cost);
    if (!Number.isFinite(value)) return "";
    if (value > 0 && value < 0.0001) return "<$0.0001";
    if (value > 0 && value < 0.01) return "$" + (Math.round(value * 10000 + 1e-9) / 10000).toFixed(4);
    return "$" + value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  // The message as markdown: a reply's text blocks (not its thinking or tool calls), a user's words.
  function markdownOf(m) {
    return (m.blocks || [])
      .filter((b) => b && b.type === "text")
      .map((b) => b.text || "")
      .join("\n\n");
  }

  function create(options) {
    const { sendFrame, newClientId, modelName, modelValue, busy, showError, clearError } = options;
    const pending = new Map(); // client_id -> {kind, id}: a regenerate or an edit not yet answered
    let editing = null; // {m, form, textarea, error, save, clientId}
    let focusAfterBranch = null; // {index, which}: where the keyboard was when it flipped

    const announcer = document.createElement("div");
    announcer.className = "visually-hidden";
    announcer.id = "message-actions-status";
    announcer.setAttribute("role", "status");
    document.body.appendChild(announcer);

    function announce(text) {
      // Cleared first so the same words twice are announced twice.
      announcer.textContent = "";
      setTimeout(() => (announcer.textContent = text), 50);
    }

    function versionsOf(m) {
      const v = m.versions;
      if (!v || !Array.isArray(v.ids) || (v.count || v.ids.length) < 2) return null;
      let position = v.ids.indexOf(m.id);
      if (position < 0) position = v.index || 0;
      return { ids: v.ids, position, count: v.ids.length };
    }

    function flipper(m, versions) {
      const group = document.createElement("span");
      group.className = "version-flipper";
      group.setAttribute("role", "group");
      const label = interpolate(gettext("Version %(index)s of %(count)s"), { index: versions.position + 1, count: versions.count });
      group.setAttribute("aria-label", label);
      const previous = group.appendChild(document.createElement("button"));
      previous.type = "button";
      previous.className = "action version-prev";
      previous.textContent = "‹";
      previous.setAttribute("aria-label", gettext("Previous version"));
      previous.title = gettext("Previous version");
      previous.disabled = versions.position === 0;
      const shown = group.appendChild(document.createElement("span"));
      shown.className = "version-label";
      shown.setAttribute("aria-hidden", "true");
      shown.textContent = versions.position + 1 + "/" + versions.count;
      const next = group.appendChild(document.createElement("button"));
      next.type = "button";
      next.className = "action version-next";
      next.textContent = "›";
      next.setAttribute("aria-label", gettext("Next version"));
      next.title = gettext("Next version");
      next.disabled = versions.position === versions.count - 1;
      // While a reply streams the server refuses a switch (busy): refreshStates marks the
      // arrows aria-disabled, not disabled, so they keep the focus a regenerate lands there.
      const flip = (step, which) => {
        const target = versions.ids[versions.position + step];
        if (target === undefined || busy()) return;
        clearError();
        const thread = [...m.el.parentElement.querySelectorAll(":scope > article.message[data-id]")];
        focusAfterBranch = { index: thread.indexOf(m.el), which };
        sendFrame({ type: "switch_branch", message: target });
      };
      previous.addEventListener("click", () => flip(-1, "prev"));
      next.addEventListener("click", () => flip(1, "next"));
      return group;
    }

    function copyButton(m) {
      const button = actionButton("copy-message", gettext("Copy message"), "copy");
      button.addEventListener("click", () => {
        window.chatsiteRender.copyText(markdownOf(m)).then(
          () => {
            button.classList.add("copied");
            button.replaceChildren(icon("copied"));
            const note = button.appendChild(document.createElement("span"));
            note.className = "action-feedback";
            note.textContent = gettext("Copied");
            button.setAttribute("aria-label", gettext("Copied"));
            announce(gettext("Copied"));
            setTimeout(() => {
              button.classList.remove("copied");
              button.replaceChildren(icon("copy"));
              button.setAttribute("aria-label", gettext("Copy message"));
            }, 2000);
          },
          () => showError(gettext("The browser did not allow copying to the clipboard.")),
        );
      });
      return button;
    }

    function regenerateButton(m) {
      const button = actionButton("regenerate", gettext("Regenerate reply"), "regenerate");
      button.addEventListener("click", () => {
        clearError();
        const clientId = newClientId();
        pending.set(clientId, { kind: "regenerate", id: m.id });
        const frame = { type: "regenerate", message: m.id, client_id: clientId };
        const model = modelValue();
        if (model) frame.model = model;
        button.disabled = true;
        sendFrame(frame);
      });
      return button;
    }

    function editButton(m) {
      const button = actionButton("edit-message", gettext("Edit message"), "edit");
      button.addEventListener("click", () => openEditor(m));
      return button;
    }

    function isPending(id) {
      return [...pending.values()].some((p) => p.id === id);
    }

    function meta(m) {
      const parts = [];
      if (m.model) parts.push(modelName(m.model));
      const cost = formatCost(m.cost);
      if (cost) parts.push(cost);
      if (!parts.length) return null;
      const el = document.createElement("span");
      el.className = "message-meta";
      el.textContent = parts.join(" · ");
      el.title = cost ? interpolate(gettext("Model %(model)s, cost %(cost)s"), { model: modelName(m.model), cost }) : modelName(m.model);
      return el;
    }

    // The row under message `m`, built from its state. It is rebuilt only when that state
    // changed: the thread is a live region, and a screen reader would otherwise read every
    // reply's model and cost again each time a message arrives.
    function render(m) {
      let row = m.el.querySelector(":scope > .message-actions");
      if (!row) {
        row = document.createElement("div");
        row.className = "message-actions";
        row.setAttribute("aria-live", "off");
      }
      const key = JSON.stringify([m.versions || null, m.status === "streaming", m.model || null, m.cost ?? null, Boolean(editing && editing.m === m)]);
      const active = row.contains(document.activeElement) ? document.activeElement : null;
      if (row.dataset.key !== key) {
        row.dataset.key = key;
        build(row, m);
      }
      if (m.el.lastElementChild !== row) m.el.appendChild(row); // last, after any error box or note
      refreshStates(row, m.id, busy());
      // The keyboard keeps its place: the same button (or its successor in a rebuilt row).
      if (active && document.activeElement !== active) {
        if (active.isConnected) active.focus();
        else {
          const name = [...active.classList].find((c) => c !== "action" && c !== "copied");
          if (name) row.querySelector("." + name + ":not(:disabled)")?.focus();
        }
      }
    }

    function build(row, m) {
      row.replaceChildren();
      const versions = versionsOf(m);
      if (versions) row.appendChild(flipper(m, versions));
      if (m.status !== "streaming") {
        const buttons = row.appendChild(document.createElement("span"));
        buttons.className = "action-buttons";
        buttons.appendChild(copyButton(m));
        if (m.role === "assistant") buttons.appendChild(regenerateButton(m));
        else buttons.appendChild(editButton(m));
        // "Get code" (static/js/getcode.js): a reply's request as code, for the gateway.
        if (m.role === "assistant" && window.chatsiteGetCode?.available()) {
          const button = actionButton("get-code-open", gettext("Get code"), "code");
          button.addEventListener("click", () => window.chatsiteGetCode.open(m.id, button));
          buttons.appendChild(button);
        }
      }
      if (m.role === "assistant") {
        const info = meta(m);
        if (info) row.appendChild(info);
      }
    }

    // Regenerate and Edit wait while a reply streams (the server would answer busy), and for
    // this tab's own request; the arrows say so but keep the focus (aria-disabled).
    function refreshStates(row, id, isBusy) {
      row.querySelectorAll(".regenerate, .edit-message").forEach((button) => {
        button.disabled = isBusy || isPending(id) || Boolean(editing && editing.m.id === id);
      });
      row.querySelectorAll(".version-flipper .action:not(:disabled)").forEach((arrow) => {
        if (isBusy) arrow.setAttribute("aria-disabled", "true");
        else arrow.removeAttribute("aria-disabled");
      });
    }

    // ---- editing a user message ------------------------------------------------------------

    function openEditor(m) {
      if (editing) closeEditor();
      const form = document.createElement("form");
      form.className = "message-editor";
      const label = form.appendChild(document.createElement("label"));
      label.className = "visually-hidden";
      label.textContent = gettext("Edit message");
      const textarea = form.appendChild(document.createElement("textarea"));
      textarea.id = "message-editor-" + m.id;
      label.htmlFor = textarea.id;
      textarea.value = markdownOf(m);
      textarea.rows = Math.min(12, Math.max(2, textarea.value.split("\n").length));
      const error = form.appendChild(document.createElement("div"));
      error.className = "editor-error";
      error.setAttribute("role", "alert");
      error.hidden = true;
      const buttons = form.appendChild(document.createElement("div"));
      buttons.className = "editor-buttons";
      const cancel = buttons.appendChild(document.createElement("button"));
      cancel.type = "button";
      cancel.className = "editor-cancel";
      cancel.textContent = gettext("Cancel");
      const save = buttons.appendChild(document.createElement("button"));
      save.type = "submit";
      save.className = "primary editor-save";
      save.textContent = gettext("Save & send");
      if ((m.attachments || []).length) {
        const kept = buttons.appendChild(document.createElement("span"));
        kept.className = "editor-note muted";
        kept.textContent = gettext("The attachments stay with the message.");
      }
      editing = { m, form, textarea, error, save, clientId: null };
      m.el.classList.add("editing");
      m.contentEl.after(form);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        submitEdit();
      });
      cancel.addEventListener("click", () => closeEditor(true));
      textarea.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.preventDefault();
          closeEditor(true);
        } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
          event.preventDefault(); // as in the message box: Enter sends, Shift+Enter is a new line
          submitEdit();
        }
      });
      // "Send anyway" confirms the words it warned about, not new ones.
      textarea.addEventListener("input", () => (error.hidden = true));
      render(m);
      textarea.focus();
      textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    }

    function submitEdit(allowSecrets) {
      if (!editing || editing.clientId) return;
      const { m, textarea, error } = editing;
      const attachments = (m.attachments || []).map((a) => a.id);
      if (!textarea.value.trim() && !attachments.length) {
        error.textContent = gettext("Write something to send.");
        error.hidden = false;
        return;
      }
      if (busy()) {
        error.textContent = gettext("Wait until the reply has finished, then send.");
        error.hidden = false;
        return;
      }
      error.hidden = true;
      clearError();
      editing.clientId = newClientId();
      pending.set(editing.clientId, { kind: "edit", id: m.id });
      // Cancel stays: if the answer never comes (a lost connection), the reader is not stuck.
      editing.save.disabled = textarea.readOnly = true;
      editing.form.classList.add("pending");
      const frame = { type: "edit", message: m.id, text: textarea.value, client_id: editing.clientId, attachments };
      const model = modelValue();
      if (model) frame.model = model;
      if (allowSecrets === true) frame.allow_secrets = true;
      sendFrame(frame);
    }

    function closeEditor(returnFocus) {
      if (!editing) return;
      const { m, form } = editing;
      editing = null;
      form.remove();
      m.el.classList.remove("editing");
      if (m.el.isConnected) {
        render(m);
        if (returnFocus) m.el.querySelector(".edit-message")?.focus();
      }
    }

    // ---- what chat.js tells this module ------------------------------------------------------

    // The new message answering one of this tab's regenerates or edits arrived: it is no longer
    // pending, and the keyboard, which lost its button with the old version, lands on its flipper.
    function answered(clientId, m) {
      if (!clientId || !pending.has(clientId)) return;
      pending.delete(clientId);
      if (editing && editing.clientId === clientId) closeEditor(false);
      if (!document.activeElement || document.activeElement === document.body) {
        m.el.querySelector(".message-actions button:not(:disabled)")?.focus();
      }
    }

    // An error frame: true when it answers an edit, whose editor shows it and keeps the words.
    function failed(frame) {
      const mine = frame.client_id && pending.get(frame.client_id);
      if (!mine) return false;
      pending.delete(frame.client_id);
      if (mine.kind === "edit" && editing && editing.clientId === frame.client_id) {
        editing.clientId = null;
        editing.save.disabled = editing.textarea.readOnly = false;
        editing.form.classList.remove("pending");
        editing.error.textContent = frame.detail || gettext("Something went wrong.");
        if (frame.code === "secret_detected") {
          // The same choice the message box offers: change the words, or send them as they are.
          const anyway = editing.error.appendChild(document.createElement("button"));
          anyway.type = "button";
          anyway.className = "danger editor-send-anyway";
          anyway.textContent = gettext("Send anyway");
          anyway.addEventListener("click", () => submitEdit(true));
        }
        editing.error.hidden = false;
        editing.textarea.focus();
        return true;
      }
      return false;
    }

    // The thread was replaced (conversation.branch): the flipped message's buttons get the focus
    // back, and the new position is announced.
    function branchShown(thread) {
      if (editing && !editing.m.el.isConnected) closeEditor(false);
      const wanted = focusAfterBranch;
      focusAfterBranch = null;
      if (!wanted || wanted.index < 0) return;
      const m = thread[wanted.index];
      const versions = m && versionsOf(m);
      if (!versions) return;
      const group = m.el.querySelector(".version-flipper");
      const button = group.querySelector(wanted.which === "prev" ? ".version-prev" : ".version-next");
      (button.disabled ? group.querySelector("button:not(:disabled)") : button)?.focus();
      announce(group.getAttribute("aria-label"));
    }

    function setBusy(isBusy) {
      document.querySelectorAll(".message-actions").forEach((row) => {
        refreshStates(row, Number(row.closest("article.message").dataset.id), isBusy);
      });
    }

    return { render, answered, failed, branchShown, setBusy, formatCost };
  }

  window.chatsiteActions = { create, formatCost, markdownOf };
})();
