// The operator console page. Everything that decides (which deployment,
// what to replay, what is stored) is the wasm core's (`Console`, built from
// widget/src/console with --features console); this file only renders its
// state and turns clicks and keys into calls.
//
// Rules kept here:
// - Every piece of visitor or operator text goes into the DOM through
//   textContent or a form control's value, never through innerHTML.
// - Lists are keyed (by chat or message id) and updated in place, so focus,
//   scroll position and the text being typed survive every re-render.
//
// Deployments come only from ./config.json, which the relay that served the
// page writes from its own configuration (docs/PROTOCOL.md): that relay is
// this page's origin, its peer the other deployment, and the moderator. Never
// from the query string: anyone can write a link, and the console sends a
// password and then a session token wherever its deployments are. Without
// config.json, the relay that served the page is the only deployment.

import init, { Console } from './pkg/twinline_console.js';

const $ = (id) => document.getElementById(id);
const TITLE = document.title;
const SWITCH_NOTICE_MS = 5_000;
const DEFAULT_CANNED = [
  'Hello! How can I help you?',
  'One moment please, I am checking that for you.',
  'Thank you for waiting.',
  'Is there anything else I can help you with?',
];

const ui = {
  console: null,
  state: null,
  current: null, // chat id shown
  wanted: null, // chat id to show as soon as the relay hands it over (accepted)
  seen: new Map(), // chat id -> count of others' messages seen
  knownWaiting: new Set(),
  drafts: new Map(),
  lastConnected: null, // deployment name last connected to
  switchTimer: null,
  noticeTimer: null,
  lastError: 0,
  audio: null,
};

// ---- start -------------------------------------------------------------

async function readConfig() {
  let served = {};
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    if (res.ok) served = await res.json();
  } catch {
    // No config.json: this relay alone.
  }
  const here = served.role === 'redundant' ? 'redundant' : 'primary';
  const there = here === 'primary' ? 'redundant' : 'primary';
  const config = { [here]: location.origin, [`${here}Name`]: served.name || here };
  if (served.peer?.url) {
    config[there] = served.peer.url;
    config[`${there}Name`] = served.peer.name || there;
  }
  if (served.moderator) config.moderator = served.moderator;
  return config;
}

async function start() {
  await init();
  const config = await readConfig();
  try {
    ui.console = new Console(config);
  } catch (error) {
    $('link').textContent = `Cannot start: ${error.message}`;
    return;
  }
  // For debugging and the browser tests: the same object the page uses.
  window.twinlineConsole = ui.console;
  ui.console.onChange(render);
  render();
  wire();
  // Wait times move with the clock (typing notices fade by the session's
  // own timer, which reports a change).
  setInterval(render, 1_000);
}

// ---- rendering ---------------------------------------------------------

function render() {
  const state = ui.console.state();
  ui.state = state;
  const loggedIn = !state.needsLogin && state.me;
  $('login-view').hidden = Boolean(loggedIn);
  $('desk').hidden = !loggedIn;
  $('account').hidden = !state.me;
  renderLink(state);
  if (!loggedIn) {
    if (state.me) {
      $('login-note').hidden = false;
      $('login-note').textContent = 'Your session has expired. Please log in again; your chats are kept.';
      if (!$('username').value) $('username').value = state.me.username;
    }
    document.title = TITLE;
    return;
  }
  $('me').textContent = state.me.name || state.me.username;
  $('available').checked = state.online;
  renderQueue(state);
  renderOperators(state);
  renderInbox(state);
  renderTabs(state);
  renderChat(state);
  renderError(state);
  notify(state);
  // What is on screen; the console decides whether that is a read
  // receipt (and renders again only when it gave one).
  ui.console.onScreen(ui.current, document.visibilityState === 'visible');
}

