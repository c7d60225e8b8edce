// The thread when the visible branch changes (conversation.branch): the messages both paths
// share stay, the rest go, and the message where the paths part keeps its place on the screen.
(function () {
  "use strict";

  // `view`: the chat's thread — list (the scrolling element), messages (id -> message),
  // upsert(payload) -> message, following() / follow(bool) (the reader is at the end),
  // pendingEl() (words not yet stored by the server, or null). Returns the new thread.
  function replaceThread(view, payloads) {
    const { list, messages } = view;
    const before = [...list.querySelectorAll(":scope > article.message[data-id]")];
    const wanted = new Set(payloads.map((p) => p.id));
    let parting = 0;
    while (parting < before.length && parting < payloads.length && Number(before[parting].dataset.id) === payloads[parting].id) parting++;
    const anchor = before[parting] || null;
    const anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
    const followingEnd = view.following();
    messages.forEach((m, id) => {
      if (wanted.has(id)) return;
      if (m.frame) cancelAnimationFrame(m.frame);
      m.el.remove();
      messages.delete(id);
    });
    const thread = payloads.map(view.upsert);
    const pending = view.pendingEl();
    if (pending) list.appendChild(pending); // words not yet stored stay last
    const replacement = thread[parting];
    if (followingEnd && (!replacement || parting >= thread.length - 2)) {
      // A change in the last turn (a regenerate, a flip of the last reply) while the reader
      // follows the end: stay at the end as the new version streams.
      view.follow(true);
    } else if (anchor && replacement) {
      list.scrollTop += replacement.el.getBoundingClientRect().top - anchorTop;
      view.follow(list.scrollHeight - list.scrollTop - list.clientHeight < 60);
    }
    return thread;
  }

  window.chatsiteBranches = { replaceThread };
})();
