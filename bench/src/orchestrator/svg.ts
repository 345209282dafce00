import type { StrategyFigures } from './analysis.js';
import type { Distribution } from './stats.js';

/**
 * The README's chart, hand-written SVG: for each strategy, the distribution of three latencies on a log axis
 * (whiskers p1-p99, box p25-p75, a tick at the median): the login the user sees, the winner's overhead over a bare
 * exchange, and how long after the winner a cross-instance duplicate completes.
 */
const COLORS: Record<string, string> = {
  library: '#07c160',
  'library-nocache': '#2fb36e',
  'library-fastpath': '#0a8f4a',
  'library-fastpath-client': '#5cb85c',
  naive: '#fa5151',
  'naive-passport': '#d4380d',
  'drop-duplicate': '#fa9d3b',
  dictionary: '#b37feb',
  'redis-lock-redlock': '#1485ee',
  'redis-lock-semaphore': '#6467f0',
};

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Panel {
  title: string;
  subtitle: string;
  minMs: number;
  maxMs: number;
  pick: (f: StrategyFigures) => Distribution;
  /** A vertical reference line (e.g. a target). */
  marker?: { ms: number; label: string };
}

function fmtTick(v: number): string {
  if (v >= 1000) return `${v / 1000}s`;
  if (v >= 1) return `${v}ms`;
  return `${v}ms`;
}

export function renderLatencySvg(figures: readonly StrategyFigures[], caption: string): string {
  const width = 980;
  const labelWidth = 250;
  const plotLeft = labelWidth + 10;
  const plotWidth = width - plotLeft - 30;
  const rowHeight = 22;
  const panels: Panel[] = [
    {
      title: 'Login the user sees (last hit of each browser), browser-side latency',
      subtitle: 'Box p25–p75, whiskers p1–p99, tick = median. Login success rate on the right.',
      minMs: 1,
      maxMs: 3000,
      pick: (f) => f.visibleLatency,
    },
    {
      title: 'Winner overhead over its own bare exchange (time in the coordination step minus the upstream call)',
      subtitle: 'Target for this library: p50 ≤ 1 ms, p99 ≤ 3 ms.',
      minMs: 0.01,
      maxMs: 300,
      pick: (f) => f.winnerOverhead,
      marker: { ms: 1, label: '1 ms' },
    },
    {
      title: 'Cross-instance duplicate: completion after the winner\'s (concurrent duplicates that logged in)',
      subtitle:
        'Target for this library: p50 ≤ 1 ms, p99 ≤ 3 ms. Polling pays about half its retry interval.\n' +
        'Values ≤ 0.01 ms (a duplicate may finish a hair before the winner\'s own request does) are drawn at the left edge.',
      minMs: 0.01,
      maxMs: 1000,
      pick: (f) => f.lagCrossInstance,
      marker: { ms: 1, label: '1 ms' },
    },
  ];
  const parts: string[] = [];
  let y = 40;
  parts.push(
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="600">` +
      `WeChat duplicate-callback storms: this library vs. the fixes people use</text>`,
  );
  panels.forEach((panel, panelIndex) => {
    const logMin = Math.log10(panel.minMs);
    const logMax = Math.log10(panel.maxMs);
    const x = (v: number) => plotLeft + ((Math.log10(Math.min(Math.max(v, panel.minMs), panel.maxMs)) - logMin) / (logMax - logMin)) * plotWidth;
    parts.push(`<text x="10" y="${y + 14}" font-size="13" font-weight="600">${escapeXml(panel.title)}</text>`);
    const lines = panel.subtitle.split('\n');
    lines.forEach((line, i) => parts.push(`<text x="10" y="${y + 30 + i * 14}" font-size="11" fill="#666">${escapeXml(line)}</text>`));
    const top = y + 40 + (lines.length - 1) * 14;
    const height = figures.length * rowHeight;
    // Grid and ticks at each power of ten.
    for (let p = Math.ceil(logMin); p <= Math.floor(logMax); p++) {
      const v = 10 ** p;
      const gx = x(v);
      parts.push(`<line x1="${gx.toFixed(1)}" y1="${top}" x2="${gx.toFixed(1)}" y2="${top + height}" stroke="#e5e5e5"/>`);
      parts.push(
        `<text x="${gx.toFixed(1)}" y="${top + height + 14}" font-size="10" text-anchor="middle" fill="#666">${fmtTick(Number(v.toPrecision(1)))}</text>`,
      );
    }
    if (panel.marker) {
      const mx = x(panel.marker.ms);
      parts.push(
        `<line x1="${mx.toFixed(1)}" y1="${top - 4}" x2="${mx.toFixed(1)}" y2="${top + height}" stroke="#07c160" stroke-dasharray="4 3"/>`,
      );
    }
    figures.forEach((f, i) => {
      const cy = top + i * rowHeight + rowHeight / 2;
      const color = COLORS[f.strategy] ?? '#333';
      parts.push(
        `<text x="${labelWidth}" y="${cy + 4}" font-size="11" text-anchor="end"${f.kind === 'library' ? ' font-weight="600"' : ''}>${escapeXml(f.label)}</text>`,
      );
      const d = panel.pick(f);
      if (d.n === 0) {
        const why = panelIndex === 2 ? 'no cross-instance duplicate ever logged in' : 'no sample';
        parts.push(`<text x="${plotLeft + 4}" y="${cy + 4}" font-size="10" fill="#999">${escapeXml(why)}</text>`);
        return;
      }
      const [x1, x25, x50, x75, x99] = [d.p1, d.p25, d.p50, d.p75, d.p99].map(x) as [number, number, number, number, number];
      parts.push(`<line x1="${x1.toFixed(1)}" y1="${cy}" x2="${x99.toFixed(1)}" y2="${cy}" stroke="${color}" stroke-width="1.5"/>`);
      parts.push(`<line x1="${x1.toFixed(1)}" y1="${cy - 4}" x2="${x1.toFixed(1)}" y2="${cy + 4}" stroke="${color}"/>`);
      parts.push(`<line x1="${x99.toFixed(1)}" y1="${cy - 4}" x2="${x99.toFixed(1)}" y2="${cy + 4}" stroke="${color}"/>`);
      parts.push(
        `<rect x="${x25.toFixed(1)}" y="${cy - 7}" width="${Math.max(1, x75 - x25).toFixed(1)}" height="14" fill="${color}" fill-opacity="0.35" stroke="${color}"/>`,
      );
      parts.push(`<line x1="${x50.toFixed(1)}" y1="${cy - 8}" x2="${x50.toFixed(1)}" y2="${cy + 8}" stroke="#111" stroke-width="2"/>`);
      const note =
        panelIndex === 0
          ? `${(f.success.rate * 100).toFixed(1)}% ok`
          : `p50 ${d.p50 < 10 ? d.p50.toFixed(2) : d.p50.toFixed(0)} ms`;
      parts.push(`<text x="${Math.min(x99 + 6, width - 62).toFixed(1)}" y="${cy + 4}" font-size="10" fill="#333">${escapeXml(note)}</text>`);
    });
    y = top + height + 30;
  });
  parts.push(`<text x="10" y="${y + 4}" font-size="10" fill="#666">${escapeXml(caption)}</text>`);
  const totalHeight = y + 16;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${totalHeight}" viewBox="0 0 ${width} ${totalHeight}" ` +
    `font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" role="img" aria-label="Benchmark latency distributions per strategy">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
  );
}
