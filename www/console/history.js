// The console's History view (issue 22): a search form over the chats of
// the operator's sites, the chats found, and one chat read whole with its
// rating. The form is checked and turned into the relay's query by the wasm
// `Console` (widget/src/console/history.rs); this file only wires the DOM
// and renders the answers, every piece of chat text through textContent.

const $ = (id) => document.getElementById(id);

const history = {
  form: null, // the form as last searched (for "More")
  cursor: null,
  items: [],
  open: null, // chat id shown
  busy: false,
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function when(ms) {
  return ms == null ? '' : new Date(ms).toLocaleString(document.documentElement.lang || undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function ratingText(rating) {
  if (!rating) return '';
  return rating.comment ? `Rated ${rating.score}: ${rating.comment}` : `Rated ${rating.score}`;
}

function consoleOrNull() {
  return window.twinlineConsole ?? null;
}

function show(on) {
  document.body.dataset.view = on ? 'history' : '';
  $('history-view').hidden = !on;
  $('history-toggle').setAttribute('aria-pressed', String(on));
  $('history-toggle').textContent = on ? 'Back to chats' : 'History';
  if (on) $('history-q').focus();
}

function readForm(cursor) {
  const form = {};
  for (const name of ['q', 'site', 'visitor', 'operator', 'state', 'date', 'from', 'to']) {
    form[name] = $(`history-${name}`).value;
  }
  form.cursor = cursor ?? '';
  return form;
}

async function search(more) {
  const c = consoleOrNull();
  if (!c || history.busy) return;
  const form = more ? { ...history.form, cursor: history.cursor ?? '' } : readForm('');
  history.busy = true;
  $('history-search').disabled = true;
  $('history-error').textContent = '';
  try {
    const page = await c.historySearch(form);
    history.form = form;
    history.cursor = page.next_cursor;
    history.items = more ? history.items.concat(page.items) : page.items;
    renderResults();
  } catch (error) {
    $('history-error').textContent = error.message;
  } finally {
    history.busy = false;
    $('history-search').disabled = false;
    // How many searches answered (the browser tests wait on it).
    const list = $('history-results');
    list.dataset.searches = String(Number(list.dataset.searches ?? 0) + 1);
  }
}

function renderResults() {
  const list = $('history-results');
  list.replaceChildren();
  for (const item of history.items) {
    const li = el('li');
    li.dataset.chat = item.chat;
    const button = el('button', 'hit');
    button.type = 'button';
    button.dataset.chat = item.chat;
    if (item.chat === history.open) button.setAttribute('aria-current', 'true');
    const who = item.name || item.email || 'Visitor';
    const facts = [item.site, when(item.started), item.state, item.operator ? `by ${item.operator}` : '', item.rating ? `rated ${item.rating.score}` : '']
      .filter(Boolean)
      .join(' · ');
    button.append(el('strong', 'who', who), el('span', 'meta', facts), el('span', 'snippet', item.snippet));
    li.append(button);
    list.append(li);
  }
  $('history-count').textContent = history.items.length ? `(${history.items.length}${history.cursor ? '+' : ''})` : '';
  $('history-empty').hidden = history.items.length > 0;
  $('history-more').hidden = !history.cursor;
}

async function openChat(chat) {
  const c = consoleOrNull();
  if (!c) return;
  $('history-error').textContent = '';
  try {
    const read = await c.historyChat(chat);
    history.open = chat;
    renderChat(read);
    renderResults();
  } catch (error) {
    $('history-error').textContent = error.message;
  }
}

function renderChat({ chat, messages }) {
  const panel = $('history-chat');
  panel.hidden = false;
  panel.dataset.chat = chat.chat;
  $('history-chat-title').textContent = chat.name || chat.email || 'Visitor';
  const meta = [chat.email, chat.site, `started ${when(chat.started)}`, chat.closed != null ? `closed ${when(chat.closed)}` : chat.state, chat.operator ? `by ${chat.operator}` : '']
    .filter(Boolean)
    .join(' · ');
  $('history-chat-meta').textContent = meta;
  const rating = $('history-chat-rating');
  rating.hidden = !chat.rating;
  rating.textContent = ratingText(chat.rating);
  const transcript = $('history-transcript');
  transcript.replaceChildren();
  for (const m of messages) {
    const li = el('li', `msg ${m.author.role}`);
    li.dataset.key = m.id;
    const name = m.author.name || (m.author.role === 'visitor' ? chat.name || 'Visitor' : m.author.id);
    li.append(el('span', 'who', name), el('p', 'text', m.text), el('span', 'meta', when(m.at)));
    // A file (the relay's record): shown as the open chats show theirs,
    // an image as a preview, anything else as a named download.
    if (m.file && window.twinlineFileNode) {
      const f = m.file;
      const show = f.type.startsWith('image/') ? 'preview' : 'download';
      li.insertBefore(window.twinlineFileNode({ id: f.id, name: f.name, size: f.size, mime: f.type, show }), li.lastChild);
    }
    transcript.append(li);
  }
}

function wire() {
  $('history-toggle').addEventListener('click', () => show($('history-view').hidden));
  $('history-form').addEventListener('submit', (event) => {
    event.preventDefault();
    search(false);
  });
  $('history-more').addEventListener('click', () => search(true));
  $('history-results').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-chat]');
    if (button) openChat(button.dataset.chat);
  });
}

wire();
