// The server page's history charts, drawn with uPlot (vendored, MIT).
//
// Every <div class="chart" data-metrics="a,b"> inside <section id="historial" data-server="ID"> is
// one chart of those metrics, read from /api/v1/servers/ID/series?metric=a,b&range=R with the
// session cookie (same-origin fetch). Charts of metrics this server never reported are hidden.
// The range (6 h, 24 h, 7 d, 30 d, 1 a) is kept in localStorage, so a reload keeps it.
//
// The page is live (app.js) but the charts are outside its swapped parts: once a minute their data
// is read again and handed to the same uPlot (setData), so a chart is only re-created when its
// series change (a disk appears, the first data arrives) or the range does.
//
// For screenshots: each chart gets data-rendered="1" once its plot, its "no data" note or its error
// is in place (data-state says which: chart, empty, absent, error), and the section gets
// data-rendered="1" when every chart has.
(function () {
  'use strict';
  const root = document.getElementById('historial');
  if (!root) return;
  const server = root.dataset.server;
  const holder = document.querySelector('[data-tz]');
  const zone = holder ? holder.getAttribute('data-tz') : undefined;
  const KEY = 'centinela.historial.rango';
  const RANGES = ['6h', '24h', '7d', '30d', '1y'];
  const DAY = 86400000;
  const PALETTE = ['#1f6fb4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf',
    '#7f7f7f', '#bcbd22'];
  const REFRESH_MS = 60000;
  // Per chart element: its uPlot, the key of its series, and the window its x scale shows.
  const plots = new Map();
  let generation = 0;

  function intl(options) {
    try {
      return new Intl.DateTimeFormat('es', Object.assign({ timeZone: zone }, options));
    } catch (e) {
      return new Intl.DateTimeFormat('es', options);
    }
  }
  const full = intl({ dateStyle: 'medium', timeStyle: 'short' });
  const day = intl({ dateStyle: 'long' });
  const axisFormat = {
    '6h': intl({ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
    '24h': intl({ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
    '7d': intl({ weekday: 'short', day: 'numeric', hour: '2-digit', hourCycle: 'h23' }),
    '30d': intl({ day: 'numeric', month: 'short' }),
    '1y': intl({ month: 'short', year: 'numeric' }),
  };
  const number = new Intl.NumberFormat('es', { maximumFractionDigits: 2 });

  function stored() {
    try {
      const r = localStorage.getItem(KEY);
      return RANGES.includes(r) ? r : '24h';
    } catch (e) {
      return '24h';
    }
  }
  let range = stored();

  function fmtValue(v, unit) {
    if (v == null || !isFinite(v)) return '—';
    return number.format(v) + (unit ? ' ' + unit : '');
  }

  function label(s, multi) {
    if (multi) return s.subject ? s.title + ' · ' + s.subject : s.title;
    return s.subject || s.title;
  }

  function done(el, state, note) {
    const plot = el.querySelector('.plot');
    if (note != null) {
      plot.textContent = '';
      const p = document.createElement('p');
      p.className = 'note';
      p.textContent = note;
      plot.appendChild(p);
    }
    el.dataset.state = state;
    el.dataset.rendered = '1';
    const all = root.querySelectorAll('.chart');
    if (Array.from(all).every((c) => c.dataset.rendered === '1')) root.dataset.rendered = '1';
  }

  // The least-squares line of a filesystem, from its last point to the end of the drawn window
  // (or to 100 %, if sooner).
  function projection(s, end) {
    const last = s.points[s.points.length - 1];
    if (!s.trend || !last || !(s.trend.per_day > 0)) return null;
    const stop = s.trend.full_at_ms != null ? Math.min(s.trend.full_at_ms, end) : end;
    if (stop <= last[0]) return null;
    const y = Math.min(100, last[3] + (s.trend.per_day * (stop - last[0])) / DAY);
    return [[last[0], last[3]], [stop, y]];
  }

  function projectionText(series) {
    const lines = series.map((s) => {
      const who = s.subject || s.title;
      if (!s.trend) return who + ': sin datos suficientes para una tendencia.';
      if (!(s.trend.per_day > 0) || s.trend.full_at_ms == null) return who + ': sin tendencia a llenarse en este periodo.';
      return who + ': crece ' + number.format(s.trend.per_day) + ' % por día; al ritmo de este periodo se llenaría el ' +
        day.format(new Date(s.trend.full_at_ms)) + '.';
    });
    return lines.join(' ');
  }

  function draw(el, reply) {
    const unit = el.dataset.unit || '';
    const multi = el.dataset.metrics.split(',').length > 1;
    const series = reply.series.filter((s) => s.points.length > 0);
    const old = plots.get(el);
    if (series.length === 0) {
      if (old) old.u.destroy();
      plots.delete(el);
      done(el, 'empty', 'Sin datos en este periodo.');
      return;
    }
    const plot = el.querySelector('.plot');
    const span = reply.to_ms - reply.from_ms;
    const withProjection = el.dataset.projection === '1';
    const end = reply.to_ms + span / 4;
    const projections = withProjection ? series.map((s) => projection(s, end)) : [];
    const xs = new Set();
    for (const s of series) for (const p of s.points) xs.add(p[0]);
    for (const pr of projections) if (pr) for (const p of pr) xs.add(p[0]);
    const x = Array.from(xs).sort((a, b) => a - b);
    const at = new Map(x.map((t, i) => [t, i]));
    const data = [x];
    const opts = [{ label: 'Hora', value: (u, v) => (v == null ? '—' : full.format(new Date(v))) }];
    const stepped = el.dataset.step === '1' && uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
    series.forEach((s, i) => {
      const y = new Array(x.length).fill(null);
      for (const p of s.points) y[at.get(p[0])] = p[3];
      data.push(y);
      const line = {
        label: label(s, multi),
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        value: (u, v) => fmtValue(v, unit),
      };
      if (stepped) line.paths = stepped;
      opts.push(line);
    });
    projections.forEach((pr, i) => {
      if (!pr) return;
      const y = new Array(x.length).fill(null);
      for (const p of pr) y[at.get(p[0])] = p[1];
      data.push(y);
      opts.push({
        label: label(series[i], multi) + ' (proyección)',
        stroke: PALETTE[i % PALETTE.length],
        dash: [6, 4],
        width: 1.5,
        spanGaps: true,
        value: (u, v) => fmtValue(v, unit),
      });
    });
    const win = { from: reply.from_ms, to: withProjection ? Math.max(reply.to_ms, x[x.length - 1]) : reply.to_ms };
    const key = reply.range + '\n' + opts.map((o) => o.label).join('\n');
    const note = el.querySelector('.projection');
    if (old && old.key === key) {
      // The same series: new points into the same plot, no new DOM.
      Object.assign(old.win, win);
      old.u.setData(data);
      if (note) note.textContent = projectionText(series);
      return;
    }
    if (old) old.u.destroy();
    plots.delete(el);
    plot.textContent = '';
    const fmt = axisFormat[reply.range] || full;
    const yRange = el.dataset.step === '1' ? [0, 1.05] : withProjection ? [0, 100] : undefined;
    const options = {
      width: Math.max(280, plot.clientWidth || el.clientWidth || 600),
      height: 220,
      ms: 1,
      series: opts,
      scales: {
        x: { time: true, range: () => [win.from, win.to] },
        y: yRange ? { range: () => yRange } : {},
      },
      axes: [
        { values: (u, splits) => splits.map((v) => fmt.format(new Date(v))) },
        { label: unit || 'cantidad', values: (u, splits) => splits.map((v) => number.format(v)), size: 60 },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    // Ticks on the collector's day and hour boundaries, whatever the browser's zone.
    if (zone && uPlot.tzDate) options.tzDate = (ts) => uPlot.tzDate(new Date(ts), zone);
    const u = new uPlot(options, data, plot);
    plots.set(el, { u, key, win });
    if (note) note.textContent = projectionText(series);
    done(el, 'chart');
  }

  function get(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  }

  // The metrics this server has history for (`metrics` null), or those metrics' series.
  function seriesUrl(metrics) {
    const base = '/api/v1/servers/' + encodeURIComponent(server) + '/series';
    return metrics ? base + '?metric=' + metrics.join(',') + '&range=' + range : base;
  }

  async function load(el, available, gen) {
    const metrics = el.dataset.metrics.split(',');
    if (!metrics.some((m) => available.has(m))) {
      el.hidden = true;
      done(el, 'absent');
      return;
    }
    el.hidden = false;
    try {
      const r = await get(seriesUrl(metrics));
      if (gen !== generation) return;
      if (!r.ok) throw new Error('HTTP ' + r.status);
      draw(el, await r.json());
    } catch (e) {
      if (gen !== generation) return;
      done(el, 'error', 'No se pudieron leer los datos del historial (' + e.message + ').');
    }
  }

  async function loadAll() {
    const gen = ++generation;
    delete root.dataset.rendered;
    const charts = Array.from(root.querySelectorAll('.chart'));
    for (const el of charts) delete el.dataset.rendered;
    for (const b of root.querySelectorAll('[data-range]')) b.setAttribute('aria-pressed', String(b.dataset.range === range));
    if (typeof uPlot === 'undefined') {
      for (const el of charts) done(el, 'error', 'No se pudo cargar la biblioteca de gráficos.');
      return;
    }
    let available = new Set();
    try {
      const r = await get(seriesUrl(null));
      if (r.status === 404) {
        for (const el of charts) done(el, 'empty', 'Sin historial de este servidor.');
        return;
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      available = new Set((await r.json()).metrics.map((m) => m.metric));
    } catch (e) {
      for (const el of charts) done(el, 'error', 'No se pudo leer el historial (' + e.message + ').');
      return;
    }
    if (gen !== generation) return;
    await Promise.all(charts.map((el) => load(el, available, gen)));
  }

  // The minute's refresh: what is drawn stays until new data replaces it (a failed read is
  // retried at the next one), and the section's data-rendered stays set.
  async function refresh() {
    const gen = generation;
    if (document.hidden || typeof uPlot === 'undefined' || root.dataset.rendered !== '1') return;
    try {
      const r = await get(seriesUrl(null));
      if (!r.ok || gen !== generation) return;
      const available = new Set((await r.json()).metrics.map((m) => m.metric));
      await Promise.all(Array.from(root.querySelectorAll('.chart')).map(async (el) => {
        const metrics = el.dataset.metrics.split(',');
        if (!metrics.some((m) => available.has(m))) return;
        const reply = await get(seriesUrl(metrics));
        if (!reply.ok || gen !== generation) return;
        const data = await reply.json();
        if (gen !== generation) return;
        el.hidden = false;
        draw(el, data);
      }));
    } catch (e) {
      /* the next refresh tries again */
    }
  }

  function start() {
    for (const b of root.querySelectorAll('[data-range]')) {
      b.addEventListener('click', () => {
        range = b.dataset.range;
        try {
          localStorage.setItem(KEY, range);
        } catch (e) {
          /* private mode: the range lasts until the next reload */
        }
        loadAll();
      });
    }
    let resize;
    window.addEventListener('resize', () => {
      clearTimeout(resize);
      resize = setTimeout(() => {
        for (const [el, p] of plots) p.u.setSize({ width: Math.max(280, el.querySelector('.plot').clientWidth), height: 220 });
      }, 150);
    });
    loadAll();
    setInterval(refresh, REFRESH_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
