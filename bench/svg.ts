/**
 * The chart: for each flow, throughput (top row) and p99 latency (bottom
 * row) per concurrency, auth4agent and the peer side by side. Hand-written
 * SVG, no dependencies.
 */
import type { BenchReport } from "./report.ts";
import { OURS, PEER } from "./report.ts";

const COLORS: Record<string, string> = {
  [OURS]: "#2563eb",
  [PEER]: "#ea580c",
};
const FLOW_TITLES: Record<string, string> = {
  a: "(a) challenge → proof → token",
  b: "(b) client_credentials + private_key_jwt",
  c: "(c) introspection",
};

const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );

/** A tick step of 1, 2, 2.5 or 5 × 10^k giving at most 5 intervals up to `value`. */
function niceStep(value: number): number {
  if (!(value > 0)) return 0.25;
  const raw = value / 5;
  const exponent = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * exponent >= raw) return step * exponent;
  }
  return 10 * exponent;
}

/** Greedy word wrap at `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function short(value: number): string {
  if (value === 0) return "0";
  if (value >= 10_000) return `${(value / 1000).toFixed(0)}k`;
  if (value >= 1000) return `${+(value / 1000).toFixed(2)}k`;
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

interface Panel {
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
  unit: string;
  concurrency: number[];
  servers: string[];
  value: (server: string, concurrency: number) => number | undefined;
  /** A dashed horizontal reference line (a ceiling or a target). */
  reference?: { value: number; label: string };
}

function panel(p: Panel): string {
  const parts: string[] = [];
  const left = p.x + 52;
  const top = p.y + 38;
  const plotWidth = p.width - 60;
  const plotHeight = p.height - 72;
  const bottom = top + plotHeight;
  const values = p.concurrency.flatMap((c) =>
    p.servers.map((s) => p.value(s, c) ?? 0)
  );
  const dataMax = Math.max(...values);
  // A reference far above the data would flatten the bars: it is then
  // named at the top of the panel instead of drawn.
  const drawReference = p.reference !== undefined &&
    p.reference.value <= 2 * dataMax;
  const highest = Math.max(dataMax, drawReference ? p.reference!.value : 0) *
    1.08;
  const step = niceStep(highest);
  const ticks = Math.max(1, Math.ceil(highest / step));
  const max = step * ticks;
  parts.push(
    `<text x="${p.x + p.width / 2}" y="${p.y + 14}" class="panel-title">${
      escape(p.title)
    }</text>`,
  );
  for (let i = 0; i <= ticks; i++) {
    const v = step * i;
    const y = bottom - (plotHeight * i) / ticks;
    parts.push(
      `<line x1="${left}" x2="${
        left + plotWidth
      }" y1="${y}" y2="${y}" class="grid"/>`,
      `<text x="${left - 6}" y="${y + 4}" class="tick" text-anchor="end">${
        v >= 1000 ? short(v) : String(+v.toFixed(2))
      }</text>`,
    );
  }
  parts.push(
    `<text x="${p.x + 12}" y="${
      top + plotHeight / 2
    }" class="unit" transform="rotate(-90 ${p.x + 12} ${
      top + plotHeight / 2
    })">${escape(p.unit)}</text>`,
  );
  const groupWidth = plotWidth / p.concurrency.length;
  const barWidth = Math.min(34, (groupWidth * 0.8) / p.servers.length);
  p.concurrency.forEach((c, gi) => {
    const center = left + groupWidth * (gi + 0.5);
    const start = center - (barWidth * p.servers.length) / 2;
    p.servers.forEach((server, si) => {
      const value = p.value(server, c);
      const x = start + si * barWidth;
      if (value === undefined || Number.isNaN(value)) return;
      const h = (plotHeight * value) / max;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${(bottom - h).toFixed(1)}" width="${
          (barWidth - 2).toFixed(1)
        }" height="${h.toFixed(1)}" fill="${COLORS[server] ?? "#666"}"/>`,
        `<text x="${(x + barWidth / 2 - 1).toFixed(1)}" y="${
          (bottom - h - 3).toFixed(1)
        }" class="value">${short(value)}</text>`,
      );
    });
    parts.push(
      `<text x="${center}" y="${
        bottom + 15
      }" class="tick" text-anchor="middle">${c}</text>`,
    );
  });
  if (p.reference) {
    const y = bottom - (plotHeight * p.reference.value) / max;
    if (drawReference) {
      parts.push(
        `<line x1="${left}" x2="${
          left + plotWidth
        }" y1="${y}" y2="${y}" class="reference"/>`,
      );
    }
    parts.push(
      `<text x="${left}" y="${p.y + 29}" class="reference-label">${
        escape(
          drawReference
            ? `– – ${p.reference.label}`
            : `${p.reference.label} (above this scale)`,
        )
      }</text>`,
    );
  }
  parts.push(
    `<line x1="${left}" x2="${
      left + plotWidth
    }" y1="${bottom}" y2="${bottom}" class="axis"/>`,
    `<text x="${left + plotWidth / 2}" y="${
      bottom + 31
    }" class="tick" text-anchor="middle">connections</text>`,
  );
  return parts.join("\n");
}

