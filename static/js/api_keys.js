// The API keys page: copy the new key and the cURL example (no inline script, so a strict CSP holds).
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const { copyText } = window.chatsiteRender;

  document.querySelectorAll("button.copy-key").forEach((button) => {
    const label = button.textContent;
    button.addEventListener("click", () => {
      const source = document.getElementById(button.dataset.copyFrom);
      if (!source) return;
      const text = "value" in source ? source.value : source.textContent;
      if (source.select) source.select();
      copyText(text).then(() => {
        button.textContent = gettext("Copied");
        setTimeout(() => (button.textContent = label), 1500);
      });
    });
  });
})();