function renderLink(state) {
  const { connection } = state;
  const link = $('link');
  const where = connection.name || connection.deployment || '';
  const words = {
    connected: `Connected to ${where}`,
    connecting: 'Connecting…',
    reconnecting: where ? `Reconnecting (was ${where})…` : 'Reconnecting…',
    offline: state.me ? 'No deployment answers; retrying. Nothing you write is lost.' : 'Not connected',
  };
  link.dataset.state = connection.state;
  link.textContent = words[connection.state] ?? connection.state;
  // A small notice when the deployment changes under the operator.
  if (connection.state === 'connected') {
    if (ui.lastConnected && ui.lastConnected !== where) {
      showSwitch(`Switched to ${where}. Nothing was lost.`);
    }
    ui.lastConnected = where;
  } else if (connection.state === 'reconnecting' && ui.lastConnected) {
    showSwitch('Switching deployment… messages you write are kept and sent.');
  }
}

function showSwitch(text) {
  const el = $('switching');
  if (el.textContent !== text) el.textContent = text;
  el.hidden = false;
  clearTimeout(ui.switchTimer);
  ui.switchTimer = setTimeout(() => {
    el.hidden = true;
  }, SWITCH_NOTICE_MS);
}

/**
 * Makes `container`'s children match `items` by key: reuses elements,
 * creates missing ones, removes stale ones, keeps the order.
 */
