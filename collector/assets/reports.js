// The monthly report page's two charts, drawn with the vendored uPlot (MIT), from the data the
// server put on <section id="graficos" data-days="[[day, received, made], ...]"
// data-hours="[[hour, received, made], ...]">: calls per day (bars side by side) and the
// hour-of-day profile (lines). The same numbers are in the tables under "Ver los datos".
//
// For screenshots: each .chart gets data-rendered="1" (data-state: chart, empty or error) and the
// section data-rendered="1" once both are.
(function () {
  'use strict';
  const root = document.getElementById('graficos');
  if (!root) return;
  const RECEIVED = '#1f6fb4';
  const MADE = '#e67e22';
  const number = new Intl.NumberFormat('es', { maximumFractionDigits: 0 });
  const STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000];

  function done(el, state, note) {
    if (note != null) {
      const plot = el.querySelector('.plot');
      plot.textContent = '';
      const p = document.createElement('p');
      p.className = 'note';
      p.textContent = note;
      plot.appendChild(p);
    }
    el.dataset.state = state;
    el.dataset.rendered = '1';
    if (Array.from(root.querySelectorAll('.chart')).every((c) => c.dataset.rendered === '1')) root.dataset.rendered = '1';
  }

  function parse(name) {
    try {
      return JSON.parse(root.getAttribute(name) || '[]');
    } catch (e) {
      return null;
    }
  }

  function draw(el, rows, bars, xLabel, xFormat) {
    if (rows == null) return done(el, 'error', 'No se pudieron leer los datos del gráfico.');
    if (typeof uPlot === 'undefined') return done(el, 'error', 'No se pudo cargar la biblioteca de gráficos.');
    if (!rows.some((r) => r[1] > 0 || r[2] > 0)) return done(el, 'empty', 'Sin llamadas en el mes.');
    const plot = el.querySelector('.plot');
    plot.textContent = '';
    const data = [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])];
    const series = [
      { label: xLabel, value: (u, v) => (v == null ? '—' : xFormat(v)) },
      { label: 'Recibidas', stroke: RECEIVED, fill: bars ? RECEIVED : undefined, width: bars ? 0 : 2, value: (u, v) => (v == null ? '—' : number.format(v)) },
      { label: 'Realizadas', stroke: MADE, fill: bars ? MADE : undefined, width: bars ? 0 : 2, value: (u, v) => (v == null ? '—' : number.format(v)) },
    ];
    if (bars && uPlot.paths && uPlot.paths.bars) {
      // Two bars per day, side by side: the received one left of the day, the made one right.
      series[1].paths = uPlot.paths.bars({ size: [0.4, 24], align: -1 });
      series[2].paths = uPlot.paths.bars({ size: [0.4, 24], align: 1 });
      series[1].points = { show: false };
      series[2].points = { show: false };
    }
    const min = data[0][0];
    const max = data[0][data[0].length - 1];
    const u = new uPlot(
      {
        width: Math.max(280, plot.clientWidth || el.clientWidth || 600),
        height: 220,
        series,
        scales: { x: { time: false, range: () => [min - 0.6, max + 0.6] }, y: { range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] } },
        // Whole steps only: a count of calls has no halves.
        axes: [
          { label: xLabel, incrs: [1, 2, 3, 5, 7, 10], values: (u, splits) => splits.map((v) => xFormat(v)) },
          { label: 'llamadas', incrs: STEPS, values: (u, splits) => splits.map((v) => number.format(v)), size: 50 },
        ],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      plot,
    );
    el._plot = u;
    done(el, 'chart');
  }

  function start() {
    const days = root.querySelector('[data-chart="dias"]');
    const hours = root.querySelector('[data-chart="horas"]');
    if (days) draw(days, parse('data-days'), true, 'Día', (v) => String(v));
    if (hours) draw(hours, parse('data-hours'), false, 'Hora', (v) => String(v).padStart(2, '0') + ' h');
    let resize;
    window.addEventListener('resize', () => {
      clearTimeout(resize);
      resize = setTimeout(() => {
        for (const el of root.querySelectorAll('.chart')) {
          if (el._plot) el._plot.setSize({ width: Math.max(280, el.querySelector('.plot').clientWidth), height: 220 });
        }
      }, 150);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
