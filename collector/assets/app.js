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
  setInterval(render, 5000);
})();
