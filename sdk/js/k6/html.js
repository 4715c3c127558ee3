// k6's `k6/html` on Volley, in plain JavaScript inside the guest: `parseHTML(src)` (and
// `res.html()` in k6/http) returns a jQuery-like Selection over a parsed document, with k6's
// method names and results (k6 wraps goquery: golang.org/x/net/html's parser and cascadia's
// selectors). Everything lives in the VU's own linear memory, under its memory cap and CPU
// deadline; the host holds nothing for it (docs/design/013-k6-html.md says why).

const ELEMENT = 1;
const TEXT = 3;
const COMMENT = 8;
const DOCUMENT = 9;
const DOCTYPE = 10;

// ---------------------------------------------------------------------------------------------
// Nodes

/** The attributes and children of a node that has none (text, comment, doctype): shared. */
const NONE = Object.freeze([]);

/** One node of a parsed document: element, text, comment, document or doctype. */
class Node {
  constructor(type, name, parent) {
    this.type = type;
    /** Tag name (lower case) of an element, name of a doctype, '' otherwise. */
    this.name = name;
    /** Text of a text or comment node. */
    this.data = '';
    /** `[name, value]` pairs of an element, in source order, first of a duplicate kept. */
    this.attrs = type === ELEMENT ? [] : NONE;
    this.children = type === ELEMENT || type === DOCUMENT ? [] : NONE;
    this.parent = parent || null;
  }

  attr(name) {
    for (const a of this.attrs) if (a[0] === name) return a[1];
    return undefined;
  }
}

function append(parent, node) {
  node.parent = parent;
  parent.children.push(node);
  return node;
}

/** Appends `text` to `parent`, merged into its last child when that is text (as Go's parser does). */
function appendText(parent, text) {
  if (text === '') return;
  const last = parent.children[parent.children.length - 1];
  if (last && last.type === TEXT) last.data += text;
  else append(parent, new Node(TEXT, '', parent)).data = text;
}

// ---------------------------------------------------------------------------------------------
// Character references

const ENTITIES = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', copy: '\u00a9', reg: '\u00ae',
  trade: '\u2122', hellip: '\u2026', mdash: '\u2014', ndash: '\u2013', laquo: '\u00ab', raquo: '\u00bb',
  lsquo: '\u2018', rsquo: '\u2019', ldquo: '\u201c', rdquo: '\u201d', sbquo: '\u201a', bdquo: '\u201e',
  bull: '\u2022', middot: '\u00b7', euro: '\u20ac', pound: '\u00a3', yen: '\u00a5', cent: '\u00a2',
  sect: '\u00a7', deg: '\u00b0', plusmn: '\u00b1', times: '\u00d7', divide: '\u00f7', para: '\u00b6',
  frac12: '\u00bd', frac14: '\u00bc', frac34: '\u00be', sup1: '\u00b9', sup2: '\u00b2', sup3: '\u00b3',
  micro: '\u00b5', iexcl: '\u00a1', iquest: '\u00bf', shy: '\u00ad', ordf: '\u00aa', ordm: '\u00ba',
  not: '\u00ac', macr: '\u00af', acute: '\u00b4', cedil: '\u00b8', uml: '\u00a8', curren: '\u00a4',
  brvbar: '\u00a6', larr: '\u2190', rarr: '\u2192', uarr: '\u2191', darr: '\u2193', harr: '\u2194',
  hearts: '\u2665', check: '\u2713', dagger: '\u2020', Dagger: '\u2021', permil: '\u2030', prime: '\u2032',
  Prime: '\u2033', minus: '\u2212', le: '\u2264', ge: '\u2265', ne: '\u2260', infin: '\u221e',
  thinsp: '\u2009', ensp: '\u2002', emsp: '\u2003', zwnj: '\u200c', zwj: '\u200d', lrm: '\u200e', rlm: '\u200f',
  Agrave: '\u00c0', Aacute: '\u00c1', Acirc: '\u00c2', Atilde: '\u00c3', Auml: '\u00c4', Aring: '\u00c5',
  AElig: '\u00c6', Ccedil: '\u00c7', Egrave: '\u00c8', Eacute: '\u00c9', Ecirc: '\u00ca', Euml: '\u00cb',
  Igrave: '\u00cc', Iacute: '\u00cd', Icirc: '\u00ce', Iuml: '\u00cf', ETH: '\u00d0', Ntilde: '\u00d1',
  Ograve: '\u00d2', Oacute: '\u00d3', Ocirc: '\u00d4', Otilde: '\u00d5', Ouml: '\u00d6', Oslash: '\u00d8',
  Ugrave: '\u00d9', Uacute: '\u00da', Ucirc: '\u00db', Uuml: '\u00dc', Yacute: '\u00dd', THORN: '\u00de',
  szlig: '\u00df', agrave: '\u00e0', aacute: '\u00e1', acirc: '\u00e2', atilde: '\u00e3', auml: '\u00e4',
  aring: '\u00e5', aelig: '\u00e6', ccedil: '\u00e7', egrave: '\u00e8', eacute: '\u00e9', ecirc: '\u00ea',
  euml: '\u00eb', igrave: '\u00ec', iacute: '\u00ed', icirc: '\u00ee', iuml: '\u00ef', eth: '\u00f0',
  ntilde: '\u00f1', ograve: '\u00f2', oacute: '\u00f3', ocirc: '\u00f4', otilde: '\u00f5', ouml: '\u00f6',
  oslash: '\u00f8', ugrave: '\u00f9', uacute: '\u00fa', ucirc: '\u00fb', uuml: '\u00fc', yacute: '\u00fd',
  thorn: '\u00fe', yuml: '\u00ff',
};

/** Names HTML decodes even without their `;` (the legacy subset of the table above). */
const LEGACY = new Set(['amp', 'lt', 'gt', 'quot', 'nbsp', 'copy', 'reg', 'shy', 'deg', 'times', 'divide']);

/** Windows-1252 code points that numeric references in 0x80–0x9F stand for (HTML's table). */
const C1 = {
  0x80: 0x20ac, 0x82: 0x201a, 0x83: 0x0192, 0x84: 0x201e, 0x85: 0x2026, 0x86: 0x2020, 0x87: 0x2021,
  0x88: 0x02c6, 0x89: 0x2030, 0x8a: 0x0160, 0x8b: 0x2039, 0x8c: 0x0152, 0x8e: 0x017d, 0x91: 0x2018,
  0x92: 0x2019, 0x93: 0x201c, 0x94: 0x201d, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02dc,
  0x99: 0x2122, 0x9a: 0x0161, 0x9b: 0x203a, 0x9c: 0x0153, 0x9e: 0x017e, 0x9f: 0x0178,
};

