// The composer's attachments: pick, drop or paste files, upload each at once to
// POST /attachments/ with a progress bar, and keep the chips until a send takes them.
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const UPLOAD_URL = "/attachments/";
  // Bigger images still upload; their chip just shows no preview (reading them costs memory).
  const PREVIEW_MAX_BYTES = 10 * 1024 * 1024;
  const { fileChip } = window.chatsiteRender;

  function interpolate(text, values) {
    return window.interpolate ? window.interpolate(text, values, true) : text;
  }

  // The token the page's HTMX requests send (base.html's hx-headers on <body>).
  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function refusal(xhr) {
    let body = null;
    try {
      body = JSON.parse(xhr.responseText);
    } catch (e) {
      /* not our JSON: a proxy's page, or nothing */
    }
    if (body && body.error && body.error.message) return body.error.message;
    if (xhr.status === 413) return gettext("This file is too large to upload.");
    if (xhr.status === 403) return gettext("The upload was refused. Reload the page and try again.");
    return gettext("The upload failed. Try again.");
  }

  function guessKind(file) {
    if ((file.type || "").startsWith("image/")) return "image";
    if (file.type === "application/pdf") return "pdf";
    return "text";
  }

  // options: {tray, picker, dropZone, dropHint, messageBox, onChange(busy), showError,
  // clearError, urlForm: {row, input, open, add, cancel}}
  function create(options) {
    const { tray, picker, dropZone, dropHint, messageBox } = options;
    const onChange = options.onChange || (() => {});
    let items = [];
    let nextKey = 1;

    function changed() {
      tray.hidden = items.length === 0;
      onChange(items.some((item) => item.status === "uploading"));
    }

    function removeButton(item) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "upload-remove";
      button.textContent = "×";
      button.setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name: item.name }));
      button.title = gettext("Remove");
      button.addEventListener("click", () => remove(item));
      return button;
    }

    function render(item) {
      const el = item.el || document.createElement("li");
      item.el = el;
      el.className = "upload";
      el.dataset.status = item.status;
      el.dataset.kind = item.kind;
      if (item.attachment) el.dataset.id = item.attachment.id;
      const parts = [];
      if (item.kind === "image" && item.preview && item.status !== "error") {
        const img = document.createElement("img");
        img.className = "upload-thumb";
        img.src = item.preview;
        img.alt = item.name;
        parts.push(img);
      }
      const described = item.attachment || { kind: item.kind, name: item.name, size: item.size, url: item.url };
      parts.push(fileChip(described, null));
      if (item.status === "uploading") {
        // One bar for the whole upload: a preview arriving mid-way must not reset it.
        if (!item.bar) {
          item.bar = document.createElement("progress");
          item.bar.max = 1;
          item.bar.setAttribute("aria-label", interpolate(gettext("Uploading %(name)s"), { name: item.name }));
        }
        if (item.progress != null) item.bar.value = item.progress;
        parts.push(item.bar);
      }
      // The same button across re-renders, so keyboard focus on it survives a preview or an answer.
      item.removeButton = item.removeButton || removeButton(item);
      parts.push(item.removeButton);
      if (item.status === "error") {
        const error = document.createElement("span");
        error.className = "upload-error";
        error.setAttribute("role", "alert");
        error.textContent = item.error;
        parts.push(error);
      }
      el.replaceChildren(...parts);
      if (!el.parentNode) tray.appendChild(el);
    }

    function finish(item, xhr) {
      item.xhr = null;
      if (!items.includes(item)) return; // removed while it uploaded
      let attachment = null;
      if (xhr.status === 201 || xhr.status === 200) {
        try {
          attachment = JSON.parse(xhr.responseText);
        } catch (e) {
          attachment = null;
        }
      }
      if (attachment && attachment.id != null) {
        item.status = "done";
        item.attachment = attachment;
        item.kind = attachment.kind || item.kind;
      } else {
        item.status = "error";
        item.error = attachment ? gettext("The upload failed. Try again.") : refusal(xhr);
      }
      render(item);
      changed();
    }

    function fail(item, message) {
      item.xhr = null;
      if (!items.includes(item)) return;
      item.status = "error";
      item.error = message;
      render(item);
      changed();
    }

    function post(item, body, contentType) {
      const xhr = new XMLHttpRequest();
      item.xhr = xhr;
      xhr.open("POST", UPLOAD_URL);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      if (contentType) xhr.setRequestHeader("Content-Type", contentType);
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        item.progress = event.loaded / event.total;
        if (item.bar) item.bar.value = item.progress;
      });
      xhr.addEventListener("load", () => finish(item, xhr));
      xhr.addEventListener("error", () => fail(item, gettext("The upload failed: the connection was lost.")));
      xhr.send(body);
    }

    // The server forgets an upload the user took back (else the daily purge would).
    function discard(id) {
      const xhr = new XMLHttpRequest();
      xhr.open("DELETE", UPLOAD_URL + encodeURIComponent(id) + "/");
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.send();
    }

    function addFile(file) {
      const item = {
        key: nextKey++,
        name: file.name || "image.png",
        size: file.size,
        kind: guessKind(file),
        status: "uploading",
        progress: null,
      };
      items.push(item);
      if (item.kind === "image" && file.size <= PREVIEW_MAX_BYTES) {
        // A data: URL, not an object URL: the page's CSP allows images from 'self' and data:.
        const reader = new FileReader();
        reader.addEventListener("load", () => {
          item.preview = reader.result;
          if (items.includes(item)) render(item);
        });
        reader.readAsDataURL(file);
      }
      render(item);
      const body = new FormData();
      body.append("file", file, item.name);
      post(item, body, null);
    }

    function addFiles(files) {
      [...(files || [])].forEach(addFile);
      changed();
    }

    function addUrl(url) {
      const item = { key: nextKey++, name: url, size: 0, kind: "image_url", url, status: "uploading", progress: null };
      items.push(item);
      render(item);
      post(item, JSON.stringify({ url }), "application/json");
      changed();
    }

    function remove(item) {
      if (item.xhr) item.xhr.abort();
      item.xhr = null;
      if (item.attachment) discard(item.attachment.id);
      items = items.filter((other) => other !== item);
      const hadFocus = item.el && item.el.contains(document.activeElement);
      if (item.el) item.el.remove();
      if (hadFocus) messageBox.focus(); // not lost on <body> when the chip goes
      changed();
    }

    // The uploaded files a send carries, taken out of the tray (refused ones are dropped:
    // their chip said why, and they are not sent).
    function take() {
      const taken = items.filter((item) => item.status === "done");
      items.filter((item) => item.status !== "uploading").forEach((item) => item.el && item.el.remove());
      items = items.filter((item) => item.status === "uploading");
      changed();
      return taken;
    }

    // A refused or lost send: its files come back, before anything added since.
    function restore(taken) {
      const back = (taken || []).filter((item) => !items.includes(item));
      items = [...back, ...items];
      back.reverse().forEach((item) => {
        render(item);
        tray.prepend(item.el);
      });
      changed();
    }

    // Files the server has stored with a message: no longer the composer's.
    function forget(ids) {
      const stored = new Set((ids || []).map(String));
      items
        .filter((item) => item.attachment && stored.has(String(item.attachment.id)))
        .forEach((item) => {
          items = items.filter((other) => other !== item);
          item.el.remove();
        });
      changed();
    }

    function busy() {
      return items.some((item) => item.status === "uploading");
    }

    function ready() {
      return items.filter((item) => item.status === "done");
    }

    picker.addEventListener("change", () => {
      addFiles(picker.files);
      picker.value = ""; // the same file may be picked again after a remove
    });

    // Anywhere on the page, not only in the message box: a screenshot pasted right after
    // taking it lands wherever the focus happens to be.
    document.addEventListener("paste", (event) => {
      const data = event.clipboardData;
      const files = data ? [...data.files] : [];
      if (!files.length) return;
      // A copied picture often comes with its text too: keep the text only when there is some.
      if (!data.getData("text/plain")) event.preventDefault();
      addFiles(files);
    });

    // Drag and drop onto the whole chat. The counter: dragenter/leave fire for every child.
    let depth = 0;
    const carriesFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
    dropZone.addEventListener("dragenter", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth += 1;
      dropHint.hidden = false;
    });
    dropZone.addEventListener("dragover", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    dropZone.addEventListener("dragleave", (event) => {
      if (!carriesFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (!depth) dropHint.hidden = true;
    });
    dropZone.addEventListener("drop", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth = 0;
      dropHint.hidden = true;
      addFiles(event.dataTransfer.files);
    });
    // A file dropped just outside the chat must not make the browser leave for it (and lose
    // what is typed).
    ["dragover", "drop"].forEach((type) =>
      window.addEventListener(type, (event) => {
        if (carriesFiles(event)) event.preventDefault();
      }),
    );

    if (options.urlForm) bindUrlForm(options.urlForm, addUrl, options);
    changed();
    return { addFiles, addUrl, take, restore, forget, busy, ready };
  }

  // "Add image by URL": a small row that posts the address, never fetched by this page.
  function bindUrlForm(form, addUrl, options) {
    const { row, input, open, add, cancel } = form;
    function toggle(show) {
      row.hidden = !show;
      open.setAttribute("aria-expanded", String(show));
      if (show) input.focus();
    }
    function submit() {
      const url = input.value.trim();
      if (!url) return;
      if (!/^https:\/\/\S+$/i.test(url)) {
        options.showError(gettext("Enter an image address that starts with https://."));
        return;
      }
      options.clearError();
      addUrl(url);
      input.value = "";
      toggle(false);
      options.messageBox.focus();
    }
    open.addEventListener("click", () => toggle(row.hidden));
    cancel.addEventListener("click", () => toggle(false));
    add.addEventListener("click", submit);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        submit();
      } else if (event.key === "Escape") {
        toggle(false);
      }
    });
  }

  window.chatsiteUploads = { create };
})();
