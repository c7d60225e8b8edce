// The chat header's Export menu: shown, with this conversation's links, once a new chat's first
// message has stored it (chat.js announces that with `chat:conversation-created`).
(function () {
  "use strict";

  document.addEventListener("chat:conversation-created", (event) => {
    const menu = document.getElementById("chat-export");
    const conversation = event.detail;
    if (!menu || !conversation || !conversation.url) return;
    menu.querySelectorAll("a[data-extension]").forEach((link) => {
      link.href = conversation.url + "export." + link.dataset.extension;
    });
    menu.hidden = false;
  });
})();
