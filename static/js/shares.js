// Share pages: the "Copy link" buttons (no inline script, so a strict CSP holds).
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);

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
