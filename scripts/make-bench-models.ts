/**
 * Makes the two benchmark models the performance issue asks for and that no public fixture has:
 * a 784-128-128-10 ReLU MLP on 28×28 inputs and a CNN with two ReLU convolutions (1→2→4
 * channels on 8×8, AvgPool, a linear layer). PyTorch is not available here, so they are trained
 * by this script (float64 Adam, seeded) and written as ONNX the way torch.onnx.export writes them
 * (Gemm/Conv/Relu/AveragePool/Flatten, opset 13, a dynamic batch axis), with a data.json in the
 * fixtures' format: calibration rows, held-out test rows with their true labels, and
 * onnxruntime's own outputs on those rows.
 *
 * Data: the 8×8 digits of test/fixtures/pt_cnn_digits (pixels / 16). Its 200 calibration rows carry
 * no labels, so they are labelled by that fixture's trained CNN (run in onnxruntime); the 100 test
 * rows keep their true labels and measure the result. The MLP sees the digits upscaled to 28×28
 * (bilinear), MNIST's size.
 *
 *   npx tsx scripts/make-bench-models.ts [out-dir]   (default bench/models)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { gaussian, mulberry32 } from '../runtime/backends/seeded-random';

const { onnx } = onnxProto;
const ROOT = join(import.meta.dirname, '..');
const SOURCE = join(ROOT, 'test', 'fixtures', 'pt_cnn_digits');
const OUT = process.argv[2] ?? join(ROOT, 'bench', 'models');

// ---- layers: forward keeps what backward needs; backward accumulates parameter gradients ----

interface Param {
  readonly name: string;
  readonly shape: readonly number[];
  readonly value: Float64Array;
  readonly grad: Float64Array;
}

interface Layer {
  readonly params: readonly Param[];
  forward(x: Float64Array): Float64Array;
  backward(dy: Float64Array): Float64Array;
}

function param(name: string, shape: number[], init: (i: number) => number): Param {
  const size = shape.reduce((a, b) => a * b, 1);
  return { name, shape, value: Float64Array.from({ length: size }, (_, i) => init(i)), grad: new Float64Array(size) };
}

/** y = W x + b, W stored [out, in] (Gemm with transB = 1, as torch exports Linear). */
function dense(name: string, inSize: number, outSize: number, normal: () => number): Layer {
  const w = param(`${name}.weight`, [outSize, inSize], () => normal() * Math.sqrt(2 / inSize));
  const b = param(`${name}.bias`, [outSize], () => 0);
  let x: Float64Array = new Float64Array(0);
  return {
    params: [w, b],
    forward(input) {
      x = input;
      const y = new Float64Array(outSize);
      for (let o = 0; o < outSize; o++) {
        let s = b.value[o]!;
        for (let i = 0; i < inSize; i++) s += w.value[o * inSize + i]! * input[i]!;
        y[o] = s;
      }
      return y;
    },
    backward(dy) {
      const dx = new Float64Array(inSize);
      for (let o = 0; o < outSize; o++) {
        const g = dy[o]!;
        b.grad[o]! += g;
        for (let i = 0; i < inSize; i++) {
          w.grad[o * inSize + i]! += g * x[i]!;
          dx[i]! += g * w.value[o * inSize + i]!;
        }
      }
      return dx;
    },
  };
}

function relu(): Layer {
  let x: Float64Array = new Float64Array(0);
  return {
    params: [],
    forward(input) {
      x = input;
      return input.map((v) => (v > 0 ? v : 0));
    },
    backward(dy) {
      return dy.map((g, i) => (x[i]! > 0 ? g : 0));
    },
  };
}

