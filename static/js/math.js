// Math in replies: $…$, $$…$$, \(…\) and \[…\] as a markdown-it plugin, rendered to MathML by
// the vendored KaTeX, and the sanitizer options that let exactly its MathML through (decision 90).
(function () {
  "use strict";

  // What KaTeX's MathML output (output: "mathml", trust off) is made of, and nothing more:
  // no mglyph (\includegraphics) and no href (\href), which need trust.
  const TAGS = [
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msup", "msub",
    "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose",
  ];
  const ATTRIBUTES = [
    "display", "encoding", "mathvariant", "mathsize", "mathcolor", "mathbackground", "stretchy",
    "fence", "separator", "lspace", "rspace", "minsize", "maxsize", "largeop", "accent",
    "accentunder", "scriptlevel", "displaystyle", "linethickness", "width", "height", "depth",
    "voffset", "notation", "columnalign", "columnspacing", "columnlines", "rowspacing", "rowlines",
    "linebreak",
  ];
  const SANITIZE = { ADD_TAGS: TAGS, ADD_ATTR: ATTRIBUTES };

  const OPTIONS = {
    output: "mathml", // no inline styles and no fonts: the CSP keeps style-src 'self'
    throwOnError: true, // an error shows the source, not KaTeX's red span (a style attribute)
    trust: false,
    strict: false, // Japanese in \text{} or in math is fine, not a console warning
    maxSize: 50, // em: a \rule or \kern cannot cover the page
    maxExpand: 1000,
  };

  // A streaming reply is rendered again on every frame: each formula is typeset once.
  const cache = new Map();
  const CACHE_SIZE = 500;

  function typeset(tex, display) {
    const key = (display ? "D" : "I") + tex;
    if (cache.has(key)) return cache.get(key);
    let html = null;
    try {
      // Only \pmb and \fcolorbox write a style attribute: dropped, as the CSP would drop it.
      html = window.katex.renderToString(tex, { ...OPTIONS, displayMode: display }).replace(/ style="[^"]*"/g, "");
    } catch (e) {
      html = null; // unfinished or invalid: the source stays as text
    }
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value);
    cache.set(key, html);
    return html;
  }

  function source(md, token, tag) {
    const text = token.markup + token.content + (token.info || "");
    return "<" + tag + ' class="math-source">' + md.utils.escapeHtml(text) + "</" + tag + ">";
  }

  function isSpace(ch) {
    return ch === " " || ch === "\t" || ch === "\n" || ch === "\r";
  }

  function isDigit(ch) {
    return ch >= "0" && ch <= "9";
  }

  // The closing $ of $…$: as Pandoc and KaTeX's auto-render read dollars, an opening $ is
  // followed by a non-space, a closing one follows a non-space and is not followed by a digit,
  // so "$5 and $10" stays money.
  function closingDollar(src, from) {
    for (let i = from; i < src.length; i++) {
      if (src[i] === "\\") i += 1;
      else if (src[i] === "$" && src[i + 1] === "$") i += 1; // a $$ is display math's, never $…$'s end
      else if (src[i] === "$" && !isSpace(src[i - 1]) && !isDigit(src[i + 1] || "")) return i;
    }
    return -1;
  }

  function pushMath(state, type, tex, open, close, display) {
    const token = state.push(type, "math", 0);
    token.content = tex;
    token.markup = open;
    token.info = close;
    token.meta = { display };
  }

  function inlineRule(state, silent) {
    const src = state.src;
    const start = state.pos;
    const ch = src[start];
    let open, close, display;
    if (ch === "\\" && (src[start + 1] === "(" || src[start + 1] === "[")) {
      display = src[start + 1] === "[";
      open = display ? "\\[" : "\\(";
      close = display ? "\\]" : "\\)";
    } else if (ch === "$" && src[start + 1] === "$") {
      open = close = "$$";
      display = true;
    } else if (ch === "$") {
      if (start + 1 >= state.posMax || isSpace(src[start + 1])) return false;
      const end = closingDollar(src, start + 1);
      if (end < 0 || end >= state.posMax) return false;
      if (!silent) pushMath(state, "math_inline", src.slice(start + 1, end), "$", "$", false);
      state.pos = end + 1;
      return true;
    } else {
      return false;
    }
    const end = src.indexOf(close, start + open.length);
    if (end < 0 || end + close.length > state.posMax || !src.slice(start + open.length, end).trim()) {
      if (open !== "$$") return false; // \( and \[ without an end: markdown's escapes
      // An unclosed $$ (a reply still streaming) stays text, not an inline $…$ starting at
      // its second dollar that would turn into display math a moment later.
      if (!silent) state.pending += "$$";
      state.pos = start + 2;
      return true;
    }
    if (!silent) pushMath(state, "math_inline", src.slice(start + open.length, end), open, close, display);
    state.pos = end + close.length;
    return true;
  }

  // Display math opening a line, up to the line that ends with its closing delimiter. While
  // the reply streams, an unclosed block takes the rest of the text and shows it as source,
  // so a formula being written neither flickers into an error nor into markdown.
  function blockRule(state, startLine, endLine, silent) {
    if (state.sCount[startLine] - state.blkIndent >= 4) return false;
    const first = state.src.slice(state.bMarks[startLine] + state.tShift[startLine], state.eMarks[startLine]);
    const open = first.startsWith("$$") ? "$$" : first.startsWith("\\[") ? "\\[" : null;
    if (!open) return false;
    const close = open === "$$" ? "$$" : "\\]";
    const rest = first.slice(2);
    let last = -1;
    let body = "";
    const within = rest.indexOf(close);
    if (within >= 0) {
      // One line: the whole line is the formula, or it is inline math in a paragraph.
      if (rest.slice(within + 2).trim() || !rest.slice(0, within).trim()) return false;
      last = startLine;
      body = rest.slice(0, within);
    } else {
      const lines = [rest];
      for (let line = startLine + 1; line < endLine; line++) {
        const text = state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]);
        const trimmed = text.trimEnd();
        if (trimmed.endsWith(close)) {
          lines.push(trimmed.slice(0, -2));
          last = line;
          break;
        }
        lines.push(text);
      }
      if (last < 0 && !state.env.streaming) return false; // a stray $$ in a finished reply
      body = lines.join("\n");
    }
    if (silent) return true;
    const token = state.push("math_block", "math", 0);
    token.block = true;
    token.content = body;
    token.markup = open;
    token.info = last < 0 ? "" : close;
    token.meta = { display: true, pending: last < 0 };
    token.map = [startLine, (last < 0 ? endLine - 1 : last) + 1];
    state.line = last < 0 ? endLine : last + 1;
    return true;
  }

  function plugin(md) {
    md.inline.ruler.before("escape", "math_inline", inlineRule);
    md.block.ruler.before("fence", "math_block", blockRule, { alt: ["paragraph", "reference", "blockquote", "list"] });
    md.renderer.rules.math_inline = (tokens, index) => {
      const token = tokens[index];
      return typeset(token.content, token.meta.display) ?? source(md, token, "span");
    };
    md.renderer.rules.math_block = (tokens, index) => {
      const token = tokens[index];
      const html = token.meta.pending ? null : typeset(token.content, true);
      return (html ? '<div class="math-display">' + html + "</div>" : source(md, token, "div")) + "\n";
    };
  }

  window.chatsiteMath = { plugin, sanitize: SANITIZE, available: () => Boolean(window.katex) };
})();