export function renderSvg(report: BenchReport): string {
  const flows = report.settings.flows;
  const concurrency = report.settings.concurrency;
  const panelWidth = 380;
  const panelHeight = 270;
  const width = 40 + panelWidth * flows.length;
  const height = 130 + panelHeight * 2 + 100;
  const servers = [OURS, PEER].filter((s) =>
    report.aggregates.some((a) => a.server === s)
  );
  const get = (
    server: string,
    flow: string,
    c: number,
    pick: "perSecond" | "p99Ms",
  ) =>
    report.aggregates.find((a) =>
      a.server === server && a.flow === flow && a.concurrency === c
    )?.[pick];
  const ceilingFor = (flow: string) => {
    const ceiling = report.ceilings.find((c) => c.id === `${flow}-headline`);
    return ceiling && {
      value: ceiling.tokensPerSecond,
      label: `single-core ceiling ${short(ceiling.tokensPerSecond)}/s`,
    };
  };
  const m = report.machine;
  const body: string[] = [];
  flows.forEach((flow, i) => {
    const x = 20 + i * panelWidth;
    body.push(
      panel({
        x,
        y: 110,
        width: panelWidth - 10,
        height: panelHeight,
        title: `${FLOW_TITLES[flow] ?? flow}: throughput`,
        unit: flow === "c" ? "introspections/s" : "tokens/s",
        concurrency,
        servers,
        value: (s, c) => get(s, flow, c, "perSecond"),
        reference: ceilingFor(flow),
      }),
      panel({
        x,
        y: 110 + panelHeight,
        width: panelWidth - 10,
        height: panelHeight,
        title: `${FLOW_TITLES[flow] ?? flow}: p99 latency`,
        unit: "p99 ms",
        concurrency,
        servers,
        value: (s, c) => get(s, flow, c, "p99Ms"),
        reference: flow === "c"
          ? undefined
          : { value: 10, label: "target: p99 ≤ 10 ms at 32" },
      }),
    );
  });
  const legend = servers.map((server, i) =>
    `<rect x="${20 + i * 260}" y="74" width="14" height="14" fill="${
      COLORS[server]
    }"/><text x="${40 + i * 260}" y="86" class="legend">${
      escape(
        server === OURS
          ? `${OURS} (durable SQLite)`
          : `${PEER} ${report.peer?.version ?? ""} (in memory)`,
      )
    }</text>`
  ).join("\n");
  const s = report.settings;
  const notes = [
    "Flow (a): two round trips per token; the peer has no challenge flow. Flow (c) on the peer introspects its opaque tokens (it refuses to introspect JWTs).",
    `Ours: ${report.ours.storage}.`,
    report.peer ? `Peer: ${report.peer.storage}.` : "",
    `Every response checked: ${
      report.aggregates.reduce((n, a) => n + a.failed, 0)
    } failed. Ceilings (green): 1 verify + 1 sign + the token's SQLite writes (synchronous=FULL, 32 per commit), from deno bench on one core.`,
  ].filter(Boolean).flatMap((note) => wrap(note, 190));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<style>
  .title { font-size: 18px; font-weight: bold; fill: #111; }
  .subtitle { font-size: 12px; fill: #444; }
  .panel-title { font-size: 12.5px; font-weight: bold; fill: #222; text-anchor: middle; }
  .tick { font-size: 10.5px; fill: #555; }
  .unit { font-size: 11px; fill: #555; text-anchor: middle; }
  .value { font-size: 9px; fill: #222; text-anchor: middle; }
  .legend { font-size: 12px; fill: #222; }
  .grid { stroke: #e5e7eb; stroke-width: 1; }
  .axis { stroke: #9ca3af; stroke-width: 1; }
  .note { font-size: 10.5px; fill: #555; }
  .reference { stroke: #16a34a; stroke-width: 1.2; stroke-dasharray: 5 3; }
  .reference-label { font-size: 9.5px; fill: #15803d; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="20" y="30" class="title">auth4agent vs ${PEER}: throughput and p99 latency per flow</text>
<text x="20" y="52" class="subtitle">${
    escape(
      `${report.startedAt} · ${m.cpuModel} · ${
        m.pinned
          ? `server on CPU ${m.serverCpu}, load generator on CPU ${m.loadCpu}`
          : "not pinned"
      } · ${s.reps}×${s.durationS} s per cell (A B A B) · loopback, keep-alive HTTP/1.1`,
    )
  }</text>
${legend}
${body.join("\n")}
${
    notes.map((note, i) =>
      `<text x="20" y="${height - 14 * (notes.length - i) - 4}" class="note">${
        escape(note)
      }</text>`
    ).join("\n")
  }
</svg>
`;
}