/** 3×3 convolution, stride 1, padding 1, on [channels, size, size]; weights [out, in, 3, 3]. */
function conv3(name: string, inC: number, outC: number, size: number, normal: () => number): Layer {
  const w = param(`${name}.weight`, [outC, inC, 3, 3], () => normal() * Math.sqrt(2 / (inC * 9)));
  const b = param(`${name}.bias`, [outC], () => 0);
  let x: Float64Array = new Float64Array(0);
  const at = (c: number, r: number, q: number): number => (c * size + r) * size + q;
  const taps = (visit: (o: number, i: number, r: number, q: number, k: number, rr: number, qq: number) => void): void => {
    for (let o = 0; o < outC; o++)
      for (let r = 0; r < size; r++)
        for (let q = 0; q < size; q++)
          for (let i = 0; i < inC; i++)
            for (let kr = 0; kr < 3; kr++)
              for (let kq = 0; kq < 3; kq++) {
                const rr = r + kr - 1;
                const qq = q + kq - 1;
                if (rr >= 0 && rr < size && qq >= 0 && qq < size) visit(o, i, r, q, ((o * inC + i) * 3 + kr) * 3 + kq, rr, qq);
              }
  };
  return {
    params: [w, b],
    forward(input) {
      x = input;
      const y = new Float64Array(outC * size * size);
      for (let o = 0; o < outC; o++) y.fill(b.value[o]!, o * size * size, (o + 1) * size * size);
      taps((o, i, r, q, k, rr, qq) => (y[at(o, r, q)]! += w.value[k]! * input[at(i, rr, qq)]!));
      return y;
    },
    backward(dy) {
      const dx = new Float64Array(inC * size * size);
      for (let o = 0; o < outC; o++) for (let p = 0; p < size * size; p++) b.grad[o]! += dy[o * size * size + p]!;
      taps((o, i, r, q, k, rr, qq) => {
        const g = dy[at(o, r, q)]!;
        w.grad[k]! += g * x[at(i, rr, qq)]!;
        dx[at(i, rr, qq)]! += g * w.value[k]!;
      });
      return dx;
    },
  };
}

/** 2×2 average pooling, stride 2, on [channels, size, size]. */
function avgPool2(channels: number, size: number): Layer {
  const half = size / 2;
  return {
    params: [],
    forward(input) {
      const y = new Float64Array(channels * half * half);
      for (let c = 0; c < channels; c++)
        for (let r = 0; r < size; r++)
          for (let q = 0; q < size; q++) y[(c * half + (r >> 1)) * half + (q >> 1)]! += input[(c * size + r) * size + q]! / 4;
      return y;
    },
    backward(dy) {
      const dx = new Float64Array(channels * size * size);
      for (let c = 0; c < channels; c++)
        for (let r = 0; r < size; r++)
          for (let q = 0; q < size; q++) dx[(c * size + r) * size + q] = dy[(c * half + (r >> 1)) * half + (q >> 1)]! / 4;
      return dx;
    },
  };
}

function forward(layers: readonly Layer[], x: Float64Array): Float64Array {
  return layers.reduce((v, l) => l.forward(v), x);
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** Softmax cross-entropy, Adam (lr 3e-3), minibatches of 16, a fixed shuffle per epoch. */
function train(layers: readonly Layer[], rows: readonly Float64Array[], labels: readonly number[], epochs: number, seed: number): void {
  const params = layers.flatMap((l) => l.params);
  const m = params.map((p) => new Float64Array(p.value.length));
  const v = params.map((p) => new Float64Array(p.value.length));
  const unit = mulberry32(seed);
  const [lr, b1, b2, eps, batch] = [3e-3, 0.9, 0.999, 1e-8, 16];
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = rows.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(unit() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let start = 0; start < order.length; start += batch) {
      for (const p of params) p.grad.fill(0);
      const idx = order.slice(start, start + batch);
      for (const k of idx) {
        const logits = forward(layers, rows[k]!);
        const top = Math.max(...logits);
        const e = logits.map((z) => Math.exp(z - top));
        const sum = e.reduce((a, b) => a + b, 0);
        let dy: Float64Array = e.map((z, c) => (z / sum - (c === labels[k] ? 1 : 0)) / idx.length);
        for (let l = layers.length - 1; l >= 0; l--) dy = layers[l]!.backward(dy);
      }
      step++;
      params.forEach((p, pi) => {
        for (let i = 0; i < p.value.length; i++) {
          const g = p.grad[i]!;
          m[pi]![i] = b1 * m[pi]![i]! + (1 - b1) * g;
          v[pi]![i] = b2 * v[pi]![i]! + (1 - b2) * g * g;
          const mh = m[pi]![i]! / (1 - b1 ** step);
          const vh = v[pi]![i]! / (1 - b2 ** step);
          p.value[i]! -= (lr * mh) / (Math.sqrt(vh) + eps);
        }
      });
    }
  }
}