const REFERENCE = /&(?:#[xX]([0-9a-fA-F]+);?|#([0-9]+);?|([A-Za-z][A-Za-z0-9]*);?)/g;

/** `text` with its character references decoded (`inAttr`: a legacy name followed by `=` or an
 * alphanumeric stays as written, as HTML says for attribute values). */
function unescape(text, inAttr) {
  if (text.indexOf('&') < 0) return text;
  return text.replace(REFERENCE, (whole, hex, dec, name, offset) => {
    if (hex !== undefined || dec !== undefined) {
      let cp = hex !== undefined ? parseInt(hex, 16) : parseInt(dec, 10);
      if (C1[cp]) cp = C1[cp];
      if (!(cp > 0) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
      return String.fromCodePoint(cp);
    }
    const terminated = whole.endsWith(';');
    if (terminated && ENTITIES[name] !== undefined) return ENTITIES[name];
    // The longest legacy prefix of an unterminated name (`&ampx` is `&x`).
    for (let n = name.length; n >= 2; n--) {
      const prefix = name.slice(0, n);
      if (!LEGACY.has(prefix)) continue;
      if (terminated && n === name.length) break;
      const next = text[offset + 1 + n];
      if (inAttr && next !== undefined && /[=A-Za-z0-9]/.test(next)) return whole;
      return ENTITIES[prefix] + whole.slice(1 + n);
    }
    return whole;
  });
}

// ---------------------------------------------------------------------------------------------
// Tokenizer and tree builder: HTML's parsing algorithm, simplified to what documents a load
// test fetches need (implied html/head/body, tbody and optional end tags, raw text elements).

const VOID = new Set([
  'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'keygen', 'link', 'meta', 'param',
  'source', 'track', 'wbr', 'basefont', 'bgsound', 'frame',
]);
const RAW_TEXT = new Set(['script', 'style', 'xmp', 'iframe', 'noembed', 'noframes', 'noscript']);
const RCDATA = new Set(['title', 'textarea']);
const HEAD_ONLY = new Set(['base', 'basefont', 'bgsound', 'link', 'meta', 'title', 'style', 'script', 'noscript', 'template', 'noframes']);
const CLOSES_P = new Set([
  'address', 'article', 'aside', 'blockquote', 'center', 'details', 'dialog', 'dir', 'div', 'dl',
  'fieldset', 'figcaption', 'figure', 'footer', 'header', 'hgroup', 'main', 'menu', 'nav', 'ol', 'p',
  'section', 'summary', 'ul', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'pre', 'listing', 'form', 'hr',
  'plaintext', 'xmp', 'table',
]);
const HEADINGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
/** Elements that bound the search for an open `li`/`dd`/`dt`/`p` to close. */
const SCOPE = new Set(['applet', 'caption', 'html', 'table', 'td', 'th', 'marquee', 'object', 'template']);
const LIST_SCOPE = new Set([...SCOPE, 'ol', 'ul']);
const SPECIAL_STOP = new Set([...SCOPE, 'ol', 'ul', 'dl', 'div', 'section', 'article', 'nav', 'aside', 'form', 'fieldset', 'body']);
const ROW_GROUPS = new Set(['tbody', 'thead', 'tfoot']);
const CELLS = new Set(['td', 'th']);
const WHITESPACE = /^[ \t\n\f\r]*$/;

/** The stack of open elements, counting them by name so that asking whether a `p` or `li` is
 * open costs nothing in a deep document (else every block start would scan the whole stack). */
class OpenElements {
  constructor() {
    this.items = [];
    this.counts = new Map();
  }

  has(name) {
    return (this.counts.get(name) || 0) > 0;
  }

  push(node) {
    this.items.push(node);
    this.counts.set(node.name, (this.counts.get(node.name) || 0) + 1);
  }

  pop() {
    const node = this.items.pop();
    if (node) this.counts.set(node.name, this.counts.get(node.name) - 1);
    return node;
  }

  truncate(length) {
    while (this.items.length > length) this.pop();
  }

  reset(nodes) {
    this.truncate(0);
    for (const n of nodes) this.push(n);
  }
}

/** The parser's state: the document, the stack of open elements and where text goes. */
class TreeBuilder {
  constructor() {
    this.doc = new Node(DOCUMENT, '');
    this.stack = new OpenElements();
    this.html = null;
    this.head = null;
    this.body = null;
    this.afterBody = false;
    this.quirks = true;
  }

  current() {
    return this.stack.items[this.stack.items.length - 1];
  }

  ensureHtml() {
    if (!this.html) {
      this.html = append(this.doc, new Node(ELEMENT, 'html'));
      this.stack.push(this.html);
    }
  }

  ensureHead() {
    this.ensureHtml();
    if (!this.head) {
      this.head = append(this.html, new Node(ELEMENT, 'head'));
    }
  }

  ensureBody() {
    this.ensureHead();
    if (!this.body) {
      this.body = append(this.html, new Node(ELEMENT, 'body'));
      this.stack.reset([this.html, this.body]);
    }
  }

  doctype(text) {
    const name = (text.trim().split(/[ \t\n\f\r]+/)[0] || '').toLowerCase();
    if (this.html) return;
    this.quirks = name !== 'html';
    append(this.doc, new Node(DOCTYPE, name));
  }

  comment(text) {
    const node = new Node(COMMENT, '');
    node.data = text;
    if (!this.html) append(this.doc, node);
    else if (this.afterBody) append(this.html, node);
    else append(this.body ? this.current() : this.head || this.html, node);
  }

  text(text) {
    if (text === '') return;
    if (!this.body) {
      if (WHITESPACE.test(text)) {
        // Whitespace before <html>/<head> is dropped; in the head it stays there; after it,
        // it goes in <html>.
        if (this.head) appendText(this.headClosed ? this.html : this.head, text);
        return;
      }
      const lead = text.match(/^[ \t\n\f\r]*/)[0];
      if (lead && this.head) appendText(this.headClosed ? this.html : this.head, lead);
      text = text.slice(lead.length);
      this.ensureBody();
    }
    this.afterBody = false;
    let parent = this.current();
    if (parent.name === 'table' || ROW_GROUPS.has(parent.name) || parent.name === 'tr') {
      if (WHITESPACE.test(text)) {
        appendText(parent, text);
        return;
      }
      // Text in a table is moved before it ("foster parenting").
      const table = this.open('table');
      if (table && table.parent) {
        const siblings = table.parent.children;
        const at = siblings.indexOf(table);
        const prev = siblings[at - 1];
        if (prev && prev.type === TEXT) prev.data += text;
        else {
          const node = new Node(TEXT, '', table.parent);
          node.data = text;
          siblings.splice(at, 0, node);
        }
        return;
      }
    }
    appendText(parent, text);
  }

  /** The nearest open element named `name`, or null. */
  open(name) {
    if (!this.stack.has(name)) return null;
    for (let i = this.stack.items.length - 1; i >= 0; i--) if (this.stack.items[i].name === name) return this.stack.items[i];
    return null;
  }

  /** Pops the stack up to and including the nearest open `name` (nothing when none is open
   * below a `stop` element); returns whether it was open. */
  close(name, stop) {
    if (!this.stack.has(name)) return false;
    for (let i = this.stack.items.length - 1; i > 0; i--) {
      const n = this.stack.items[i].name;
      if (n === name) {
        this.stack.truncate(i);
        return true;
      }
      if (stop && stop.has(n)) return false;
    }
    return false;
  }

  push(name, attrs) {
    const node = new Node(ELEMENT, name);
    node.attrs = attrs;
    append(this.current(), node);
    if (!VOID.has(name)) this.stack.push(node);
    return node;
  }

  start(name, attrs) {
    if (name === 'html') {
      this.ensureHtml();
      for (const a of attrs) if (this.html.attr(a[0]) === undefined) this.html.attrs.push(a);
      return null;
    }
    if (!this.body) {
      if (name === 'head') {
        if (!this.head) {
          this.ensureHtml();
          this.head = append(this.html, new Node(ELEMENT, 'head'));
          this.head.attrs = attrs;
        }
        return null;
      }
      if (HEAD_ONLY.has(name)) {
        this.ensureHead();
        const node = new Node(ELEMENT, name);
        node.attrs = attrs;
        return append(this.head, node);
      }
      if (name === 'body') {
        this.ensureHead();
        this.body = append(this.html, new Node(ELEMENT, 'body'));
        this.body.attrs = attrs;
        this.stack.reset([this.html, this.body]);
        return null;
      }
      this.ensureBody();
    }
    this.afterBody = false;
    if (name === 'body') {
      for (const a of attrs) if (this.body.attr(a[0]) === undefined) this.body.attrs.push(a);
      return null;
    }
    if (name === 'head') return null;
    if (CLOSES_P.has(name) && !(name === 'table' && this.quirks)) this.close('p', SCOPE);
    if (HEADINGS.has(name) && HEADINGS.has(this.current().name)) this.stack.pop();
    if (name === 'li') this.close('li', LIST_SCOPE);
    if (name === 'dd' || name === 'dt') {
      for (let i = this.stack.items.length - 1; i > 0; i--) {
        const n = this.stack.items[i].name;
        if (n === 'dd' || n === 'dt') {
          this.stack.truncate(i);
          break;
        }
        if (SPECIAL_STOP.has(n)) break;
      }
    }
    if (name === 'option' && this.current().name === 'option') this.stack.pop();
    if (name === 'optgroup') {
      if (this.current().name === 'option') this.stack.pop();
      if (this.current().name === 'optgroup') this.stack.pop();
    }
    if (name === 'a' && this.open('a')) this.close('a');
    if (ROW_GROUPS.has(name) || name === 'tr' || CELLS.has(name) || name === 'caption' || name === 'colgroup') {
      this.table(name);
    }
    return this.push(name, attrs);
  }

  /** Opens the implied table structure for `name` (tbody before a tr, a tr before a cell) and
   * closes the open cell, row or row group it ends. */
  table(name) {
    const within = (names) => {
      for (let i = this.stack.items.length - 1; i > 0; i--) {
        const n = this.stack.items[i].name;
        if (names.includes(n)) return n;
        if (n === 'table') return 'table';
      }
      return null;
    };
    if (!this.open('table')) return;
    if (CELLS.has(name)) {
      const at = within(['td', 'th', 'tr', 'tbody', 'thead', 'tfoot']);
      if (at === 'td' || at === 'th') {
        this.close(at);
      }
      const now = this.current().name;
      if (now === 'table') this.push('tbody', []);
      if (this.current().name !== 'tr' && ROW_GROUPS.has(this.current().name)) this.push('tr', []);
    } else if (name === 'tr') {
      const at = within(['tr', 'tbody', 'thead', 'tfoot']);
      if (at === 'tr') this.close('tr');
      if (this.current().name === 'table') this.push('tbody', []);
    } else if (ROW_GROUPS.has(name)) {
      const at = within(['tbody', 'thead', 'tfoot']);
      if (at && at !== 'table') this.close(at);
    }
  }

  end(name) {
    if (!this.body) {
      if (name === 'head') {
        this.ensureHead();
        this.headClosed = true;
        return;
      }
      if (name !== 'body' && name !== 'html' && name !== 'br' && name !== 'p') return;
      this.ensureBody();
    }
    if (name === 'body' || name === 'html') {
      this.afterBody = true;
      return;
    }
    if (name === 'br') {
      this.push('br', []);
      return;
    }
    if (name === 'p' && !this.close('p', SCOPE)) {
      this.push('p', []);
      this.stack.pop();
      return;
    }
    if (name === 'p') return;
    if (name === 'li') {
      this.close('li', LIST_SCOPE);
      return;
    }
    if (name === 'table') {
      this.close('table');
      return;
    }
    this.close(name, CELLS.has(name) || name === 'tr' || ROW_GROUPS.has(name) ? null : SCOPE);
  }
}

const TAG_NAME = /[^ \t\n\f\r/>]+/y;
const ATTR = /[ \t\n\f\r/]*([^ \t\n\f\r/>][^ \t\n\f\r/>=]*)(?:[ \t\n\f\r]*=[ \t\n\f\r]*(?:"([^"]*)"?|'([^']*)'?|([^ \t\n\f\r>]*)))?/y;

/** Parses `src` into a document (HTML never fails to parse). */
export function parseDocument(src) {
  const b = new TreeBuilder();
  const n = src.length;
  let i = 0;
  let textStart = 0;
  const flush = (to) => {
    if (to > textStart) b.text(unescape(src.slice(textStart, to), false));
  };
  while (i < n) {
    const lt = src.indexOf('<', i);
    if (lt < 0 || lt + 1 >= n) break;
    const c = src[lt + 1];
    if (c === '!') {
      flush(lt);
      if (src.startsWith('<!--', lt)) {
        let end = src.indexOf('-->', lt + 4);
        const text = end < 0 ? src.slice(lt + 4) : src.slice(lt + 4, end);
        b.comment(text);
        i = end < 0 ? n : end + 3;
      } else {
        const end = src.indexOf('>', lt);
        const inner = end < 0 ? src.slice(lt + 2) : src.slice(lt + 2, end);
        if (/^doctype/i.test(inner)) b.doctype(inner.slice(7));
        else b.comment(inner);
        i = end < 0 ? n : end + 1;
      }
      textStart = i;
    } else if (c === '?') {
      flush(lt);
      const end = src.indexOf('>', lt);
      b.comment(end < 0 ? src.slice(lt + 1) : src.slice(lt + 1, end));
      i = textStart = end < 0 ? n : end + 1;
    } else if (c === '/') {
      TAG_NAME.lastIndex = lt + 2;
      const m = isLetter(src.charCodeAt(lt + 2)) ? TAG_NAME.exec(src) : null;
      const end = src.indexOf('>', lt);
      if (!m) {
        if (src[lt + 2] === '>') {
          flush(lt);
          i = textStart = lt + 3;
        } else if (end >= 0 && src[lt + 2] !== undefined) {
          flush(lt);
          b.comment(src.slice(lt + 2, end));
          i = textStart = end + 1;
        } else {
          i = lt + 1;
        }
        continue;
      }
      flush(lt);
      b.end(m[0].toLowerCase());
      i = textStart = end < 0 ? n : end + 1;
    } else if (isLetter(src.charCodeAt(lt + 1))) {
      flush(lt);
      TAG_NAME.lastIndex = lt + 1;
      const name = TAG_NAME.exec(src)[0].toLowerCase();
      let p = TAG_NAME.lastIndex;
      const attrs = [];
      for (;;) {
        while (p < n && ' \t\n\f\r/'.includes(src[p])) p++;
        if (p >= n || src[p] === '>') break;
        ATTR.lastIndex = p;
        const a = ATTR.exec(src);
        if (!a || ATTR.lastIndex === p) {
          p++;
          continue;
        }
        p = ATTR.lastIndex;
        const key = a[1].toLowerCase();
        const raw = a[2] !== undefined ? a[2] : a[3] !== undefined ? a[3] : a[4] !== undefined ? a[4] : '';
        if (!attrs.some((x) => x[0] === key)) attrs.push([key, unescape(raw, true)]);
      }
      i = textStart = p + 1;
      const node = b.start(name, attrs);
      if (node && (RAW_TEXT.has(name) || RCDATA.has(name) || name === 'plaintext')) {
        let close = name === 'plaintext' ? -1 : findClose(src, name, i);
        const body = close < 0 ? src.slice(i) : src.slice(i, close);
        const text = RCDATA.has(name) ? unescape(body, false) : body;
        appendText(node, name === 'textarea' && text[0] === '\n' ? text.slice(1) : text);
        if (node.parent !== b.head && b.current() === node) b.stack.pop();
        if (close < 0) i = textStart = n;
        else {
          const gt = src.indexOf('>', close);
          i = textStart = gt < 0 ? n : gt + 1;
        }
      } else if (node && (name === 'pre' || name === 'listing')) {
        if (src[i] === '\n') i = textStart = i + 1;
        else if (src[i] === '\r' && src[i + 1] === '\n') i = textStart = i + 2;
      }
    } else {
      i = lt + 1;
    }
  }
  flush(n);
  b.ensureBody();
  return b.doc;
}

function isLetter(code) {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** A pattern finding the end tag of each raw text element, by name. */
const CLOSERS = new Map();

/** Where `</name` (case-insensitive, then a space, `/`, `>` or the end) starts at or after
 * `from`; -1. */
function findClose(src, name, from) {
  let re = CLOSERS.get(name);
  if (!re) {
    re = new RegExp(`</${name}(?:[ \\t\\n\\f\\r/>]|$)`, 'gi');
    CLOSERS.set(name, re);
  }
  re.lastIndex = from;
  const m = re.exec(src);
  return m ? m.index : -1;
}

// ---------------------------------------------------------------------------------------------
// Rendering (Go's html.Render, which goquery's Html() uses)

const RAW_RENDER = new Set(['iframe', 'noembed', 'noframes', 'noscript', 'plaintext', 'script', 'style', 'xmp']);
const ESCAPES = { '&': '&amp;', "'": '&#39;', '<': '&lt;', '>': '&gt;', '"': '&#34;', '\r': '&#13;' };

function escape(text) {
  return text.replace(/[&'<>"\r]/g, (c) => ESCAPES[c]);
}

/** Writes `top` as Go's html.Render does, without recursion (a document may nest deeper than
 * the engine's stack). */
function render(top, out) {
  const work = [top];
  while (work.length) {
    const node = work.pop();
    if (typeof node === 'string') {
      out.push(node);
      continue;
    }
    switch (node.type) {
      case TEXT:
        out.push(escape(node.data));
        continue;
      case COMMENT:
        out.push('<!--', node.data, '-->');
        continue;
      case DOCTYPE:
        out.push('<!DOCTYPE ', node.name, '>');
        continue;
      case DOCUMENT:
        for (let i = node.children.length - 1; i >= 0; i--) work.push(node.children[i]);
        continue;
      default:
    }
    out.push('<', node.name);
    for (const [k, v] of node.attrs) out.push(' ', k, '="', escape(v), '"');
    if (VOID.has(node.name)) {
      out.push('/>');
      continue;
    }
    out.push('>');
    const first = node.children[0];
    if (first && first.type === TEXT && first.data[0] === '\n' && (node.name === 'pre' || node.name === 'listing' || node.name === 'textarea')) {
      out.push('\n');
    }
    if (RAW_RENDER.has(node.name)) {
      for (const c of node.children) out.push(c.type === TEXT ? c.data : '');
      out.push('</', node.name, '>');
      continue;
    }
    work.push(`</${node.name}>`);
    for (let i = node.children.length - 1; i >= 0; i--) work.push(node.children[i]);
  }
}

function innerHTML(node) {
  const out = [];
  for (const c of node.children) render(c, out);
  return out.join('');
}

/** Appends the text of `node` and its descendants to `out`, in document order. */
function textOf(node, out) {
  if (node.type === TEXT) {
    out.push(node.data);
    return;
  }
  for (const n of descendants(node)) if (n.type === TEXT) out.push(n.data);
}

// ---------------------------------------------------------------------------------------------
// Selectors (cascadia's grammar: type, #id, .class, [attr op value i], the pseudo-classes
// below, and the ' ', '>', '+', '~' combinators; groups with ',')

function elementChildren(node) {
  return node.children.filter((c) => c.type === ELEMENT);
}

function elementSiblings(node) {
  return node.parent ? elementChildren(node.parent) : [node];
}

/** Whether 1-based position `pos` is `a*n + b` for some n >= 0. */
function nth(a, b, pos) {
  if (a === 0) return pos === b;
  const n = (pos - b) / a;
  return Number.isInteger(n) && n >= 0;
}

function parseNth(arg) {
  const s = arg.replace(/\s+/g, '').toLowerCase();
  if (s === 'odd') return [2, 1];
  if (s === 'even') return [2, 0];
  const m = /^([+-]?\d*)n([+-]\d+)?$/.exec(s);
  if (m) {
    const a = m[1] === '' || m[1] === '+' ? 1 : m[1] === '-' ? -1 : parseInt(m[1], 10);
    return [a, m[2] ? parseInt(m[2], 10) : 0];
  }
  if (/^[+-]?\d+$/.test(s)) return [0, parseInt(s, 10)];
  throw new SyntaxError(`invalid nth expression ${arg}`);
}

function nthMatcher(arg, ofType, fromEnd) {
  const [a, b] = parseNth(arg);
  return (n) => {
    let list = elementSiblings(n);
    if (ofType) list = list.filter((s) => s.name === n.name);
    const i = list.indexOf(n);
    return nth(a, b, fromEnd ? list.length - i : i + 1);
  };
}

function ownText(n) {
  return n.children.filter((c) => c.type === TEXT).map((c) => c.data).join('');
}

function allText(n) {
  const out = [];
  textOf(n, out);
  return out.join('');
}

const PSEUDO = {
  'first-child': () => (n) => elementSiblings(n)[0] === n,
  'last-child': () => (n) => {
    const s = elementSiblings(n);
    return s[s.length - 1] === n;
  },
  'only-child': () => (n) => elementSiblings(n).length === 1,
  'first-of-type': () => (n) => elementSiblings(n).find((s) => s.name === n.name) === n,
  'last-of-type': () => (n) => {
    const s = elementSiblings(n).filter((x) => x.name === n.name);
    return s[s.length - 1] === n;
  },
  'only-of-type': () => (n) => elementSiblings(n).filter((x) => x.name === n.name).length === 1,
  'nth-child': (arg) => nthMatcher(arg, false, false),
  'nth-last-child': (arg) => nthMatcher(arg, false, true),
  'nth-of-type': (arg) => nthMatcher(arg, true, false),
  'nth-last-of-type': (arg) => nthMatcher(arg, true, true),
  not: (arg) => {
    const m = compile(arg);
    return (n) => !m(n);
  },
  has: (arg) => {
    const m = compile(arg);
    return (n) => descendants(n).some(m);
  },
  contains: (arg) => {
    const t = unquote(arg).toLowerCase();
    return (n) => allText(n).toLowerCase().includes(t);
  },
  containsown: (arg) => {
    const t = unquote(arg).toLowerCase();
    return (n) => ownText(n).toLowerCase().includes(t);
  },
  empty: () => (n) => n.children.every((c) => c.type !== ELEMENT && c.type !== TEXT),
  root: () => (n) => !!n.parent && n.parent.type === DOCUMENT,
  checked: () => (n) =>
    (n.name === 'input' && n.attr('checked') !== undefined) || (n.name === 'option' && n.attr('selected') !== undefined),
  disabled: () => (n) => n.attr('disabled') !== undefined,
  enabled: () => (n) =>
    ['button', 'input', 'select', 'textarea', 'option', 'optgroup', 'fieldset'].includes(n.name) && n.attr('disabled') === undefined,
  link: () => (n) => (n.name === 'a' || n.name === 'area' || n.name === 'link') && n.attr('href') !== undefined,
  input: () => (n) => ['input', 'select', 'textarea', 'button'].includes(n.name),
};

function unquote(s) {
  const t = s.trim();
  if ((t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0]) return t.slice(1, -1);
  return t;
}

function attrMatcher(name, op, value, insensitive) {
  const norm = insensitive ? (s) => s.toLowerCase() : (s) => s;
  const v = value === undefined ? undefined : norm(value);
  return (n) => {
    const raw = n.attr(name);
    if (op === '!=') return raw === undefined || norm(raw) !== v;
    if (raw === undefined) return false;
    const a = norm(raw);
    switch (op) {
      case undefined:
        return true;
      case '=':
        return a === v;
      case '~=':
        return v !== '' && !/\s/.test(v) && a.split(/[ \t\n\f\r]+/).includes(v);
      case '|=':
        return a === v || a.startsWith(v + '-');
      case '^=':
        return v !== '' && a.startsWith(v);
      case '$=':
        return v !== '' && a.endsWith(v);
      case '*=':
        return v !== '' && a.includes(v);
      default:
        return false;
    }
  };
}

const IDENT = /(?:\\.|[\w\u00a0-\uffff-])+/y;

/** A selector's parse state over its text. */
class SelectorParser {
  constructor(text) {
    this.s = text;
    this.i = 0;
  }

  fail(what) {
    throw new SyntaxError(`${what} at ${this.i} in selector ${JSON.stringify(this.s)}`);
  }

  spaces() {
    const start = this.i;
    while (this.i < this.s.length && ' \t\n\f\r'.includes(this.s[this.i])) this.i++;
    return this.i > start;
  }

  ident() {
    IDENT.lastIndex = this.i;
    const m = IDENT.exec(this.s);
    if (!m) this.fail('expected a name');
    this.i = IDENT.lastIndex;
    return m[0].replace(/\\(.)/g, '$1');
  }

  /** The text up to the `)` closing the `(` just read, nesting respected. */
  argument() {
    let depth = 1;
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (c === '"' || c === "'") {
        const end = this.s.indexOf(c, this.i + 1);
        if (end < 0) this.fail('unterminated string');
        this.i = end + 1;
        continue;
      }
      if (c === '(') depth++;
      if (c === ')' && --depth === 0) {
        this.i++;
        return this.s.slice(start, this.i - 1);
      }
      this.i++;
    }
    return this.fail('expected )');
  }

  /** A compound selector (`div.a#b[c]:first-child`) as a list of tests, or null at its end. */
  compound() {
    const tests = [];
    const c0 = this.s[this.i];
    if (c0 === '*') this.i++;
    else if (c0 !== undefined && /[\w\u00a0-\uffff\\-]/.test(c0)) {
      const tag = this.ident().toLowerCase();
      tests.push((n) => n.name === tag);
    }
    for (;;) {
      const c = this.s[this.i];
      if (c === '#') {
        this.i++;
        const id = this.ident();
        tests.push((n) => n.attr('id') === id);
      } else if (c === '.') {
        this.i++;
        const cls = this.ident();
        tests.push(attrMatcher('class', '~=', cls, false));
      } else if (c === '[') {
        this.i++;
        this.spaces();
        const name = this.ident().toLowerCase();
        this.spaces();
        let op;
        let value;
        let insensitive = false;
        const m = /^[~|^$*!]?=/.exec(this.s.slice(this.i));
        if (m) {
          op = m[0];
          this.i += op.length;
          this.spaces();
          const q = this.s[this.i];
          if (q === '"' || q === "'") {
            const end = this.s.indexOf(q, this.i + 1);
            if (end < 0) this.fail('unterminated string');
            value = this.s.slice(this.i + 1, end).replace(/\\(.)/g, '$1');
            this.i = end + 1;
          } else value = this.ident();
          this.spaces();
          if (/[iI]/.test(this.s[this.i] || '') && /[\s\]]/.test(this.s[this.i + 1] || '')) {
            insensitive = true;
            this.i++;
            this.spaces();
          }
        }
        if (this.s[this.i] !== ']') this.fail('expected ]');
        this.i++;
        tests.push(attrMatcher(name, op, value, insensitive));
      } else if (c === ':') {
        this.i++;
        if (this.s[this.i] === ':') this.fail('pseudo-elements never match');
        const name = this.ident().toLowerCase();
        const make = PSEUDO[name];
        if (!make) this.fail(`unknown pseudo-class :${name}`);
        let arg;
        if (this.s[this.i] === '(') {
          this.i++;
          arg = this.argument();
        } else if (make.length > 0) this.fail(`:${name} needs an argument`);
        tests.push(make(arg));
      } else break;
    }
    if (tests.length === 0 && c0 !== '*') return null;
    return (n) => n.type === ELEMENT && tests.every((t) => t(n));
  }

  /** A complex selector (compounds joined by combinators), up to a `,` or `)`. */
  complex() {
    this.spaces();
    let m = this.compound();
    if (!m) this.fail('expected a selector');
    for (;;) {
      const space = this.spaces();
      const c = this.s[this.i];
      if (c === undefined || c === ',') return m;
      let comb = ' ';
      if (c === '>' || c === '+' || c === '~') {
        comb = c;
        this.i++;
        this.spaces();
      } else if (!space) this.fail('unexpected character');
      const right = this.compound();
      if (!right) this.fail('expected a selector after a combinator');
      m = combine(m, comb, right);
    }
  }

  group() {
    const list = [this.complex()];
    while (this.s[this.i] === ',') {
      this.i++;
      list.push(this.complex());
    }
    if (this.i < this.s.length) this.fail('unexpected character');
    return list.length === 1 ? list[0] : (n) => list.some((m) => m(n));
  }
}

function combine(left, comb, right) {
  switch (comb) {
    case '>':
      return (n) => right(n) && !!n.parent && left(n.parent);
    case '+':
      return (n) => {
        if (!right(n)) return false;
        const s = elementSiblings(n);
        const i = s.indexOf(n);
        return i > 0 && left(s[i - 1]);
      };
    case '~':
      return (n) => {
        if (!right(n)) return false;
        const s = elementSiblings(n);
        return s.slice(0, s.indexOf(n)).some(left);
      };
    default:
      return (n) => {
        if (!right(n)) return false;
        for (let p = n.parent; p; p = p.parent) if (left(p)) return true;
        return false;
      };
  }
}

const compiled = new Map();

/** `selector` as a predicate on nodes; throws SyntaxError when it does not parse. Compiled
 * selectors are cached (up to 256), as scripts repeat the same few. */
function compile(selector) {
  let m = compiled.get(selector);
  if (m === undefined) {
    m = new SelectorParser(String(selector)).group();
    if (compiled.size >= 256) compiled.clear();
    compiled.set(selector, m);
  }
  return m;
}

/** As goquery: a selector that does not parse matches nothing. */
function matcher(selector) {
  try {
    return compile(selector);
  } catch (e) {
    return () => false;
  }
}

/** Every node under `node`, in document order (`node` itself excluded), without recursion. */
function descendants(node) {
  const out = [];
  const work = [];
  for (let i = node.children.length - 1; i >= 0; i--) work.push(node.children[i]);
  while (work.length) {
    const n = work.pop();
    out.push(n);
    for (let i = n.children.length - 1; i >= 0; i--) work.push(n.children[i]);
  }
  return out;
}

function unique(nodes) {
  const seen = new Set();
  return nodes.filter((n) => (seen.has(n) ? false : (seen.add(n), true)));
}

// ---------------------------------------------------------------------------------------------
// Selection

function nodesOf(arg) {
  if (arg instanceof Selection) return arg.nodes;
  if (arg instanceof Element) return [arg.node];
  return null;
}

function invalid(arg) {
  return new TypeError(`invalid argument, cannot use a '${arg === null ? 'null' : typeof arg}' as a selector`);
}

/** k6's Selection: a list of nodes of one document, with jQuery's traversal methods. */
export class Selection {
  constructor(nodes, url, prev) {
    this.nodes = nodes;
    /** The URL of the response it came from (`res.html()`), '' for `parseHTML`. */
    this.url = url || '';
    this._prev = prev;
  }

  _new(nodes) {
    return new Selection(nodes, this.url, this);
  }

  /** Applies a selector string, a Selection or an Element, as k6's vararg methods do. */
  _vararg(arg, bySelector, byNodes) {
    if (typeof arg === 'string') return this._new(bySelector(matcher(arg)));
    const nodes = nodesOf(arg);
    if (nodes) return this._new(byNodes(new Set(nodes), nodes));
    throw invalid(arg);
  }

  _filtered(nodes, selector) {
    if (selector === undefined) return this._new(nodes);
    const m = matcher(selector);
    return this._new(nodes.filter(m));
  }

  find(arg) {
    return this._vararg(
      arg,
      (m) => unique(this.nodes.flatMap((n) => descendants(n).filter(m))),
      (set, nodes) => nodes.filter((c) => this.nodes.some((n) => n !== c && contains(n, c))),
    );
  }

  add(arg) {
    return this._vararg(
      arg,
      (m) => unique(this.nodes.concat(descendants(root(this)).filter(m))),
      (set, nodes) => unique(this.nodes.concat(nodes)),
    );
  }

  closest(arg) {
    return this._vararg(
      arg,
      (m) => unique(this.nodes.map((n) => ancestorOrSelf(n, m)).filter(Boolean)),
      (set) => unique(this.nodes.map((n) => ancestorOrSelf(n, (x) => set.has(x))).filter(Boolean)),
    );
  }

  has(arg) {
    return this._vararg(
      arg,
      (m) => this.nodes.filter((n) => descendants(n).some(m)),
      (set, nodes) => this.nodes.filter((n) => nodes.some((c) => c !== n && contains(n, c))),
    );
  }

  not(arg) {
    if (typeof arg === 'function') return this._new(this.nodes.filter((n, i) => !arg.call(this, i, this._one(n))));
    return this._vararg(
      arg,
      (m) => this.nodes.filter((n) => !m(n)),
      (set) => this.nodes.filter((n) => !set.has(n)),
    );
  }

  filter(arg) {
    if (typeof arg === 'string') return this._new(this.nodes.filter(matcher(arg)));
    if (arg instanceof Selection) {
      const set = new Set(arg.nodes);
      return this._new(this.nodes.filter((n) => set.has(n)));
    }
    if (typeof arg !== 'function') throw new TypeError('the argument to filter() must be a function, a selector or a selection');
    return this._new(this.nodes.filter((n, i) => !!arg.call(this, i, this._one(n))));
  }

  is(arg) {
    if (typeof arg === 'string') return this.nodes.some(matcher(arg));
    if (arg instanceof Selection) {
      const set = new Set(arg.nodes);
      return this.nodes.some((n) => set.has(n));
    }
    if (typeof arg !== 'function') throw new TypeError('the argument to is() must be a function, a selector or a selection');
    return this.nodes.some((n, i) => !!arg.call(this, i, this._one(n)));
  }

  _one(node) {
    return new Selection([node], this.url, this);
  }

  next(selector) {
    return this._filtered(unique(this.nodes.map((n) => sibling(n, 1)).filter(Boolean)), selector);
  }

  nextAll(selector) {
    return this._filtered(unique(this.nodes.flatMap((n) => siblings(n, 1))), selector);
  }

  prev(selector) {
    return this._filtered(unique(this.nodes.map((n) => sibling(n, -1)).filter(Boolean)), selector);
  }

  prevAll(selector) {
    return this._filtered(unique(this.nodes.flatMap((n) => siblings(n, -1))), selector);
  }

  parent(selector) {
    const parents = this.nodes.map((n) => n.parent).filter((p) => p && p.type === ELEMENT);
    return this._filtered(unique(parents), selector);
  }

  parents(selector) {
    return this._filtered(unique(this.nodes.flatMap((n) => ancestors(n))), selector);
  }

  siblings(selector) {
    const set = new Set(this.nodes);
    const all = this.nodes.flatMap((n) => (n.parent ? elementChildren(n.parent).filter((s) => s !== n && !set.has(s)) : []));
    return this._filtered(unique(all), selector);
  }

  nextUntil(until, filter) {
    return this._until((n) => siblings(n, 1), until, filter);
  }

  prevUntil(until, filter) {
    return this._until((n) => siblings(n, -1), until, filter);
  }

  parentsUntil(until, filter) {
    return this._until((n) => ancestors(n), until, filter);
  }

  _until(walk, until, filter) {
    let stop = () => false;
    if (typeof until === 'string' && until !== '') stop = matcher(until);
    else if (until instanceof Selection) {
      const set = new Set(until.nodes);
      stop = (n) => set.has(n);
    } else if (until !== undefined && until !== null && until !== '') throw invalid(until);
    const out = [];
    for (const n of this.nodes) {
      for (const s of walk(n)) {
        if (stop(s)) break;
        out.push(s);
      }
    }
    return this._filtered(unique(out), filter === null ? undefined : filter);
  }

  children(selector) {
    return this._filtered(this.nodes.flatMap(elementChildren), selector);
  }

  contents() {
    return this._new(this.nodes.flatMap((n) => n.children));
  }

  size() {
    return this.nodes.length;
  }

  end() {
    return this._prev || new Selection([], this.url);
  }

  eq(index) {
    const i = index < 0 ? this.nodes.length + index : index;
    return this._new(i >= 0 && i < this.nodes.length ? [this.nodes[i]] : []);
  }

  first() {
    return this.eq(0);
  }

  last() {
    return this.eq(-1);
  }

  slice(start, end) {
    const len = this.nodes.length;
    const fix = (x) => (x < 0 ? x + len : x);
    const e = end !== undefined && end < len ? fix(end) : len;
    return this._new(this.nodes.slice(fix(start), e));
  }

  /** Every node's text (descendant text nodes, script and style included), concatenated. */
  text() {
    const out = [];
    for (const n of this.nodes) textOf(n, out);
    return out.join('');
  }

  /** The first node's attribute `name`, else `fallback` (undefined when not given). */
  attr(name, fallback) {
    const n = this.nodes[0];
    const v = n && n.type === ELEMENT ? n.attr(name) : undefined;
    return v === undefined ? fallback : v;
  }

  /** The first node's inner HTML, as Go's renderer writes it ('' for an empty selection). */
  html() {
    return this.nodes.length ? innerHTML(this.nodes[0]) : '';
  }

  /** The form value of the first element: input, button, textarea, option or select (k6's rules). */
  val() {
    const n = this.nodes[0];
    switch (n && nodeName(n)) {
      case 'input': {
        const v = n.attr('value');
        if (v !== undefined) return v;
        const type = n.attr('type');
        return type === 'radio' || type === 'checkbox' ? 'on' : '';
      }
      case 'button':
        return n.attr('value') || '';
      case 'textarea':
        return this.html();
      case 'option':
        return valueOrHTML(n);
      case 'select': {
        const selected = descendants(n).filter((o) => o.type === ELEMENT && o.name === 'option' && o.attr('selected') !== undefined);
        if (n.attr('multiple') !== undefined) return selected.map(valueOrHTML);
        return selected.length ? valueOrHTML(selected[0]) : '';
      }
      default:
        return undefined;
    }
  }

  /** Calls `fn(index, element)` for each node; returns this selection. */
  each(fn) {
    if (typeof fn !== 'function') throw new TypeError('the argument to each() must be a function');
    this.nodes.forEach((n, i) => {
      fn.call(this, i, toElement(n, this));
    });
    return this;
  }

  /** `fn(index, selection)` of each node, as an array (k6 keeps every result, undefined too). */
  map(fn) {
    if (typeof fn !== 'function') throw new TypeError('the argument to map() must be a function');
    return this.nodes.map((n, i) => fn.call(this, i, this._one(n)));
  }

  /** The Element at `index` (negative counts from the end), or all of them as an array. */
  get(index) {
    if (index === undefined) return this.nodes.map((n) => toElement(n, this));
    const len = this.nodes.length;
    if (index < len && index > -len) return toElement(this.nodes[index < 0 ? len + index : index], this);
    return undefined;
  }

  toArray() {
    return this.nodes.map((n) => this._one(n));
  }

  /** Without argument: the first node's position among its element siblings; with one: the
   * position in this selection of the first node of `arg` (a selector is searched in the
   * whole document first), -1 when absent. */
  index(arg) {
    if (arg === undefined) {
      const n = this.nodes[0];
      if (!n) return -1;
      return n.parent ? elementChildren(n.parent).indexOf(n) : 0;
    }
    if (typeof arg === 'string') {
      const first = this.nodes[0];
      if (!first) return -1;
      return descendants(root(this)).filter(matcher(arg)).indexOf(first);
    }
    if (arg instanceof Selection) return arg.nodes.length ? this.nodes.indexOf(arg.nodes[0]) : -1;
    if (arg instanceof Element) return this.nodes.indexOf(arg.node);
    return -1;
  }

  /** The first element's `data-` attributes (jQuery's data()), or the one named `key`. */
  data(key) {
    const n = this.nodes[0];
    if (!n || n.attrs.length === 0) return undefined;
    if (key !== undefined) {
      const v = n.attr('data-' + propertyToAttr(String(key)));
      return v === undefined ? undefined : dataValue(v);
    }
    const out = {};
    for (const [k, v] of n.attrs) {
      if (k.startsWith('data-') && k.length > 5) out[attrToProperty(k.slice(5))] = dataValue(v);
    }
    return out;
  }

  /** The successful controls of a form (or of the selected controls): `[{ name, value }]`. */
  serializeArray() {
    const submittable = matcher('input,select,textarea,keygen');
    const controls = this.nodes.some(matcher('form'))
      ? unique(this.nodes.flatMap((n) => descendants(n).filter(submittable)))
      : this.nodes.filter(submittable);
    return controls
      .filter((n) => {
        const type = n.attr('type') || '';
        const checked = n.attr('checked') || '';
        return (
          (n.attr('name') || '') !== '' &&
          (n.attr('disabled') || '') !== 'disabled' &&
          !['submit', 'button', 'reset', 'image', 'file'].includes(type) &&
          (checked === 'checked' || (type !== 'checkbox' && type !== 'radio'))
        );
      })
      .map((n) => ({ name: n.attr('name'), value: this._one(n).val() }));
  }

  serializeObject() {
    const out = {};
    for (const { name, value } of this.serializeArray()) out[name] = value;
    return out;
  }

  /** The form's controls URL-encoded, sorted by name (Go's url.Values.Encode). */
  serialize() {
    const byName = new Map();
    for (const { name, value } of this.serializeArray()) {
      if (typeof value === 'string') byName.set(name, [value]);
      else if (Array.isArray(value)) byName.set(name, value);
    }
    const names = [...byName.keys()].sort();
    return names.flatMap((k) => byName.get(k).map((v) => `${queryEscape(k)}=${queryEscape(v)}`)).join('&');
  }
}

/** Go's url.QueryEscape. */
function queryEscape(s) {
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function valueOrHTML(n) {
  const v = n.attr('value');
  return v !== undefined ? v : innerHTML(n);
}

function contains(ancestor, node) {
  for (let p = node.parent; p; p = p.parent) if (p === ancestor) return true;
  return false;
}

function ancestorOrSelf(node, test) {
  for (let n = node; n; n = n.parent) if (n.type === ELEMENT && test(n)) return n;
  return null;
}

function ancestors(node) {
  const out = [];
  for (let p = node.parent; p && p.type === ELEMENT; p = p.parent) out.push(p);
  return out;
}

/** The next (`dir` 1) or previous (-1) element sibling, or null. */
function sibling(node, dir) {
  if (!node.parent) return null;
  const list = node.parent.children;
  for (let i = list.indexOf(node) + dir; i >= 0 && i < list.length; i += dir) if (list[i].type === ELEMENT) return list[i];
  return null;
}

/** Every element sibling after (`dir` 1) or before (-1) `node`, nearest first. */
function siblings(node, dir) {
  const out = [];
  if (!node.parent) return out;
  const list = node.parent.children;
  for (let i = list.indexOf(node) + dir; i >= 0 && i < list.length; i += dir) if (list[i].type === ELEMENT) out.push(list[i]);
  return out;
}

function root(sel) {
  let n = sel.nodes[0];
  if (!n) return new Node(DOCUMENT, '');
  while (n.parent) n = n.parent;
  return n;
}

function nodeName(n) {
  switch (n.type) {
    case TEXT:
      return '#text';
    case COMMENT:
      return '#comment';
    case DOCUMENT:
      return '#document';
    default:
      return n.name;
  }
}

/** `fooBar` of the part after `data-` (`foo-bar`), as k6 (snaker) names it. */
function attrToProperty(s) {
  const dash = s.indexOf('-');
  if (dash < 0) return s;
  return (
    s.slice(0, dash) +
    s
      .slice(dash + 1)
      .split(/[-_]/)
      .filter((w) => w !== '')
      .map((w) => (INITIALISMS.has(w.toUpperCase()) ? w.toUpperCase() : w[0].toUpperCase() + w.slice(1)))
      .join('')
  );
}

/** The `data-` suffix for a property name (`fooBar` → `foo-bar`). */
function propertyToAttr(s) {
  return s
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
}

/** The initialisms snaker upper-cases whole (golint's list). */
const INITIALISMS = new Set([
  'ACL', 'API', 'ASCII', 'CPU', 'CSS', 'DNS', 'EOF', 'GUID', 'HTML', 'HTTP', 'HTTPS', 'ID', 'IP', 'JSON', 'LHS',
  'QPS', 'RAM', 'RHS', 'RPC', 'SLA', 'SMTP', 'SQL', 'SSH', 'TCP', 'TLS', 'TTL', 'UDP', 'UI', 'UID', 'UUID', 'URI',
  'URL', 'UTF8', 'VM', 'XML', 'XMPP', 'XSRF', 'XSS',
]);

/** A `data-` value as jQuery reads it: JSON objects and arrays, booleans, numbers that print back
 * unchanged; `null`, `undefined` and '' are undefined; anything else the string. */
function dataValue(v) {
  if (v === '' || v === 'null' || v === 'undefined') return undefined;
  if (v[0] === '{' || v[0] === '[') {
    try {
      return JSON.parse(v);
    } catch (e) {
      return v;
    }
  }
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) && String(Number(v)) === v) return Number(v);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Element (k6's DOM-like view of one node; its properties are methods, as in k6)

function toElement(node, sel) {
  return node ? new Element(node, new Selection([node], sel.url, sel)) : undefined;
}

export class Element {
  constructor(node, sel) {
    this.node = node;
    this.sel = sel;
  }

  _el(node) {
    return toElement(node, this.sel);
  }

  nodeName() {
    return nodeName(this.node);
  }

  nodeType() {
    return this.node.type;
  }

  nodeValue() {
    // As k6: a comment's value is its text, which goquery finds none in ('').
    return this.node.type === TEXT || this.node.type === COMMENT ? this.sel.text() : undefined;
  }

  textContent() {
    return this.sel.text();
  }

  innerHTML() {
    return this.sel.html();
  }

  id() {
    return this.node.attr('id') || '';
  }

  className() {
    return this.node.attr('class');
  }

  classList() {
    const c = this.node.attr('class');
    return c === undefined ? null : c.split(/[ \t\n\f\r]+/).filter(Boolean);
  }

  lang() {
    return this.node.attr('lang');
  }

  getAttribute(name) {
    return this.sel.attr(name);
  }

  getAttributeNode(name) {
    const v = this.node.attr(name);
    return v === undefined ? undefined : { owner_element: this, name, value: v };
  }

  hasAttribute(name) {
    return this.node.attr(name) !== undefined;
  }

  hasAttributes() {
    return this.node.attrs.length > 0;
  }

  attributes() {
    const out = {};
    for (const [name, value] of this.node.attrs) out[name] = { owner_element: this, name, value };
    return out;
  }

  hasChildNodes() {
    return this.node.children.length > 0;
  }

  firstChild() {
    return this._el(this.node.children[0]);
  }

  lastChild() {
    return this._el(this.node.children[this.node.children.length - 1]);
  }

  firstElementChild() {
    return this._el(elementChildren(this.node)[0]);
  }

  lastElementChild() {
    const c = elementChildren(this.node);
    return this._el(c[c.length - 1]);
  }

  previousSibling() {
    const list = this.node.parent ? this.node.parent.children : [];
    return this._el(list[list.indexOf(this.node) - 1]);
  }

  nextSibling() {
    const list = this.node.parent ? this.node.parent.children : [];
    const i = list.indexOf(this.node);
    return i < 0 ? undefined : this._el(list[i + 1]);
  }

  previousElementSibling() {
    return this._el(sibling(this.node, -1));
  }

  nextElementSibling() {
    return this._el(sibling(this.node, 1));
  }

  parentNode() {
    return this._el(this.node.parent);
  }

  parentElement() {
    const p = this.node.parent;
    return p && p.type === ELEMENT ? this._el(p) : undefined;
  }

  childNodes() {
    return this.node.children.map((c) => this._el(c));
  }

  children() {
    return elementChildren(this.node).map((c) => this._el(c));
  }

  childElementCount() {
    return elementChildren(this.node).length;
  }

  ownerDocument() {
    let n = this.node;
    while (n.parent) n = n.parent;
    return n.type === DOCUMENT ? this._el(n) : undefined;
  }

  namespaceURI() {
    return 'http://www.w3.org/1999/xhtml';
  }

  isDefaultNamespace() {
    return true;
  }

  contains(other) {
    return other instanceof Element && other.node !== this.node && contains(this.node, other.node);
  }

  matches(selector) {
    return this.sel.is(selector);
  }

  isSameNode(other) {
    return other instanceof Element && other.node === this.node;
  }

  isEqualNode(other) {
    return other instanceof Element && other.innerHTML() === this.innerHTML();
  }

  selection() {
    return this.sel;
  }

  /** The first match, as k6 gives it: an Element whose text and HTML are of every match. */
  querySelector(selector) {
    const found = this.sel.find(selector);
    return found.nodes.length ? new Element(found.nodes[0], found) : undefined;
  }

  querySelectorAll(selector) {
    return this.sel.find(selector).get();
  }

  getElementsByClassName(name) {
    return this.sel.find('.' + name).get();
  }

  getElementsByTagName(name) {
    return this.sel.find(name).get();
  }

  toString() {
    return this.node.type === ELEMENT ? '[object html.Node]' : `[object ${this.nodeName()}]`;
  }

  // The attribute accessors k6 adds to particular elements (a, img, input, form, ...).

  /** `href` of a, area, base and link, resolved against the response's URL. */
  href() {
    return resolveAttr(this, 'href');
  }

  /** `src` of img, script, iframe, ..., resolved against the response's URL. */
  src() {
    return resolveAttr(this, 'src');
  }

  /** `action` of a form, resolved against the response's URL. */
  action() {
    return resolveAttr(this, 'action');
  }

  name() {
    return this.node.attr('name') || '';
  }

  value() {
    return this.sel.val();
  }

  type() {
    return this.node.attr('type') || '';
  }

  title() {
    return this.node.attr('title') || '';
  }

  alt() {
    return this.node.attr('alt') || '';
  }

  rel() {
    return this.node.attr('rel') || '';
  }

  target() {
    return this.node.attr('target') || '';
  }

  text() {
    return this.sel.text();
  }

  method() {
    const m = (this.node.attr('method') || '').toLowerCase();
    return m === 'post' ? 'post' : 'get';
  }

  checked() {
    return this.node.attr('checked') !== undefined;
  }

  disabled() {
    return this.node.attr('disabled') !== undefined;
  }

  selected() {
    return this.node.attr('selected') !== undefined;
  }
}

/** Attribute `name` resolved against the selection's URL ('' when absent; as written when the
 * document came from parseHTML, which has no URL). */
function resolveAttr(el, name) {
  const v = el.node.attr(name);
  if (!el.sel.url) return v || '';
  if (v === undefined) return '';
  return resolveURL(el.sel.url, v.trim());
}

/** RFC 3986 reference resolution of `ref` against the absolute URL `base`. */
function resolveURL(base, ref) {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(ref)) return ref;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:)(\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?(#.*)?$/.exec(base);
  if (!m) return ref;
  const [, scheme, authority = '', path, query = ''] = m;
  if (ref.startsWith('//')) return scheme + ref;
  if (ref === '') return scheme + authority + path + query;
  if (ref[0] === '#') return scheme + authority + path + query + ref;
  if (ref[0] === '?') return scheme + authority + path + ref;
  const [refPath, rest] = splitRef(ref);
  const merged = refPath[0] === '/' ? refPath : path.slice(0, path.lastIndexOf('/') + 1) + refPath;
  return scheme + authority + removeDots(merged || '/') + rest;
}

function splitRef(ref) {
  const i = ref.search(/[?#]/);
  return i < 0 ? [ref, ''] : [ref.slice(0, i), ref.slice(i)];
}

function removeDots(path) {
  const out = [];
  const parts = path.split('/');
  parts.forEach((p, i) => {
    if (p === '..') {
      if (out.length > 1) out.pop();
      if (i === parts.length - 1) out.push('');
    } else if (p === '.') {
      if (i === parts.length - 1) out.push('');
    } else out.push(p);
  });
  return out.join('/') || '/';
}

// ---------------------------------------------------------------------------------------------

/** Parses `src` as an HTML document; returns the Selection of the document (k6's parseHTML). */
export function parseHTML(src, url) {
  return new Selection([parseDocument(String(src))], url);
}

export default { parseHTML };