function syncList(container, items, key, create, update) {
  const existing = new Map();
  for (const child of container.children) existing.set(child.dataset.key, child);
  let before = container.firstElementChild;
  for (const item of items) {
    const k = key(item);
    let el = existing.get(k);
    if (!el) {
      el = create(item);
      el.dataset.key = k;
    }
    existing.delete(k);
    update(el, item);
    if (el !== before) container.insertBefore(el, before);
    else before = before.nextElementSibling;
  }
  for (const el of existing.values()) el.remove();
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "14:05" (or "02:05 PM"): the widget's format, hours and minutes in the page's language. */
function clockTime(at) {
  return new Date(at).toLocaleTimeString(document.documentElement.lang || undefined, { hour: '2-digit', minute: '2-digit' });
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  return m ? `${m} min ${s % 60} s` : `${s} s`;
}

function visitorLabel(v) {
  return v.name || 'Visitor';
}

function renderQueue(state) {
  const waiting = state.queue.filter((q) => q.state === 'waiting');
  setText($('queue-count'), waiting.length ? `(${waiting.length})` : '');
  $('queue-empty').hidden = waiting.length > 0;
  syncList(
    $('queue'),
    waiting,
    (q) => q.chat,
    (q) => {
      const li = el('li', 'entry');
      li.append(
        el('strong', 'name'),
        el('span', 'wait'),
        el('span', 'email'),
        el('span', 'page'),
        el('span', 'presence'),
        el('q', 'preview'),
      );
      const accept = el('button', 'accept', 'Accept');
      accept.type = 'button';
      accept.addEventListener('click', () =>
        act(
          () => ui.console.accept(q.chat),
          () => {
            ui.wanted = q.chat;
          },
        ),
      );
      li.append(accept);
      return li;
    },
    (li, q) => {
      const [name, wait, email, page, presence, preview, accept] = li.children;
      setText(name, visitorLabel(q));
      setText(wait, `waiting ${duration(q.waitMs)}`);
      setText(email, q.email);
      setText(page, q.page);
      setText(presence, q.presence);
      presence.classList.toggle('left', q.presence !== 'Visitor online');
      setText(preview, q.preview);
      accept.setAttribute('aria-label', `Accept chat with ${visitorLabel(q)}`);
    },
  );
}

function renderOperators(state) {
  setText($('operators-count'), `(${state.operatorsOnline})`);
  syncList(
    $('operators'),
    state.operators,
    (name) => name,
    () => el('li'),
    (li, name) => setText(li, name === state.me.username ? `${name} (you)` : name),
  );
}

function renderInbox(state) {
  setText($('inbox-count'), state.inbox.length ? `(${state.inbox.length})` : '');
  $('inbox-empty').hidden = state.inbox.length > 0;
  syncList(
    $('inbox'),
    [...state.inbox].reverse(),
    (n) => n.id,
    () => {
      const li = el('li', 'note');
      li.append(el('strong'), el('span', 'email'), el('time'), el('p', 'text'));
      return li;
    },
    (li, n) => {
      const [name, email, time, text] = li.children;
      setText(name, n.name || 'Visitor');
      setText(email, n.email);
      setText(time, new Date(n.at).toLocaleString());
      setText(text, n.text);
    },
  );
}

function unreadOf(chat) {
  const others = chat.messages.filter((m) => !m.own).length;
  if (!ui.seen.has(chat.chat)) ui.seen.set(chat.chat, 0);
  return Math.max(0, others - ui.seen.get(chat.chat));
}

function renderTabs(state) {
  const chats = state.chats;
  if (ui.wanted && chats.some((c) => c.chat === ui.wanted)) {
    saveDraft();
    ui.current = ui.wanted;
    ui.wanted = null;
    $('text').value = ui.drafts.get(ui.current) ?? '';
  }
  if (!chats.some((c) => c.chat === ui.current)) {
    ui.current = (chats.find((c) => c.mine) ?? chats[0])?.chat ?? null;
  }
  const current = chats.find((c) => c.chat === ui.current);
  if (current && document.visibilityState === 'visible') {
    ui.seen.set(current.chat, current.messages.filter((m) => !m.own).length);
  }
  $('no-chat').hidden = chats.length > 0;
  syncList(
    $('tabs'),
    chats,
    (c) => c.chat,
    (c) => {
      const tab = el('button', 'tab');
      tab.type = 'button';
      tab.setAttribute('role', 'tab');
      tab.setAttribute('aria-controls', 'chat');
      tab.append(el('span', 'label'), el('span', 'badge'));
      tab.addEventListener('click', () => show(c.chat));
      tab.addEventListener('keydown', onTabKey);
      return tab;
    },
    (tab, c) => {
      const [label, badge] = tab.children;
      const selected = c.chat === ui.current;
      const unread = selected ? 0 : unreadOf(c);
      setText(label, visitorLabel(c.visitor) + (c.mine ? '' : c.state === 'closed' ? ' (closed)' : ' (transferred)'));
      setText(badge, unread ? String(unread) : '');
      badge.hidden = !unread;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      tab.classList.toggle('typing', Boolean(c.typing));
      tab.classList.toggle('inactive', !c.mine);
    },
  );
}

function onTabKey(event) {
  const tabs = [...$('tabs').children];
  const i = tabs.indexOf(event.currentTarget);
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
  if (!step || tabs.length < 2) return;
  event.preventDefault();
  const next = tabs[(i + step + tabs.length) % tabs.length];
  show(next.dataset.key);
  next.focus();
}

function show(chat) {
  saveDraft();
  ui.current = chat;
  $('text').value = ui.drafts.get(chat) ?? '';
  $('send-error').textContent = '';
  render();
}

function renderChat(state) {
  const chat = state.chats.find((c) => c.chat === ui.current);
  $('chat').hidden = !chat;
  if (!chat) return;
  $('chat').setAttribute('aria-label', `Chat with ${visitorLabel(chat.visitor)}`);
  setText($('chat-name'), visitorLabel(chat.visitor));
  setText($('chat-email'), chat.visitor.email);
  setText($('chat-page'), chat.visitor.page);
  // "Visitor online" / "Visitor left 3 min ago": the wasm side's words.
  setText($('chat-presence'), chat.visitor.presence);
  $('chat-presence').classList.toggle('left', chat.visitor.presence !== 'Visitor online');
  const stateWords = chat.mine
    ? chat.pending
      ? `active · ${chat.pending} sending`
      : 'active'
    : chat.state === 'closed'
      ? 'closed'
      : `with ${chat.operator ?? 'nobody'}`;
  setText($('chat-state'), stateWords);
  const rating = $('chat-rating');
  rating.hidden = !chat.rating;
  rating.dataset.score = chat.rating?.score ?? '';
  setText(
    rating,
    chat.rating
      ? `Visitor's rating: ${chat.rating.score}${chat.rating.comment ? ` — “${chat.rating.comment}”` : ''}`
      : '',
  );
  syncList(
    $('transcript'),
    chat.messages,
    (m) => m.id,
    (m) => {
      const li = el('li', `msg ${m.author}${m.own ? ' own' : ''}`);
      li.append(el('span', 'who'), el('p', 'text'), el('span', 'meta'), el('span', 'seen'));
      return li;
    },
    (li, m) => {
      const [who, text, meta, seenBy] = ['.who', '.text', '.meta', '.seen'].map((c) => li.querySelector(c));
      setText(who, m.name || m.author);
      setText(text, m.text);
      text.hidden = !m.text;
      if (m.file && !li.querySelector('.file')) li.insertBefore(fileNode(m.file), meta);
      // Grouped by author and minute (m.cont, decided by the console's
      // state with the widget's rule): the group's first message shows the
      // author and the time, the others only their delivery state.
      li.classList.toggle('cont', m.cont);
      const time = m.cont ? '' : clockTime(m.at);
      const status = m.own ? m.status : '';
      setText(meta, [time, status].filter(Boolean).join(' · '));
      li.dataset.status = m.status;
      // The operators' newest message the visitor has seen (chat.seen, a
      // read receipt, decided by the console's state) says so, as text.
      const seen = m.id === chat.seen;
      setText(seenBy, seen ? 'Seen by the visitor' : '');
      seenBy.hidden = !seen;
      li.dataset.seen = String(seen);
    },
  );
  const transcript = $('transcript');
  if (transcript.dataset.chat !== chat.chat || transcript.dataset.count !== String(chat.messages.length)) {
    transcript.dataset.chat = chat.chat;
    transcript.dataset.count = String(chat.messages.length);
    transcript.scrollTop = transcript.scrollHeight;
  }
  setText($('typing'), chat.typing ? `${chat.typing} is typing…` : '');
  const writable = chat.mine;
  $('chat').dataset.writable = writable ? 'yes' : '';
  $('attach').disabled = !writable;
  renderUploads(state);
  $('text').disabled = !writable;
  $('send').disabled = !writable;
  $('canned').disabled = !writable;
  $('close-chat').hidden = chat.state === 'closed';
  $('close-chat').disabled = !writable;
  $('forget-chat').hidden = writable;
  const others = state.operators.filter((name) => name !== state.me.username);
  const select = $('transfer-to');
  const chosen = select.value;
  syncList(
    select,
    others.length ? others : [''],
    (name) => name,
    (name) => {
      const option = el('option');
      option.value = name;
      return option;
    },
    (option, name) => setText(option, name || 'No other operator online'),
  );
  if (others.includes(chosen)) select.value = chosen;
  select.disabled = !writable || !others.length;
  $('transfer').disabled = !writable || !others.length;
}

function renderError(state) {
  if (!state.error || state.error.at === ui.lastError) return;
  ui.lastError = state.error.at;
  if (state.error.code !== 'BadToken') flash(`The relay refused: ${state.error.message}`);
}

function flash(text) {
  const notice = $('notice');
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(ui.noticeTimer);
  ui.noticeTimer = setTimeout(() => {
    notice.hidden = true;
  }, 6_000);
}

// ---- notifications -----------------------------------------------------

function notify(state) {
  let unread = 0;
  for (const chat of state.chats) {
    if (chat.chat !== ui.current || document.visibilityState !== 'visible') unread += unreadOf(chat);
  }
  const waiting = state.queue.filter((q) => q.state === 'waiting').map((q) => q.chat);
  const fresh = waiting.filter((chat) => !ui.knownWaiting.has(chat));
  ui.knownWaiting = new Set(waiting);
  const total = unread + waiting.length;
  document.title = total ? `(${total}) ${TITLE}` : TITLE;
  const newMessages = unread > (ui.lastUnread ?? 0);
  ui.lastUnread = unread;
  if (fresh.length || newMessages) beep(fresh.length ? 880 : 660);
}

function beep(frequency) {
  if (!$('sound').checked) return;
  try {
    ui.audio ??= new AudioContext();
    const osc = ui.audio.createOscillator();
    const gain = ui.audio.createGain();
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.08, ui.audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, ui.audio.currentTime + 0.25);
    osc.connect(gain).connect(ui.audio.destination);
    osc.start();
    osc.stop(ui.audio.currentTime + 0.25);
  } catch {
    // No audio here; the title badge still counts.
  }
}

