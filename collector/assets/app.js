// Shows every <time datetime> in the collector's time zone (data-tz on the page's nav; the
// browser's own zone on pages without it), with a relative hint ("hace 12 s").
(function () {
  const holder = document.querySelector('[data-tz]');
  const zone = holder ? holder.getAttribute('data-tz') : undefined;
  let fmt;
  try {
    fmt = new Intl.DateTimeFormat('es', { dateStyle: 'short', timeStyle: 'medium', timeZone: zone });
  } catch (e) {
    fmt = new Intl.DateTimeFormat('es', { dateStyle: 'short', timeStyle: 'medium' });
  }
  function ago(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60) return 'hace ' + s + ' s';
    if (s < 3600) return 'hace ' + Math.round(s / 60) + ' min';
    if (s < 86400) return 'hace ' + Math.round(s / 3600) + ' h';
    return 'hace ' + Math.round(s / 86400) + ' d';
  }
  function render() {
    for (const el of document.querySelectorAll('time[datetime]')) {
      const t = new Date(el.getAttribute('datetime'));
      if (isNaN(t)) continue;
      el.textContent = fmt.format(t) + ' (' + ago(Date.now() - t) + ')';
      el.title = el.getAttribute('datetime');
    }
  }
  document.addEventListener('DOMContentLoaded', render);
  document.addEventListener('centinela:times', render);
  setInterval(render, 5000);
})();

// Live pages (the fleet, a server): #live-state[data-live] names the event stream. A `fragment`
// event carries HTML whose [data-live-part] elements replace the page's elements of the same name,
// so what lies outside them (a half-filled form, the charts) is never touched; a `ping` says the
// stream is alive. Silence for three periods means the page may be out of date, and it says so.
(function () {
  const state = document.getElementById('live-state');
  if (!state || !state.dataset.live || !window.EventSource) return;
  const every = Number(state.dataset.every) || 2000;
  const holder = document.querySelector('[data-tz]');
  let clock;
  try {
    clock = new Intl.DateTimeFormat('es', { timeStyle: 'medium', timeZone: holder ? holder.getAttribute('data-tz') : undefined });
  } catch (e) {
    clock = new Intl.DateTimeFormat('es', { timeStyle: 'medium' });
  }
  let last = Date.now();
  const source = new EventSource(state.dataset.live);
  source.addEventListener('fragment', function (e) {
    const next = document.createElement('div');
    next.innerHTML = e.data;
    for (const part of Array.from(next.querySelectorAll('[data-live-part]'))) {
      const old = document.querySelector('[data-live-part="' + part.dataset.livePart + '"]');
      if (old) old.replaceWith(part);
    }
    last = Date.now();
    show();
    document.dispatchEvent(new Event('centinela:times'));
  });
  source.addEventListener('ping', function () { last = Date.now(); show(); });
  // The browser retries a dropped stream by itself, but not one refused (a session that ended).
  source.addEventListener('error', function () { show(); });
  function show() {
    const closed = source.readyState === EventSource.CLOSED;
    const stale = closed || Date.now() - last > 3 * every;
    const at = clock.format(new Date(last));
    state.classList.toggle('stale', stale);
    state.textContent = !stale
      ? 'En vivo · actualizado a las ' + at
      : 'Sin conexión con el colector desde las ' + at + ': esta página puede estar desactualizada ' +
        (closed ? '(recárguela para volver a conectarse).' : '(se reintenta sola).');
  }
  show();
  setInterval(show, 1000);
})();
