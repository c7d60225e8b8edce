// Shared snapshot page: renders the frozen messages with the chat's markdown and sanitizer,
// and their attachments when the link includes them.
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const stateEl = document.getElementById("share-state");
  const list = document.getElementById("shared-messages");
  if (!stateEl || !list || !window.markdownit || !window.DOMPurify) return; // keep the server's text

  const state = JSON.parse(stateEl.textContent);
  const { addCopyButtons, toolTitle, renderAttachments } = window.chatsiteRender;

  function renderMarkdown(text) {
    const holder = document.createElement("div");
    holder.innerHTML = window.chatsiteRender.renderMarkdown(text, { publicLinks: true });
    return holder;
  }


  function collapsed(type, title) {
    const details = document.createElement("details");
    details.className = "block " + type;
    details.appendChild(document.createElement("summary")).textContent = title;
    const inner = details.appendChild(document.createElement("div"));
    inner.className = "inner";
    return { details, inner };
  }

  function renderBlock(block, role) {
    if (block.type === "thinking") {
      const { details, inner } = collapsed("thinking", gettext("Thinking"));
      inner.replaceChildren(...renderMarkdown(block.thinking).childNodes);
      return details;
    }
    if (block.type === "tool_use") {
      const { details, inner } = collapsed("tool_use", toolTitle(block.name));
      const pre = document.createElement("pre");
      pre.textContent = block.input ? JSON.stringify(block.input, null, 2) : block.partial_json || "";
      inner.appendChild(pre);
      return details;
    }
    if (block.type === "tool_result") {
      const { details, inner } = collapsed("tool_result", gettext("Tool result"));
      const pre = document.createElement("pre");
      pre.textContent = typeof block.content === "string" ? block.content : JSON.stringify(block.content);
      inner.appendChild(pre);
      return details;
    }
    const el = document.createElement("div");
    el.className = "block text";
    if (role === "user") {
      el.textContent = block.text || ""; // the user's own words, exactly as typed
    } else {
      el.replaceChildren(...renderMarkdown(block.text).childNodes);
      addCopyButtons(el);
    }
    return el;
  }

  const NOTES = {
    stopped: gettext("Stopped"),
    failed: gettext("This reply did not finish."),
    interrupted: gettext("This reply did not finish."),
  };

  function renderMessage(message) {
    const el = document.createElement("article");
    el.className = "message " + message.role;
    el.dataset.role = message.role;
    el.dataset.status = message.status;
    const content = el.appendChild(document.createElement("div"));
    content.className = "content";
    (message.content || []).forEach((block) => content.appendChild(renderBlock(block, message.role)));
    // Present only when the link includes attachments; their URLs go through the share.
    if (message.attachments && message.attachments.length) el.appendChild(renderAttachments(message.attachments));
    if (NOTES[message.status]) {
      const note = el.appendChild(document.createElement("div"));
      note.className = "message-note muted";
      note.textContent = NOTES[message.status];
    }
    return el;
  }

  if (state.messages.length) list.replaceChildren(...state.messages.map(renderMessage));
})();