// ---- canned replies (per operator, in localStorage) -------------------

function cannedKey() {
  return `twinline:console:canned:${ui.state?.me?.username ?? ''}`;
}

function cannedReplies() {
  try {
    const stored = JSON.parse(localStorage.getItem(cannedKey()));
    if (Array.isArray(stored)) return stored.filter((s) => typeof s === 'string' && s.trim());
  } catch {
    // Unreadable: the defaults.
  }
  return DEFAULT_CANNED;
}

function renderCanned() {
  const select = $('canned');
  const replies = cannedReplies();
  while (select.options.length > 1) select.remove(1);
  for (const reply of replies) {
    const option = el('option', '', reply.length > 60 ? `${reply.slice(0, 57)}…` : reply);
    option.value = reply;
    select.append(option);
  }
}

// ---- actions -----------------------------------------------------------

/** Runs a call into the core; shows its error instead of throwing. */
function act(call, then) {
  try {
    const result = call();
    then?.(result);
    return result;
  } catch (error) {
    flash(error.message ?? String(error));
    return undefined;
  }
}

function saveDraft() {
  if (ui.current) ui.drafts.set(ui.current, $('text').value);
}

// Typing notices: every keystroke goes to the session, which throttles
// them, says "stopped" after a quiet spell and when a message is sent
// (twinline_core::session, typing.rs); leaving the field says it at once.
function stopTyping() {
  if (ui.current) act(() => ui.console.typing(ui.current, false));
}