// ---- ONNX ----

type OnnxNode = { opType: string; input: string[]; output: string[]; attribute?: onnxProto.onnx.IAttributeProto[] };

const ints = (name: string, values: number[]): onnxProto.onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
const int = (name: string, value: number): onnxProto.onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });

function onnxModel(name: string, inputShape: number[], nodes: OnnxNode[], params: readonly Param[]): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const shape = (dims: (number | string)[]) => ({ dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'deeppowers scripts/make-bench-models.ts',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name,
      node: nodes.map((n, i) => ({ ...n, name: `${n.opType}_${i}` })),
      initializer: params.map((p) => ({ name: p.name, dataType: FLOAT, dims: [...p.shape], floatData: Array.from(p.value, (v) => Math.fround(v)) })),
      input: [{ name: 'input', type: { tensorType: { elemType: FLOAT, shape: shape(['batch', ...inputShape]) } } }],
      output: [{ name: 'output', type: { tensorType: { elemType: FLOAT, shape: shape(['batch', 10]) } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

async function runOrt(bytes: Uint8Array, rows: readonly Float64Array[], inputShape: number[]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(bytes);
  const size = inputShape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(rows.length * size);
  rows.forEach((r, i) => data.set(r, i * size));
  const out = await session.run({ input: new ort.Tensor('float32', data, [rows.length, ...inputShape]) });
  const values = out['output']!.data as Float32Array;
  return rows.map((_, i) => Array.from(values.subarray(i * 10, i * 10 + 10)));
}

/** Bilinear 8×8 → 28×28 (corners aligned). */
function upscale28(pixels: Float64Array): Float64Array {
  const out = new Float64Array(28 * 28);
  for (let r = 0; r < 28; r++)
    for (let q = 0; q < 28; q++) {
      const y = (r * 7) / 27;
      const x = (q * 7) / 27;
      const y0 = Math.min(6, Math.floor(y));
      const x0 = Math.min(6, Math.floor(x));
      const fy = y - y0;
      const fx = x - x0;
      const p = (rr: number, qq: number) => pixels[rr * 8 + qq]!;
      out[r * 28 + q] = (1 - fy) * ((1 - fx) * p(y0, x0) + fx * p(y0, x0 + 1)) + fy * ((1 - fx) * p(y0 + 1, x0) + fx * p(y0 + 1, x0 + 1));
    }
  return out;
}

/** A float32 value in 9 significant digits: read back and rounded to float32, the same value. */
const float32Text = (row: Float64Array): number[] => Array.from(row, (v) => Number(v.toPrecision(9)));

/** float32-rounded rows, as the ONNX input sees them. */
const f32 = (rows: Float64Array[]): Float64Array[] => rows.map((r) => r.map(Math.fround));

interface Made {
  readonly name: string;
  readonly description: string;
  readonly inputShape: number[];
  readonly layers: readonly Layer[];
  readonly nodes: OnnxNode[];
  readonly calibration: Float64Array[];
  readonly test: Float64Array[];
  readonly epochs: number;
}

async function write(made: Made, labels: readonly number[], testLabels: readonly number[]): Promise<void> {
  train(made.layers, made.calibration, labels, made.epochs, 1);
  const bytes = onnxModel(made.name, made.inputShape, made.nodes, made.layers.flatMap((l) => l.params));
  const expected = await runOrt(bytes, made.test, made.inputShape);
  const accuracy = expected.filter((o, i) => argmax(o) === testLabels[i]).length / testLabels.length;
  const dir = join(OUT, made.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), bytes);
  const data = {
    name: made.name,
    source: 'scripts/make-bench-models.ts',
    model: made.description,
    task: 'classification',
    input_name: 'input',
    input_dtype: 'float32',
    input_shape: made.inputShape,
    calibration: made.calibration.map(float32Text),
    test_inputs: made.test.map(float32Text),
    test_labels: [...testLabels],
    expected: { output: expected, label_derived: expected.map(argmax) },
    compare: [{ output: 'output', expected: 'output', kind: 'close' }],
    metrics: { test_accuracy: accuracy },
    output_names: ['output'],
  };
  writeFileSync(join(dir, 'data.json'), `${JSON.stringify(data)}\n`);
  writeFileSync(
    join(dir, 'README.md'),
    `# ${made.name}\n\n${made.description}\n\nMade by \`npx tsx scripts/make-bench-models.ts\` (deterministic: seeded initialisation and shuffles). ` +
      `Trained for ${made.epochs} epochs (Adam, lr 3e-3, batches of 16, softmax cross-entropy, float64) on the 200 calibration rows of ` +
      `test/fixtures/pt_cnn_digits (8×8 digits, pixels / 16), labelled by that fixture's trained CNN in onnxruntime; ` +
      `the 100 test rows keep their true labels. Test accuracy (onnxruntime, true labels): ${(accuracy * 100).toFixed(0)}%.\n` +
      `data.json has the fixtures' format; expected.output is onnxruntime's output on the float32 test rows.\n`,
  );
  console.log(`${made.name}: test accuracy ${(accuracy * 100).toFixed(0)}% → ${dir}`);
}

async function main(): Promise<void> {
  const source = JSON.parse(readFileSync(join(SOURCE, 'data.json'), 'utf8')) as { calibration: number[][][][]; test_inputs: number[][][][]; test_labels: number[] };
  const flat = (rows: number[][][][]) => rows.map((r) => Float64Array.from(r.flat(2)));
  const calibration8 = f32(flat(source.calibration));
  const test8 = f32(flat(source.test_inputs));
  const teacher = await runOrt(readFileSync(join(SOURCE, 'model.onnx')), calibration8, [1, 8, 8]);
  const labels = teacher.map(argmax);

  const normal = gaussian(mulberry32(7));
  await write(
    {
      name: 'bench_mlp784_digits28',
      description: 'A 784-128-128-10 ReLU MLP (Linear, ReLU, Linear, ReLU, Linear) on 28×28 digits: the 8×8 digits upscaled bilinearly, flattened to 784.',
      inputShape: [784],
      layers: [dense('fc1', 784, 128, normal), relu(), dense('fc2', 128, 128, normal), relu(), dense('fc3', 128, 10, normal)],
      nodes: [
        { opType: 'Gemm', input: ['input', 'fc1.weight', 'fc1.bias'], output: ['h1'], attribute: [int('transB', 1)] },
        { opType: 'Relu', input: ['h1'], output: ['r1'] },
        { opType: 'Gemm', input: ['r1', 'fc2.weight', 'fc2.bias'], output: ['h2'], attribute: [int('transB', 1)] },
        { opType: 'Relu', input: ['h2'], output: ['r2'] },
        { opType: 'Gemm', input: ['r2', 'fc3.weight', 'fc3.bias'], output: ['output'], attribute: [int('transB', 1)] },
      ],
      calibration: f32(calibration8.map(upscale28)),
      test: f32(test8.map(upscale28)),
      epochs: 40,
    },
    labels,
    source.test_labels,
  );
  await write(
    {
      name: 'bench_cnn2relu_digits',
      description: 'A CNN with two ReLU convolutions on 8×8 digits: Conv 1→2 (3×3, padding 1), ReLU, Conv 2→4 (3×3, padding 1), ReLU, AvgPool 2×2, Flatten, Linear 64→10.',
      inputShape: [1, 8, 8],
      layers: [conv3('conv1', 1, 2, 8, normal), relu(), conv3('conv2', 2, 4, 8, normal), relu(), avgPool2(4, 8), dense('fc', 64, 10, normal)],
      nodes: [
        { opType: 'Conv', input: ['input', 'conv1.weight', 'conv1.bias'], output: ['c1'], attribute: [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])] },
        { opType: 'Relu', input: ['c1'], output: ['r1'] },
        { opType: 'Conv', input: ['r1', 'conv2.weight', 'conv2.bias'], output: ['c2'], attribute: [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])] },
        { opType: 'Relu', input: ['c2'], output: ['r2'] },
        { opType: 'AveragePool', input: ['r2'], output: ['p'], attribute: [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])] },
        { opType: 'Flatten', input: ['p'], output: ['f'], attribute: [int('axis', 1)] },
        { opType: 'Gemm', input: ['f', 'fc.weight', 'fc.bias'], output: ['output'], attribute: [int('transB', 1)] },
      ],
      calibration: calibration8,
      test: test8,
      epochs: 60,
    },
    labels,
    source.test_labels,
  );
}

await main();
