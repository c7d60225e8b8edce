// Message rendering shared by the chat and the shared page: markdown, sanitizer, copy buttons,
// attachments.
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

  // Math (static/js/math.js, with KaTeX): its MathML, and only that, passes the sanitizer.
  const math = md && window.chatsiteMath && window.chatsiteMath.available() ? window.chatsiteMath : null;
  if (math) md.use(math.plugin);
  const SANITIZE = { USE_PROFILES: { html: true }, ...(math ? math.sanitize : {}) };

  // Sanitized HTML for markdown text. `publicLinks`: links on a public page are no
  // endorsement and must not tell where they came from. `streaming`: the text is still being
  // written (an unclosed $$ block is a formula on its way, shown as its source).
  function renderMarkdown(text, options) {
    const env = { streaming: Boolean(options && options.streaming) };
    const html = window.DOMPurify.sanitize(md.render(text || "", env), SANITIZE);
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

  function pretty(text) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (e) {
      return text || "";
    }
  }

  // A tool step is one fold: the tool_use block's element shows its input as it streams in,
  // then its result; the tool_result block's own element stays hidden. Open while the input
  // streams, folded when the result arrives (unless the reader opened it).
  function renderToolStep(m, index, el, rerender) {
    const block = m.blocks[index];
    if (block.type === "tool_result") {
      const use = m.blocks.findIndex((b) => b && b.type === "tool_use" && b.id === block.tool_use_id);
      el.hidden = use >= 0;
      if (use >= 0) return rerender(use);
      el.querySelector("summary").textContent = gettext("Tool result");
      el.querySelector(".inner").replaceChildren(preOf(pretty(block.content)));
      return;
    }
    const result = m.blocks.find((b) => b && b.type === "tool_result" && b.tool_use_id === block.id);
    const failed = !!(result && result.is_error);
    el.classList.toggle("failed", failed);
    el.querySelector("summary").textContent = toolTitle(block.name) + (failed ? " " + gettext("(failed)") : "");
    const parts = [preOf(block.input ? JSON.stringify(block.input, null, 2) : block.partial_json || "")];
    if (result) {
      const label = document.createElement("p");
      label.className = "tool-result-label";
      label.textContent = failed ? gettext("Error") : gettext("Result");
      parts.push(label, preOf(pretty(result.content)));
    }
    el.querySelector(".inner").replaceChildren(...parts);
    if (m.status === "streaming" && !result && !el.dataset.auto) {
      el.open = true;
      el.dataset.auto = "open";
    } else if (result && el.dataset.auto === "open") {
      el.open = false;
      el.dataset.auto = "folded";
    }
  }

  function preOf(text) {
    const pre = document.createElement("pre");
    pre.textContent = text;
    return pre;
  }

  // "1.2 MB" in the page's language, from the browser's own unit names.
  function formatSize(bytes) {
    const units = ["byte", "kilobyte", "megabyte", "gigabyte"];
    let value = Number(bytes) || 0;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    const lang = document.documentElement.lang || undefined;
    try {
      const display = unit ? "short" : "narrow"; // "81B", not "81 byte"
      return new Intl.NumberFormat(lang, { style: "unit", unit: units[unit], unitDisplay: display, maximumFractionDigits: unit ? 1 : 0 }).format(value);
    } catch (e) {
      return Math.round(value) + " " + ["B", "kB", "MB", "GB"][unit];
    }
  }

  const KIND_LABELS = { pdf: "PDF", text: gettext("Text"), image: gettext("Image"), image_url: "URL" };

  function kindLabel(attachment) {
    return KIND_LABELS[attachment.kind] || gettext("File");
  }

  // A file chip: its kind, name and size. `href` makes it a link (a download in the thread).
  function fileChip(attachment, href) {
    const chip = document.createElement(href ? "a" : "span");
    chip.className = "attachment-file";
    chip.dataset.kind = attachment.kind || "";
    if (href) {
      chip.href = href;
      if (attachment.kind === "image_url") {
        chip.target = "_blank";
        chip.rel = "noopener noreferrer nofollow";
      } else {
        chip.setAttribute("download", attachment.name || "");
      }
    }
    chip.appendChild(document.createElement("span")).className = "attachment-kind";
    chip.lastChild.textContent = kindLabel(attachment);
    const name = chip.appendChild(document.createElement("span"));
    name.className = "attachment-name";
    name.textContent = attachment.name || attachment.url || "";
    if (attachment.kind !== "image_url") {
      const size = chip.appendChild(document.createElement("span"));
      size.className = "attachment-size";
      size.textContent = formatSize(attachment.size);
    }
    chip.title = attachment.name || attachment.url || "";
    return chip;
  }

  function downloadUrl(url) {
    return url + (url.includes("?") ? "&" : "?") + "download=1";
  }

  // A message's attachments under its words: image thumbnails that open full size in a new
  // tab, file chips that download. An image by URL stays a link: the page's CSP loads images
  // from this site only, and the browser should not fetch a stranger's URL unasked.
  function renderAttachments(attachments) {
    const box = document.createElement("div");
    box.className = "attachments";
    (attachments || []).forEach((attachment) => {
      const item = box.appendChild(document.createElement("div"));
      item.className = "attachment";
      item.dataset.kind = attachment.kind || "";
      if (attachment.id != null) item.dataset.id = attachment.id;
      if (attachment.kind === "image" && attachment.url) {
        const link = item.appendChild(document.createElement("a"));
        link.className = "attachment-image";
        link.href = attachment.url;
        link.target = "_blank";
        link.rel = "noopener";
        link.title = attachment.name || "";
        const img = link.appendChild(document.createElement("img"));
        img.src = attachment.url;
        img.alt = attachment.name || gettext("Image");
        img.loading = "lazy";
        img.decoding = "async";
        if (attachment.width && attachment.height) {
          img.width = attachment.width;
          img.height = attachment.height;
        }
      } else if (attachment.kind === "image_url") {
        item.appendChild(fileChip(attachment, attachment.url));
      } else {
        item.appendChild(fileChip(attachment, attachment.url ? downloadUrl(attachment.url) : null));
      }
    });
    return box;
  }

  // Under a reply whose request left out earlier attachments (the API's per-request limits).
  function leftOutNote(names) {
    const note = document.createElement("div");
    note.className = "attachments-note muted";
    const count = names.length;
    const text = window.ngettext
      ? window.ngettext(
          "%(count)s earlier attachment was left out of this reply's request, over the model provider's limits: %(names)s",
          "%(count)s earlier attachments were left out of this reply's request, over the model provider's limits: %(names)s",
          count,
        )
      : "%(count)s earlier attachments were left out of this reply's request, over the model provider's limits: %(names)s";
    note.textContent = window.interpolate ? window.interpolate(text, { count, names: names.join(", ") }, true) : text;
    return note;
  }

  window.chatsiteRender = { renderMarkdown, addCopyButtons, copyText, toolTitle, renderToolStep, renderAttachments, fileChip, formatSize, leftOutNote };
})();
