// Child process that writes a voice's prepared model: the last decoder stage in windows
// (windowed-decoder.js), then the upsampling as polyphase Conv (polyphase-upsampling.js), and
// the spelled-out layer norms as one op each (layer-norm-fusion.js), and an input that caps the
// edge ids' durations where streamed chunks join (chunk-joins.js). A
// separate process because decoding and re-encoding a 63 MB model holds ~140 MB for a moment,
// which would otherwise stay in the worker's peak RSS. Usage: node prepare-model-process.js SRC DST
// Prints {"rewritten": n, "windowed": bool, "layerNorms": n, "edgeCaps": bool}; writes DST (atomically) only when
// anything changed.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { addEdgeFrameCaps } from './chunk-joins.js';
import { fuseLayerNorms } from './layer-norm-fusion.js';
import { hasExternalWeights } from './onnx-graph.js';
import { rewriteModelUpsampling } from './polyphase-upsampling.js';
import { windowLastStage } from './windowed-decoder.js';

const { onnx } = onnxProto;
const [src, dst] = process.argv.slice(2);
if (!src || !dst) {
  process.stderr.write('usage: prepare-model-process.js SRC DST\n');
  process.exit(2);
}
const model = onnx.ModelProto.decode(readFileSync(src));
// A copy written elsewhere would lose weights kept in a side file: such a model stays as it is.
const external = hasExternalWeights(model);
// Windowing first: its receptive-field analysis reads the ConvTranspose layers as they are.
const windowed = !external && windowLastStage(model).windowed;
const rewritten = rewriteModelUpsampling(model);
const layerNorms = fuseLayerNorms(model);
const edgeCaps = addEdgeFrameCaps(model);
if (rewritten > 0 || windowed || layerNorms > 0 || edgeCaps) {
  const partial = `${dst}.partial-${process.pid}`;
  try {
    writeFileSync(partial, onnx.ModelProto.encode(model).finish());
    renameSync(partial, dst);
  } catch (err) {
    rmSync(partial, { force: true }); // a full disk must not leave half a model behind
    throw err;
  }
}
process.stdout.write(`${JSON.stringify({ rewritten, windowed, layerNorms, edgeCaps })}\n`);
