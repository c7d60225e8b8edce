// Message rendering shared by the chat and the shared page: markdown, sanitizer, copy buttons.
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);

  // Pages that only copy text (the share pages) load this without markdown-it.
  const md = window.markdownit && window.markdownit({
    html: false, // raw HTML in model output is shown as text, never parsed
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

  // Sanitized HTML for markdown text. `publicLinks`: links on a public page are no
  // endorsement and must not tell where they came from.
  function renderMarkdown(text, options) {
    const html = window.DOMPurify.sanitize(md.render(text || ""), { USE_PROFILES: { html: true } });
    if (!(options && options.publicLinks)) return html;
    const holder = document.createElement("div");
    holder.innerHTML = html;
    holder.querySelectorAll("a[href]").forEach((a) => a.setAttribute("rel", "nofollow noopener noreferrer"));
    return holder.innerHTML;
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
      if (pre.querySelector(".copy")) return;
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

  function toolTitle(name) {
    return window.interpolate
      ? window.interpolate(gettext("Tool call: %(name)s"), { name: name || "" }, true)
      : "Tool call: " + (name || "");
  }

  window.chatsiteRender = { renderMarkdown, addCopyButtons, copyText, toolTitle };
})();
