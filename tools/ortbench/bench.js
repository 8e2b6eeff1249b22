// bench.js MODEL.onnx [RUNS]: ONNX Runtime's (npm onnxruntime-node, CPU
// execution provider) latency of one batch-1 inference of MODEL with one
// intra-op thread, the peer figure vkinfer's ratios are taken against.
// Inputs are random; a dynamic dimension is 1. Prints the p50, p90 and
// mean in microseconds after 20 warm-up runs. Install the runtime with
// `./build.sh ort`; run with `./build.sh ortbench MODEL [RUNS]`.
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [path, runsArg] = process.argv.slice(2);
  if (!path) {
    console.error('usage: bench.js MODEL.onnx [RUNS]');
    process.exit(2);
  }
  const runs = Number(runsArg || 1000);
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata.find ? session.inputMetadata.find((m) => m.name === name) : null;
    let dims = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : null;
    if (!dims) {
      console.error(`input ${name}: no shape in the model; cannot make a batch-1 input`);
      process.exit(1);
    }
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const us = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    us.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  us.sort((a, b) => a - b);
  const q = (p) => us[Math.min(us.length - 1, Math.floor(p * us.length))];
  const mean = us.reduce((a, b) => a + b, 0) / us.length;
  console.log(`onnxruntime-node ${require('onnxruntime-node/package.json').version} cpu 1 thread, ${path}, ${runs} runs: ` +
    `p50 ${q(0.5).toFixed(1)} us  p90 ${q(0.9).toFixed(1)} us  mean ${mean.toFixed(1)} us`);
}

main().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
