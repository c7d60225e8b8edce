// Sidebar search (templates/conversations/partials/search.html): HTMX fetches the results;
// this adds Escape to clear the box and, on a conversation opened from a result, the jump to
// the matching message (the link's #m-ID).
(function () {
  "use strict";

  const input = document.getElementById("search-input");
  const results = document.getElementById("search-results");

  if (input && results) {
    // Emptying the box while typing clears the results; only a submitted empty search asks
    // the server, which says what to type.
    input.form.addEventListener("htmx:beforeRequest", (event) => {
      const trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
      if (!input.value.trim() && trigger && trigger.type === "input") {
        event.preventDefault();
        results.replaceChildren();
      }
    });
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.isComposing || event.keyCode === 229) return;
      if (!input.value && !results.childElementCount) return; // let Escape reach the page
      event.preventDefault();
      event.stopPropagation(); // clearing the search is not "stop the reply"
      input.value = "";
      results.replaceChildren();
    });
  }

  function showMatch() {
    const found = /^#m-(\d+)$/.exec(location.hash);
    if (!found) return;
    const target = document.querySelector(`.message[data-id="${found[1]}"]`);
    if (!target) return; // a version not on the visible branch: the thread shows as it is
    target.classList.add("search-target");
    target.scrollIntoView({ block: "center" });
  }
  // After chat.js has drawn the thread and scrolled it to its end.
  requestAnimationFrame(showMatch);
  window.addEventListener("hashchange", showMatch);
})();
