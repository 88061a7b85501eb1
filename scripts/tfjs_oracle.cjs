// Run a TF.js graph model with @tensorflow/tfjs's pure-JavaScript CPU backend: the reference
// that faceprint's PyTorch ports are compared with (scripts/make_expected_tfjs.py calls it).
//
//   NODE_PATH=<dir with node_modules> node scripts/tfjs_oracle.cjs MODEL_JSON INPUT.bin N,H,W,C OUT_PREFIX [OUTPUT_NODE...]
//
// INPUT.bin holds N*H*W*C little-endian float32 values (NHWC). Each output is written to
// OUT_PREFIX.<i>.bin (float32) with its shape in OUT_PREFIX.<i>.json.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [modelJson, inputFile, shapeText, outPrefix, ...outputs] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of spec.weightsManifest) {
    specs.push(...group.weights);
    for (const shard of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(modelJson), shard)));
  }
  const data = Buffer.concat(buffers);
  const handler = {
    load: async () => ({
      modelTopology: spec.modelTopology,
      format: spec.format,
      generatedBy: spec.generatedBy,
      convertedBy: spec.convertedBy,
      userDefinedMetadata: spec.userDefinedMetadata,
      signature: spec.signature,
      weightSpecs: specs,
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    }),
  };
  const model = await tf.loadGraphModel(handler);
  const shape = shapeText.split(',').map(Number);
  const raw = fs.readFileSync(inputFile);
  const values = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const input = tf.tensor(values, shape, 'float32');
  let result = outputs.length ? model.execute(input, outputs) : model.execute(input);
  if (!Array.isArray(result)) result = [result];
  result.forEach((t, i) => {
    const out = t.dataSync();
    fs.writeFileSync(`${outPrefix}.${i}.bin`, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    fs.writeFileSync(`${outPrefix}.${i}.json`, JSON.stringify({ shape: t.shape, backend: tf.getBackend(), version: tf.version.tfjs }));
  });
}

main().catch((err) => { console.error(err); process.exit(1); });
