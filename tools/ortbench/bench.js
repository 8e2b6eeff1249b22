// bench.js MODEL.onnx [RUNS] [BATCH] [--warmup N] [--json]: ONNX Runtime's
// (npm onnxruntime-node, CPU execution provider) latency of one inference
// of MODEL with one intra-op thread, the peer figure vkinfer's ratios are
// taken against. Inputs are random; an input's dynamic first dimension is
// BATCH (default 1), any other dynamic dimension is 1, and a fixed first
// dimension other than BATCH is refused. Prints the p50, p90 and mean in
// microseconds after N warm-up runs (default 20); with --json one JSON
// object instead (model, batch, runs, warmup, version, p50_us, p90_us,
// mean_us, min_us). Install the runtime with `./build.sh ort`; run with
// `./build.sh ortbench MODEL [RUNS] [BATCH]`.
'use strict';
const ort = require('onnxruntime-node');

const usage = 'usage: bench.js MODEL.onnx [RUNS] [BATCH] [--warmup N] [--json]';

function positiveInt(what, s, allowZero) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    console.error(`bench.js: ${what} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(s)}\n${usage}`);
    process.exit(2);
  }
  return n;
}

function parseArgs(argv) {
  const pos = [];
  let warmup = 20;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--warmup') warmup = positiveInt('--warmup', argv[++i], true);
    else if (a.startsWith('--')) {
      console.error(`bench.js: unknown flag ${a}\n${usage}`);
      process.exit(2);
    } else pos.push(a);
  }
  if (pos.length < 1 || pos.length > 3) {
    console.error(usage);
    process.exit(2);
  }
  return {
    path: pos[0],
    runs: pos[1] === undefined ? 1000 : positiveInt('RUNS', pos[1]),
    batch: pos[2] === undefined ? 1 : positiveInt('BATCH', pos[2]),
    warmup,
    json,
  };
}

async function main() {
  const { path, runs, batch, warmup, json } = parseArgs(process.argv.slice(2));
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata.find ? session.inputMetadata.find((m) => m.name === name) : null;
    if (!meta || !meta.shape) {
      console.error(`input ${name}: no shape in the model; cannot make an input`);
      process.exit(1);
    }
    const dims = meta.shape.map((d, i) => {
      const fixed = typeof d === 'number' && d > 0;
      if (i === 0 && fixed && d !== batch) {
        console.error(`input ${name} has a fixed first dimension ${d}: batch ${batch} cannot change it; export the model with a dynamic batch axis`);
        process.exit(1);
      }
      if (fixed) return d;
      return i === 0 ? batch : 1;
    });
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const us = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    us.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  us.sort((a, b) => a - b);
  const q = (p) => us[Math.min(us.length - 1, Math.floor(p * us.length))];
  const mean = us.reduce((a, b) => a + b, 0) / us.length;
  const version = require('onnxruntime-node/package.json').version;
  if (json) {
    console.log(JSON.stringify({
      runtime: 'onnxruntime-node', version, threads: 1, model: path, batch, runs, warmup,
      p50_us: q(0.5), p90_us: q(0.9), mean_us: mean, min_us: us[0],
    }));
    return;
  }
  console.log(`onnxruntime-node ${version} cpu 1 thread, ${path}, batch ${batch}, ${runs} runs: ` +
    `p50 ${q(0.5).toFixed(1)} us  p90 ${q(0.9).toFixed(1)} us  mean ${mean.toFixed(1)} us`);
}

main().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