function onInput() {
  const chat = ui.current;
  if (!chat) return;
  saveDraft();
  if ($('text').value.trim()) act(() => ui.console.typing(chat, true));
}

// Files (issue 21): a message's file as the console's state describes it
// (m.file.show: `preview` for an image, `download` otherwise). The bytes
// are fetched with the session's token (Console.download) and shown
// through an object URL; the name is text, and the link's download name.
const fileUrls = new Map(); // file id -> Promise<object URL>

function fileUrl(file) {
  if (!fileUrls.has(file.id)) {
    const url = ui.console
      .download(file.id)
      .then((bytes) => URL.createObjectURL(new Blob([bytes], { type: file.mime })));
    url.catch(() => fileUrls.delete(file.id));
    fileUrls.set(file.id, url);
  }
  return fileUrls.get(file.id);
}

function fileSize(n) {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

/** The node showing `file` ({id, name, size, mime, show}). */
function fileNode(file) {
  const box = el('span', 'file');
  box.dataset.file = file.id;
  box.dataset.show = file.show;
  const link = el('a', 'file-link', `${file.name} (${fileSize(file.size)})`);
  link.download = file.name;
  link.href = '#';
  box.append(link);
  if (file.show === 'preview') {
    const img = el('img', 'preview');
    img.alt = file.name;
    box.prepend(img);
  }
  fileUrl(file).then(
    (url) => {
      link.href = url;
      const img = box.querySelector('img');
      if (img) img.src = url;
    },
    (error) => {
      link.removeAttribute('href');
      box.append(el('span', 'error', ` ${error.message ?? error}`));
    },
  );
  return box;
}
// The History view (history.js) shows a chat's files the same way.
window.twinlineFileNode = fileNode;

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Sends files (from the attach button, a drop or a paste) in the open chat. */
async function sendFiles(files) {
  const chat = ui.current;
  if (!chat || !$('chat').dataset.writable) return;
  for (const file of files) {
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      await ui.console.sendFile(chat, file.name || 'pasted-image.png', bytes, await sha256Hex(bytes));
      $('send-error').textContent = '';
    } catch (error) {
      $('send-error').textContent = error.message ?? String(error);
    }
  }
}

function renderUploads(state) {
  syncList(
    $('uploads'),
    state.uploads.filter((u) => u.chat === ui.current),
    (u) => u.id,
    (u) => {
      const li = el('li', 'upload');
      const dismiss = el('button', 'dismiss', 'Dismiss');
      dismiss.type = 'button';
      dismiss.addEventListener('click', () => act(() => ui.console.dismissUpload(u.id)));
      li.append(el('span', 'name'), el('progress'), el('span', 'error'), dismiss);
      return li;
    },
    (li, u) => {
      const [name, progress, error, dismiss] = li.children;
      setText(name, u.name);
      progress.max = u.size;
      progress.value = u.sent;
      progress.hidden = !!u.error;
      setText(error, u.error ? `Not sent: ${u.error}` : '');
      dismiss.hidden = !u.error;
      li.dataset.state = u.error ? 'refused' : 'sending';
    },
  );
}

