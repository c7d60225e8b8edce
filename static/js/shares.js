// Share pages: the "Copy link" buttons (no inline script, so a strict CSP holds).
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const { copyText } = window.chatsiteRender;

  document.querySelectorAll("button.copy-link").forEach((button) => {
    const label = button.textContent;
    button.addEventListener("click", () => {
      const source = button.dataset.copyFrom && document.getElementById(button.dataset.copyFrom);
      const url = source ? source.value : button.dataset.copyUrl;
      if (source) source.select();
      copyText(url).then(() => {
        button.textContent = gettext("Copied");
        setTimeout(() => (button.textContent = label), 1500);
      });
    });
  });
})();
