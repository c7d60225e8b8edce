// The chat header's title: renamed inline (Enter saves, Escape cancels) through the rename
// page's own POST, and updated when the server names the conversation (conversation.updated).
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  // The server's rule (services.edit_conversation): runs of whitespace become one space, 200
  // characters at most; an empty title reads "New chat".
  function normalise(title) {
    return title.split(/\s+/).filter(Boolean).join(" ").slice(0, 200);
  }

  function create(options) {
    const { heading, renameLink, onRenamed, showError } = options;
    let conversation = options.conversation; // {id, title, url} or null before the first send
    let input = null;

    function show(title) {
      conversation.title = title;
      heading.textContent = title;
      document.title = title + " · chatsite";
    }

    function set(next) {
      conversation = { ...next };
      renameLink.href = next.url + "rename/";
      renameLink.hidden = false;
      heading.classList.add("renamable");
      if (input) input.dataset.original = next.title; // the reader is typing: keep their words
      else show(next.title);
    }

    function start() {
      if (!conversation || input) return;
      input = document.createElement("input");
      input.type = "text";
      input.className = "chat-title-input";
      input.id = "chat-title-input";
      input.maxLength = 200;
      input.value = conversation.title;
      input.dataset.original = conversation.title;
      input.setAttribute("aria-label", gettext("Conversation title"));
      heading.replaceChildren(input);
      renameLink.hidden = true;
      input.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.preventDefault();
          finish(false);
        } else if (event.key === "Enter" && !event.isComposing && event.keyCode !== 229) {
          event.preventDefault(); // Enter that confirms a Japanese IME conversion must not save
          finish(true);
        }
      });
      input.addEventListener("blur", () => finish(true));
      input.focus();
      input.select();
    }

    function finish(save) {
      if (!input) return;
      const original = input.dataset.original;
      const wanted = normalise(input.value);
      input = null;
      renameLink.hidden = false;
      show(original);
      renameLink.focus();
      if (!save || wanted === normalise(original)) return;
      show(wanted || gettext("New chat"));
      const body = new FormData();
      body.append("title", wanted);
      // HX-Request: the view answers with the sidebar instead of redirecting to the chat.
      fetch(renameLink.href, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      })
        .then((response) => {
          if (!response.ok) throw new Error(String(response.status));
          onRenamed();
        })
        .catch(() => {
          show(original);
          showError(gettext("The title could not be saved. Try again."));
        });
    }

    renameLink.addEventListener("click", (event) => {
      event.preventDefault(); // without JavaScript the link opens the rename page instead
      start();
    });
    heading.addEventListener("dblclick", start);
    if (conversation) set(conversation);

    return { set, editing: () => Boolean(input) };
  }

  window.chatsiteTitle = { create };
})();
