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

// The live fleet: the server sends the fragment again when it changes (`fleet`) or a `ping`;
// silence for three periods means the page may be out of date, and it says so.
(function () {
  const target = document.getElementById('fleet');
  const state = document.getElementById('live-state');
  if (!target || !window.EventSource) return;
  const every = Number(state && state.dataset.every) || 2000;
  let last = Date.now();
  const source = new EventSource(target.dataset.live);
  source.addEventListener('fleet', function (e) {
    target.innerHTML = e.data;
    last = Date.now();
    document.dispatchEvent(new Event('centinela:times'));
  });
  source.addEventListener('ping', function () { last = Date.now(); });
  setInterval(function () {
    const stale = Date.now() - last > 3 * every;
    state.classList.toggle('stale', stale);
    state.textContent = stale
      ? 'Sin conexión con el colector: esta página puede estar desactualizada (se reintenta sola).'
      : 'En vivo';
  }, 1000);
})();
