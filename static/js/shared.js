// Shared snapshot page: renders the frozen messages with the chat's markdown and sanitizer.
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const stateEl = document.getElementById("share-state");
  const list = document.getElementById("shared-messages");
  if (!stateEl || !list || !window.markdownit || !window.DOMPurify) return; // keep the server's text

  const state = JSON.parse(stateEl.textContent);

  // The same options as static/js/chat.js: raw HTML in model output is shown as text.
  const md = window.markdownit({
    html: false,
    linkify: true,
    highlight(code, lang) {
      if (lang && window.hljs && window.hljs.getLanguage(lang)) {
        try {
          return window.hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
        } catch (e) {
          /* fall through to plain text */
        }
      }
      return "";
    },
  });

  function renderMarkdown(text) {
    const html = window.DOMPurify.sanitize(md.render(text || ""), { USE_PROFILES: { html: true } });
    const holder = document.createElement("div");
    holder.innerHTML = html;
    // Links in a public page are not endorsements, and must not learn where they came from.
    holder.querySelectorAll("a[href]").forEach((a) => a.setAttribute("rel", "nofollow noopener noreferrer"));
    return holder;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    return Promise.resolve();
  }

  function addCopyButtons(container) {
    container.querySelectorAll("pre").forEach((pre) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy";
      button.textContent = gettext("Copy");
      button.addEventListener("click", () => {
        const code = pre.querySelector("code");
        copyText(code ? code.textContent : pre.textContent).then(() => {
          button.textContent = gettext("Copied");
          setTimeout(() => (button.textContent = gettext("Copy")), 1500);
        });
      });
      pre.appendChild(button);
    });
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
      const title = window.interpolate
        ? window.interpolate(gettext("Tool call: %(name)s"), { name: block.name || "" }, true)
        : "Tool call: " + (block.name || "");
      const { details, inner } = collapsed("tool_use", title);
      const pre = document.createElement("pre");
      pre.textContent = block.input ? JSON.stringify(block.input, null, 2) : block.partial_json || "";
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
    if (NOTES[message.status]) {
      const note = el.appendChild(document.createElement("div"));
      note.className = "message-note muted";
      note.textContent = NOTES[message.status];
    }
    return el;
  }

  if (state.messages.length) list.replaceChildren(...state.messages.map(renderMessage));
})();
