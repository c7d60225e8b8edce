// Keyboard shortcuts of the chat page and their help dialog (partials/shortcuts_help.html).
// None acts while an input method is composing (the keydown that confirms a Japanese
// conversion is not a shortcut), and single keys ("?") not while the member types in a box.
(function () {
  "use strict";

  const help = document.getElementById("shortcuts-help");
  const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

  if (help) {
    if (isMac) help.querySelectorAll("kbd.mod").forEach((kbd) => (kbd.textContent = "⌘"));
    help.querySelector(".shortcuts-help-close").addEventListener("click", () => help.close());
  }

  function typingIn(target) {
    if (!(target instanceof Element)) return false;
    return target.isContentEditable || target.matches("input, textarea, select");
  }

  function visible(el) {
    return el && !el.hidden && el.offsetParent !== null;
  }

  function focusSearch() {
    const search = document.getElementById("search-input");
    if (!search) return;
    const sidebar = document.getElementById("sidebar");
    const toggle = document.getElementById("sidebar-toggle");
    // On a phone the sidebar slides in first.
    if (sidebar && toggle && visible(toggle) && !sidebar.classList.contains("open")) toggle.click();
    search.focus();
    search.select();
  }

  const actions = {
    "new-chat": () => {
      const link = document.querySelector(".new-chat");
      if (link) location.href = link.href;
    },
    search: focusSearch,
    focus: () => {
      const box = document.getElementById("composer-input");
      if (box) box.focus();
    },
    stop: () => {
      const stop = document.getElementById("stop-button");
      if (!visible(stop)) return false; // nothing streams: Escape keeps its usual meaning
      stop.click();
    },
    help: () => {
      if (help && !help.open) help.showModal();
    },
  };

  function shortcutOf(event) {
    const mod = isMac ? event.metaKey : event.ctrlKey;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (mod && event.shiftKey && !event.altKey && key === "o") return "new-chat";
    if (mod && !event.shiftKey && !event.altKey && key === "k") return "search";
    if (event.ctrlKey || event.metaKey || event.altKey) return null;
    if (key === "Escape") return event.shiftKey ? "focus" : "stop";
    if (event.key === "?" && !typingIn(event.target)) return "help";
    return null;
  }

  document.addEventListener("keydown", (event) => {
    if (event.isComposing || event.keyCode === 229 || event.defaultPrevented) return;
    const name = shortcutOf(event);
    if (!name) return;
    // An open dialog (this help, "Get code") keeps its own keys: Escape closes it.
    if (document.querySelector("dialog[open]")) return;
    if (actions[name]() === false) return;
    event.preventDefault();
  });
})();
