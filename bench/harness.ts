// A small wall-clock benchmark harness: warm up, then run until a minimum time has passed.
// Enough to compare implementations on one machine; not a statistics package.

export interface Measurement {
  name: string;
  opsPerSec: number;
  msPerOp: number;
  runs: number;
}

export interface MeasureOptions {
  /** Measure for at least this long (default 1000 ms). */
  minMs?: number;
}

// Results are stored here so the JIT cannot discard a call whose value nobody reads.
let _sink: unknown;

const NS_PER_MS = 1_000_000n;

/**
 * Run `fn` repeatedly and report its throughput. Warm-up lasts a fifth of minMs (at most
 * 250 ms) so the JIT has optimised the code being measured; the measured phase then runs in
 * batches that double until a batch takes ≥ 1 ms, so timer reads stay a negligible cost even
 * for sub-microsecond functions.
 */
export function measure(name: string, fn: () => unknown, opts?: MeasureOptions): Measurement {
  const minMs = opts?.minMs ?? 1000;
  const warmupEnd = process.hrtime.bigint() + BigInt(Math.round(Math.min(minMs / 5, 250) * 1e6));
  do _sink = fn();
  while (process.hrtime.bigint() < warmupEnd);

  const minNs = BigInt(Math.round(minMs * 1e6));
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  let runs = 0;
  let batch = 1;
  while (elapsed < minNs) {
    const batchStart = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) _sink = fn();
    const now = process.hrtime.bigint();
    runs += batch;
    elapsed = now - start;
    if (now - batchStart < NS_PER_MS) batch *= 2;
  }
  const ms = Number(elapsed) / 1e6;
  return { name, opsPerSec: (runs / ms) * 1000, msPerOp: ms / runs, runs };
}

/**
 * Print one table: ops/s, ms/op, runs, and each row's speed relative to the baseline row
 * (first row unless named), so figures from different machines can be compared as ratios.
 */
export function printTable(title: string, rows: Measurement[], baselineName?: string): void {
  const baseline = baselineName === undefined ? rows[0] : rows.find((row) => row.name === baselineName);
  if (baselineName !== undefined && baseline === undefined) throw new Error(`no row named "${baselineName}"`);
  const header = ['', 'ops/s', 'ms/op', 'runs', baseline ? `vs ${baseline.name}` : ''];
  const body = rows.map((row) => [
    row.name,
    formatNumber(row.opsPerSec),
    row.msPerOp.toFixed(row.msPerOp < 0.1 ? 4 : 3),
    String(row.runs),
    baseline ? formatRatio(row.opsPerSec / baseline.opsPerSec) : '',
  ]);
  const widths = header.map((cell, column) => Math.max(cell.length, ...body.map((line) => (line[column] ?? '').length)));
  const format = (cells: string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  console.log(`\n${title}`);
  console.log(format(header));
  for (const line of body) console.log(format(line));
}

function formatNumber(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

/** Three significant digits, so a row 200× slower than the baseline does not print as 0.00×. */
function formatRatio(ratio: number): string {
  return `${ratio >= 1 ? ratio.toFixed(2) : ratio.toPrecision(3)}×`;
}