function send() {
  const chat = ui.current;
  const text = $('text').value;
  if (!chat || !text.trim()) return;
  try {
    ui.console.send(chat, text);
    $('text').value = '';
    ui.drafts.delete(chat);
    $('send-error').textContent = '';
  } catch (error) {
    $('send-error').textContent = error.message;
  }
}

function wire() {
  $('login').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('login-submit');
    button.disabled = true;
    $('login-error').textContent = '';
    try {
      await ui.console.login($('username').value, $('password').value);
      $('password').value = '';
      $('login-note').hidden = true;
      renderCanned();
    } catch (error) {
      $('login-error').textContent = error.message ?? String(error);
      $('password').focus();
    } finally {
      button.disabled = false;
    }
  });
  $('logout').addEventListener('click', async () => {
    stopTyping();
    ui.lastConnected = null;
    $('login-note').hidden = true;
    // Logged out here at once; the relays end the session everywhere (its
    // token no longer opens either deployment) once one of them answers.
    try {
      await ui.console.logout();
    } catch (error) {
      $('login-note').hidden = false;
      $('login-note').textContent = error.message ?? String(error);
    }
  });
  $('available').addEventListener('change', (e) => act(() => ui.console.setAvailability(e.target.checked)));
  const sound = $('sound');
  sound.checked = localStorage.getItem('twinline:console:sound') === 'on';
  sound.addEventListener('change', () => {
    localStorage.setItem('twinline:console:sound', sound.checked ? 'on' : 'off');
    if (sound.checked) beep(660);
  });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  $('attach').addEventListener('click', () => $('attach-input').click());
  $('attach-input').addEventListener('change', (event) => {
    const files = [...event.target.files];
    event.target.value = '';
    sendFiles(files);
  });
  $('chat').addEventListener('dragover', (event) => {
    if ([...(event.dataTransfer?.types ?? [])].includes('Files')) event.preventDefault();
  });
  $('chat').addEventListener('drop', (event) => {
    const files = [...(event.dataTransfer?.files ?? [])];
    if (!files.length) return;
    event.preventDefault();
    sendFiles(files);
  });
  $('text').addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (!files.length) return;
    event.preventDefault();
    sendFiles(files);
  });
  $('text').addEventListener('input', onInput);
  $('text').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $('text').addEventListener('blur', stopTyping);
  $('canned').addEventListener('change', (event) => {
    const reply = event.target.value;
    event.target.value = '';
    if (!reply) return;
    const text = $('text');
    text.value = text.value ? `${text.value} ${reply}` : reply;
    text.focus();
    onInput();
  });
  $('edit-canned').addEventListener('click', () => {
    $('canned-text').value = cannedReplies().join('\n');
    $('canned-dialog').showModal();
  });
  $('canned-dialog').addEventListener('close', () => {
    if ($('canned-dialog').returnValue !== 'save') return;
    const replies = $('canned-text')
      .value.split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    localStorage.setItem(cannedKey(), JSON.stringify(replies));
    renderCanned();
  });
  $('transfer').addEventListener('click', () => {
    const to = $('transfer-to').value;
    if (ui.current && to) act(() => ui.console.transfer(ui.current, to), () => flash(`Transferring to ${to}…`));
  });
  $('close-chat').addEventListener('click', () => {
    if (ui.current) act(() => ui.console.close(ui.current));
  });
  $('forget-chat').addEventListener('click', () => {
    if (!ui.current) return;
    const chat = ui.current;
    act(
      () => ui.console.forget(chat),
      (done) => {
        if (!done) flash('This chat still has messages being sent; it stays until they are stored.');
        else ui.seen.delete(chat);
      },
    );
  });
  document.addEventListener('visibilitychange', render);
  renderCanned();
}

start();
